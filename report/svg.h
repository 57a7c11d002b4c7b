// A small SVG plotting kit for the report: axes (linear, log or categorical)
// with "nice" ticks, markers of distinct shapes, polylines, step lines,
// arrows and a legend. A Plot collects primitives in data coordinates and
// renders one self-contained <svg> (its own <style>, no scripts, no fonts
// beyond the generic sans-serif), so the same text works inline in the HTML
// report and as a standalone .svg file. Value types; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fnas::report {

// --- Text helpers ---

// Escapes &, <, >, " and ' for XML/HTML text and attribute values.
std::string Escape(const std::string& text);
// `v` with `digits` significant digits, without trailing zeros ("0.0123",
// "1.5", "120"); "n/a" when not finite.
std::string Num(double v, int digits = 3);
// A fraction in [0, 1] as a percentage with one decimal ("84.3 %").
std::string Pct(double fraction);
// MACs in millions with 3 significant digits ("1.23 M").
std::string MMacs(int64_t macs);

// --- Axes ---

enum class Scale { kLinear, kLog, kCategorical };

struct Axis {
  Axis() = default;
  Axis(std::string label, Scale scale = Scale::kLinear, std::vector<std::string> categories = {})
      : label(std::move(label)), scale(scale), categories(std::move(categories)) {}

  std::string label;  // with its unit: "conv MACs (millions, log scale)"
  Scale scale = Scale::kLinear;
  std::vector<std::string> categories;  // kCategorical: the tick labels, at x = 0, 1, ...
  // Domain; unset ends are fitted to the data (with a margin).
  std::optional<double> min, max;
  bool include_zero = false;  // linear: extend the domain to 0
  bool integer = false;       // linear: ticks only at integers (epochs)
};

// "Nice" linear ticks (steps 1, 2, 2.5 or 5 x 10^k) covering [lo, hi], about
// `target` of them, all inside [lo, hi].
std::vector<double> LinearTicks(double lo, double hi, int target = 6);
// Log ticks inside [lo, hi] (lo > 0): the powers of ten, with 2 and 5 times
// them when the range spans fewer than three decades, with 2..9 when it spans
// less than one.
std::vector<double> LogTicks(double lo, double hi);
// A tick label: short and exact for nice values ("0.5", "20", "1e-05").
std::string TickLabel(double v);

// --- Marks ---

enum class Shape { kCircle, kSquare, kTriangle, kDiamond, kTriangleDown, kPlus, kCross, kStar };

struct Mark {
  Mark() = default;
  Mark(std::string color, Shape shape, bool hollow = false, double size = 4)
      : color(std::move(color)), shape(shape), hollow(hollow), size(size) {}

  std::string color = "#0072B2";
  Shape shape = Shape::kCircle;
  bool hollow = false;  // outline only (white inside)
  double size = 4;      // radius-like size in pixels
  std::string dash;     // lines: stroke-dasharray ("" = solid)
  double width = 1.5;   // lines: stroke width
  double opacity = 1;   // lines: stroke opacity
};

// The Okabe-Ito colour-blind-safe palette (without its yellow) and the
// shapes, cycled by index, so a series stays distinct in greyscale.
const std::string& PaletteColor(size_t i);
Shape PaletteShape(size_t i);

// An SVG path `d` of a marker centred on (x, y) in pixels.
std::string MarkerPath(Shape shape, double x, double y, double size);

class Plot {
 public:
  // `id` becomes the <svg id> (and the standalone file name).
  Plot(std::string id, std::string title, Axis x, Axis y, int width = 560, int height = 360);

  // A data point. A non-finite y is drawn in a strip under the x axis labelled
  // `missing_label` (a trial without the metric). `tooltip` becomes a <title>;
  // `cls` a class on the point's <g> (the report's tests count class "pt").
  void AddPoint(double x, double y, const Mark& mark, const std::string& tooltip,
                const std::string& cls = "pt");
  // A polyline through the points (non-finite points break the line).
  void AddLine(std::vector<std::pair<double, double>> points, const Mark& mark,
               const std::string& tooltip = "");
  // The attainment step line of a front (x ascending, y ascending), extended to
  // the right edge of the plot at the last y.
  void AddFrontStep(const std::vector<std::pair<double, double>>& front, const Mark& mark,
                    const std::string& tooltip = "");
  // An arrow from (x0, y0) to (x1, y1).
  void AddArrow(double x0, double y0, double x1, double y1, const Mark& mark,
                const std::string& tooltip = "");
  // A small text label beside the point (x, y) (a non-finite y: in the strip).
  void AddLabel(double x, double y, const std::string& text) { labels_.push_back({x, y, text}); }
  // A vertical guide line at x with a short label at its top.
  void AddGuide(double x, const std::string& label);
  // A legend entry: the marker, a line sample, or both.
  enum class LegendKind { kMarker, kLine, kBoth };
  void AddLegend(const std::string& label, const Mark& mark, LegendKind kind = LegendKind::kMarker);
  // Text shown in the middle of the plot when it has no data.
  void SetEmptyNote(const std::string& note) { empty_note_ = note; }
  void SetMissingLabel(const std::string& label) { missing_label_ = label; }

  const std::string& id() const { return id_; }
  int points() const { return points_; }
  // The whole <svg> element (xmlns included, usable as a standalone file).
  std::string Svg() const;

 private:
  struct Prim {
    enum Kind { kPoint, kLine, kStep, kArrow } kind;
    std::vector<std::pair<double, double>> xy;
    Mark mark;
    std::string tooltip, cls;
  };
  struct Legend {
    std::string label;
    Mark mark;
    LegendKind kind;
  };
  struct Domain {
    double lo, hi;
  };
  Domain Fit(const Axis& axis, bool is_x) const;

  std::string id_, title_;
  Axis x_, y_;
  int width_, height_;
  std::vector<Prim> prims_;
  std::vector<std::pair<double, std::string>> guides_;
  struct Label {
    double x, y;
    std::string text;
  };
  std::vector<Label> labels_;
  std::vector<Legend> legend_;
  std::string empty_note_ = "no data yet";
  std::string missing_label_ = "n/a";
  int points_ = 0;
  bool has_missing_ = false;
};

}  // namespace fnas::report
