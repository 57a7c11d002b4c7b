#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace fnas::report {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Pixel coordinate with one decimal, without a trailing ".0".
std::string Px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

bool Positive(double v) { return std::isfinite(v) && v > 0; }

// Layout constants (pixels).
constexpr int kLeft = 64, kRight = 16, kTop = 30;
constexpr int kStrip = 22;  // height of the "missing value" strip under the plot area
constexpr int kLegendRow = 18;

// Rough width of a label in the report's 12 px sans-serif.
double TextWidth(const std::string& s) { return 6.6 * static_cast<double>(s.size()); }

bool IsStroked(Shape s) { return s == Shape::kPlus || s == Shape::kCross; }

std::string MarkAttrs(const Mark& m) {
  if (IsStroked(m.shape)) return "fill=\"none\" stroke=\"" + m.color + "\" stroke-width=\"2\"";
  return "fill=\"" + (m.hollow ? std::string("#fff") : m.color) + "\" stroke=\"" + m.color +
         "\" stroke-width=\"1.3\"";
}

std::string LineAttrs(const Mark& m) {
  std::string a = "fill=\"none\" stroke=\"" + m.color + "\" stroke-width=\"" + Px(m.width) + "\"";
  if (!m.dash.empty()) a += " stroke-dasharray=\"" + m.dash + "\"";
  if (m.opacity < 1) a += " stroke-opacity=\"" + Num(m.opacity, 2) + "\"";
  return a;
}

std::string TitleTag(const std::string& tooltip) {
  return tooltip.empty() ? "" : "<title>" + Escape(tooltip) + "</title>";
}

}  // namespace

std::string Escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string Pct(double fraction) {
  if (!std::isfinite(fraction)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f %%", fraction * 100);
  return buf;
}

std::string MMacs(int64_t macs) { return Num(static_cast<double>(macs) / 1e6, 3) + " M"; }

std::vector<double> LinearTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  const double eps = step * 1e-9;
  for (double k = std::ceil((lo - eps) / step);; ++k) {
    double v = k * step;
    if (v > hi + eps) break;
    char buf[32];  // 3 x 0.2 is 0.6000000000000001: keep the tick's nice decimal value
    std::snprintf(buf, sizeof buf, "%.12g", v);
    v = std::strtod(buf, nullptr);
    if (std::fabs(v) < eps) v = 0;
    ticks.push_back(v);
  }
  return ticks;
}

std::vector<double> LogTicks(double lo, double hi) {
  std::vector<double> ticks;
  if (!(lo > 0) || !(hi > lo)) return ticks;
  const double span = std::log10(hi / lo);
  auto collect = [&](const std::vector<int>& mult) {
    std::vector<double> out;
    for (int d = static_cast<int>(std::floor(std::log10(lo))) - 1;
         d <= static_cast<int>(std::ceil(std::log10(hi))); ++d) {
      for (int m : mult) {
        const double v = m * std::pow(10.0, d);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
      }
    }
    return out;
  };
  if (span >= 3) ticks = collect({1});
  if (ticks.size() < 3) ticks = collect({1, 2, 5});
  if (ticks.size() < 3) ticks = collect({1, 2, 3, 5, 7});
  if (ticks.size() < 2) ticks = LinearTicks(lo, hi, 4);
  return ticks;
}

std::string TickLabel(double v) {
  if (v == 0) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

const std::string& PaletteColor(size_t i) {
  static const std::vector<std::string> colors = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                  "#E69F00", "#56B4E9", "#000000", "#999999"};
  return colors[i % colors.size()];
}

Shape PaletteShape(size_t i) {
  static const Shape shapes[] = {Shape::kCircle,  Shape::kSquare,       Shape::kTriangle,
                                 Shape::kDiamond, Shape::kTriangleDown, Shape::kStar,
                                 Shape::kPlus,    Shape::kCross};
  return shapes[i % 8];
}

std::string MarkerPath(Shape shape, double x, double y, double r) {
  std::ostringstream d;
  switch (shape) {
    case Shape::kCircle:
      d << "M" << Px(x - r) << " " << Px(y) << "a" << Px(r) << " " << Px(r) << " 0 1 0 "
        << Px(2 * r) << " 0a" << Px(r) << " " << Px(r) << " 0 1 0 " << Px(-2 * r) << " 0Z";
      break;
    case Shape::kSquare: {
      const double s = 0.9 * r;
      d << "M" << Px(x - s) << " " << Px(y - s) << "h" << Px(2 * s) << "v" << Px(2 * s) << "h"
        << Px(-2 * s) << "Z";
      break;
    }
    case Shape::kTriangle:
    case Shape::kTriangleDown: {
      const double k = shape == Shape::kTriangle ? 1 : -1;
      d << "M" << Px(x) << " " << Px(y - k * 1.25 * r) << "L" << Px(x + 1.1 * r) << " "
        << Px(y + k * 0.75 * r) << "L" << Px(x - 1.1 * r) << " " << Px(y + k * 0.75 * r) << "Z";
      break;
    }
    case Shape::kDiamond:
      d << "M" << Px(x) << " " << Px(y - 1.3 * r) << "L" << Px(x + 1.3 * r) << " " << Px(y) << "L"
        << Px(x) << " " << Px(y + 1.3 * r) << "L" << Px(x - 1.3 * r) << " " << Px(y) << "Z";
      break;
    case Shape::kPlus:
      d << "M" << Px(x - r) << " " << Px(y) << "H" << Px(x + r) << "M" << Px(x) << " " << Px(y - r)
        << "V" << Px(y + r);
      break;
    case Shape::kCross:
      d << "M" << Px(x - r) << " " << Px(y - r) << "L" << Px(x + r) << " " << Px(y + r) << "M"
        << Px(x - r) << " " << Px(y + r) << "L" << Px(x + r) << " " << Px(y - r);
      break;
    case Shape::kStar:
      for (int i = 0; i < 10; ++i) {
        const double a = -kPi / 2 + i * kPi / 5;
        const double rr = (i % 2 == 0 ? 1.45 : 0.6) * r;
        d << (i == 0 ? "M" : "L") << Px(x + rr * std::cos(a)) << " " << Px(y + rr * std::sin(a));
      }
      d << "Z";
      break;
  }
  return d.str();
}

Plot::Plot(std::string id, std::string title, Axis x, Axis y, int width, int height)
    : id_(std::move(id)),
      title_(std::move(title)),
      x_(std::move(x)),
      y_(std::move(y)),
      width_(width),
      height_(height) {}

void Plot::AddPoint(double x, double y, const Mark& mark, const std::string& tooltip,
                    const std::string& cls) {
  const bool missing = y_.scale == Scale::kLog ? !Positive(y) : !std::isfinite(y);
  if (missing) has_missing_ = true;
  prims_.push_back({Prim::kPoint, {{x, y}}, mark, tooltip, cls});
  ++points_;
}

void Plot::AddLine(std::vector<std::pair<double, double>> points, const Mark& mark,
                   const std::string& tooltip) {
  prims_.push_back({Prim::kLine, std::move(points), mark, tooltip, ""});
}

void Plot::AddFrontStep(const std::vector<std::pair<double, double>>& front, const Mark& mark,
                        const std::string& tooltip) {
  if (!front.empty()) prims_.push_back({Prim::kStep, front, mark, tooltip, ""});
}

void Plot::AddArrow(double x0, double y0, double x1, double y1, const Mark& mark,
                    const std::string& tooltip) {
  prims_.push_back({Prim::kArrow, {{x0, y0}, {x1, y1}}, mark, tooltip, ""});
}

void Plot::AddGuide(double x, const std::string& label) { guides_.push_back({x, label}); }

void Plot::AddLegend(const std::string& label, const Mark& mark, LegendKind kind) {
  legend_.push_back({label, mark, kind});
}

Plot::Domain Plot::Fit(const Axis& axis, bool is_x) const {
  if (axis.scale == Scale::kCategorical) {
    return {-0.5, std::max<double>(0.5, static_cast<double>(axis.categories.size()) - 0.5)};
  }
  const bool log = axis.scale == Scale::kLog;
  double lo = INFINITY, hi = -INFINITY;
  auto see = [&](double v) {
    if (log ? !Positive(v) : !std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  };
  for (const auto& p : prims_) {
    for (const auto& xy : p.xy) see(is_x ? xy.first : xy.second);
  }
  if (is_x) {
    for (const auto& g : guides_) see(g.first);
  }
  if (axis.include_zero && !log) see(0);
  if (!std::isfinite(lo)) {
    lo = log ? 1 : 0;
    hi = log ? 10 : 1;
  }
  if (log) {
    if (hi / lo < 1.5) {
      lo /= 1.5;
      hi *= 1.5;
    }
    const double pad = std::pow(hi / lo, 0.05);
    lo /= pad;
    hi *= pad;
  } else {
    if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
      const double w = hi == 0 ? 1 : std::fabs(hi) * 0.1;
      lo -= w;
      hi += w;
    }
    const double pad = (hi - lo) * 0.05;
    const bool zero_lo = axis.include_zero && lo == 0;
    if (!zero_lo) lo -= pad;
    hi += pad;
  }
  if (axis.min) lo = *axis.min;
  if (axis.max) hi = *axis.max;
  return {lo, hi};
}

std::string Plot::Svg() const {
  const bool categorical = x_.scale == Scale::kCategorical;
  // Room under the axis for the tick labels (rotated 40 degrees when categorical).
  double longest = 0;
  for (const auto& c : x_.categories) longest = std::max(longest, TextWidth(c));
  const int bottom_ticks = categorical ? static_cast<int>(longest * 0.65) + 34 : 34;
  const int strip = has_missing_ ? kStrip : 0;
  const double pl = kLeft, pr = width_ - kRight, pt = kTop;
  const double pb = height_ - bottom_ticks - 20 - strip;  // plot area bottom
  const Domain dx = Fit(x_, true), dy = Fit(y_, false);
  const bool xlog = x_.scale == Scale::kLog, ylog = y_.scale == Scale::kLog;
  auto X = [&](double v) {
    const double t =
        xlog ? std::log10(v / dx.lo) / std::log10(dx.hi / dx.lo) : (v - dx.lo) / (dx.hi - dx.lo);
    return pl + t * (pr - pl);
  };
  auto Y = [&](double v) {
    const double t =
        ylog ? std::log10(v / dy.lo) / std::log10(dy.hi / dy.lo) : (v - dy.lo) / (dy.hi - dy.lo);
    return pb - t * (pb - pt);
  };
  auto x_ok = [&](double v) { return xlog ? Positive(v) : std::isfinite(v); };
  auto y_ok = [&](double v) { return ylog ? Positive(v) : std::isfinite(v); };
  const double strip_y = pb + kStrip / 2.0 + 2;

  // Legend: a grid of equal columns under the plot (it sets the final height).
  std::vector<std::pair<double, double>> legend_pos;
  double item = 0;
  for (const auto& l : legend_) item = std::max(item, 34 + TextWidth(l.label) + 16);
  const int columns = std::max(1, static_cast<int>((width_ - pl) / std::max(item, 1.0)));
  const int rows = static_cast<int>((legend_.size() + columns - 1) / columns);
  for (size_t i = 0; i < legend_.size(); ++i) {
    legend_pos.push_back({pl + static_cast<double>(i % columns) * item,
                          static_cast<double>(i / columns) * kLegendRow});
  }
  const double ly = height_ + 2;
  const int total_height = height_ + rows * kLegendRow + (rows > 0 ? 4 : 0);

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" << Escape(id_) << "\" class=\"plot\" "
    << "viewBox=\"0 0 " << width_ << " " << total_height << "\" width=\"" << width_
    << "\" height=\"" << total_height << "\" role=\"img\" aria-label=\"" << Escape(title_) << "\">";
  s << "<style>text{font-family:sans-serif;font-size:12px;fill:#222}.ttl{font-size:13px;"
       "font-weight:bold}.grid{stroke:#e6e6e6}.axis{stroke:#555;fill:none}.tick{font-size:11px;"
       "fill:#444}.note{fill:#777;font-style:italic}"
       ".lbl{font-size:10.5px;fill:#333}"
       "</style>";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>";
  s << "<text class=\"ttl\" x=\"" << Px(pl) << "\" y=\"18\">" << Escape(title_) << "</text>";

  // Grid, ticks and labels.
  std::vector<double> xt, yt;
  if (categorical) {
    for (size_t i = 0; i < x_.categories.size(); ++i) xt.push_back(static_cast<double>(i));
  } else {
    xt = xlog ? LogTicks(dx.lo, dx.hi) : LinearTicks(dx.lo, dx.hi, 7);
    if (x_.integer) {
      xt.erase(std::remove_if(xt.begin(), xt.end(), [](double v) { return v != std::round(v); }),
               xt.end());
    }
  }
  yt = ylog ? LogTicks(dy.lo, dy.hi) : LinearTicks(dy.lo, dy.hi, 6);
  s << "<g class=\"grid\">";
  for (double v : xt) s << "<path d=\"M" << Px(X(v)) << " " << Px(pt) << "V" << Px(pb) << "\"/>";
  for (double v : yt) s << "<path d=\"M" << Px(pl) << " " << Px(Y(v)) << "H" << Px(pr) << "\"/>";
  s << "</g>";
  s << "<path class=\"axis\" d=\"M" << Px(pl) << " " << Px(pt) << "V" << Px(pb) << "H" << Px(pr)
    << "\"/>";
  const double tick_y = pb + strip;
  for (size_t i = 0; i < xt.size(); ++i) {
    const double x = X(xt[i]);
    s << "<path class=\"axis\" d=\"M" << Px(x) << " " << Px(tick_y) << "v4\"/>";
    if (categorical) {
      s << "<text class=\"tick\" text-anchor=\"end\" transform=\"translate(" << Px(x + 3) << " "
        << Px(tick_y + 12) << ") rotate(-40)\">" << Escape(x_.categories[i]) << "</text>";
    } else {
      s << "<text class=\"tick\" text-anchor=\"middle\" x=\"" << Px(x) << "\" y=\""
        << Px(tick_y + 16) << "\">" << TickLabel(xt[i]) << "</text>";
    }
  }
  for (double v : yt) {
    s << "<path class=\"axis\" d=\"M" << Px(pl - 4) << " " << Px(Y(v)) << "h4\"/>";
    s << "<text class=\"tick\" text-anchor=\"end\" x=\"" << Px(pl - 7) << "\" y=\"" << Px(Y(v) + 4)
      << "\">" << TickLabel(v) << "</text>";
  }
  if (strip) {
    s << "<path class=\"grid\" stroke-dasharray=\"3 3\" d=\"M" << Px(pl) << " " << Px(pb + kStrip)
      << "H" << Px(pr) << "\"/>";
    s << "<text class=\"tick\" text-anchor=\"end\" x=\"" << Px(pl - 7) << "\" y=\""
      << Px(strip_y + 4) << "\">" << Escape(missing_label_) << "</text>";
  }
  s << "<text text-anchor=\"middle\" x=\"" << Px((pl + pr) / 2) << "\" y=\""
    << Px(tick_y + bottom_ticks - 2) << "\">" << Escape(x_.label) << "</text>";
  s << "<text text-anchor=\"middle\" transform=\"translate(14 " << Px((pt + pb) / 2)
    << ") rotate(-90)\">" << Escape(y_.label) << "</text>";

  for (const auto& g : guides_) {
    if (!x_ok(g.first)) continue;
    s << "<path stroke=\"#888\" stroke-dasharray=\"2 3\" d=\"M" << Px(X(g.first)) << " " << Px(pt)
      << "V" << Px(pb) << "\"/><text class=\"tick\" x=\"" << Px(X(g.first) + 3) << "\" y=\""
      << Px(pt + 11) << "\">" << Escape(g.second) << "</text>";
  }

  // Markers are defined once (<defs>) and placed with <use>: a large study
  // has thousands of points, and this keeps each one short.
  std::vector<std::string> marker_keys;
  std::string defs;
  auto marker_ref = [&](const Mark& m) {
    const std::string key = MarkAttrs(m) + MarkerPath(m.shape, 0, 0, m.size);
    size_t k = std::find(marker_keys.begin(), marker_keys.end(), key) - marker_keys.begin();
    if (k == marker_keys.size()) {
      marker_keys.push_back(key);
      defs += "<path id=\"" + Escape(id_) + "-m" + std::to_string(k) + "\" " + MarkAttrs(m) +
              " d=\"" + MarkerPath(m.shape, 0, 0, m.size) + "\"/>";
    }
    return "#" + Escape(id_) + "-m" + std::to_string(k);
  };
  for (const auto& p : prims_) {
    if (p.kind == Prim::kPoint) marker_ref(p.mark);
  }
  if (!defs.empty()) s << "<defs>" << defs << "</defs>";

  // Polylines, grouped by style (one <g> carries the stroke of many lines).
  std::vector<std::pair<std::string, std::string>> line_groups;  // style -> paths
  for (const auto& p : prims_) {
    if (p.kind != Prim::kLine) continue;
    std::string d;
    bool pen = false;
    for (const auto& xy : p.xy) {
      if (!x_ok(xy.first) || !y_ok(xy.second)) {
        pen = false;
        continue;
      }
      d += (pen ? "L" : "M") + Px(X(xy.first)) + " " + Px(Y(xy.second));
      pen = true;
    }
    if (d.empty()) continue;
    const std::string style = LineAttrs(p.mark);
    auto it = std::find_if(line_groups.begin(), line_groups.end(),
                           [&](const auto& g) { return g.first == style; });
    if (it == line_groups.end()) it = line_groups.insert(line_groups.end(), {style, ""});
    it->second += "<path class=\"ln\" d=\"" + d + "\">" + TitleTag(p.tooltip) + "</path>";
  }
  for (const auto& g : line_groups) s << "<g " << g.first << ">" << g.second << "</g>";

  // Steps and arrows, then points on top.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& p : prims_) {
      if ((p.kind == Prim::kPoint) != (pass == 1)) continue;
      switch (p.kind) {
        case Prim::kLine:
          break;  // drawn above, grouped by style
        case Prim::kStep: {
          std::string d;
          double last_y = 0;
          for (const auto& xy : p.xy) {
            if (!x_ok(xy.first) || !y_ok(xy.second)) continue;
            const double x = X(xy.first), y = Y(xy.second);
            d += d.empty() ? "M" + Px(x) + " " + Px(y) : "H" + Px(x) + "V" + Px(y);
            last_y = y;
          }
          if (d.empty()) break;
          (void)last_y;
          d += "H" + Px(pr);
          s << "<path class=\"front\" " << LineAttrs(p.mark) << " d=\"" << d << "\">"
            << TitleTag(p.tooltip) << "</path>";
          break;
        }
        case Prim::kArrow: {
          const auto& a = p.xy[0];
          const auto& b = p.xy[1];
          if (!x_ok(a.first) || !y_ok(a.second) || !x_ok(b.first) || !y_ok(b.second)) break;
          const double x0 = X(a.first), y0 = Y(a.second), x1 = X(b.first), y1 = Y(b.second);
          const double len = std::hypot(x1 - x0, y1 - y0);
          if (len < 1e-6) break;
          const double ux = (x1 - x0) / len, uy = (y1 - y0) / len;
          const double gap = std::min(len / 3, 6.0);  // stop short of the child's marker
          const double ex = x1 - ux * gap, ey = y1 - uy * gap;
          const double h = 7, w = 3.5;  // arrowhead length and half width
          const double bx = ex - ux * h, by = ey - uy * h;
          s << "<g class=\"arrow\">" << TitleTag(p.tooltip) << "<path " << LineAttrs(p.mark)
            << " d=\"M" << Px(x0) << " " << Px(y0) << "L" << Px(bx) << " " << Px(by)
            << "\"/><path fill=\"" << p.mark.color << "\" d=\"M" << Px(ex) << " " << Px(ey) << "L"
            << Px(bx - uy * w) << " " << Px(by + ux * w) << "L" << Px(bx + uy * w) << " "
            << Px(by - ux * w) << "Z\"/></g>";
          break;
        }
        case Prim::kPoint: {
          const auto& xy = p.xy[0];
          if (!x_ok(xy.first)) break;
          const double y = y_ok(xy.second) ? Y(xy.second) : strip_y;
          s << "<g class=\"" << Escape(p.cls) << "\">" << TitleTag(p.tooltip) << "<use href=\""
            << marker_ref(p.mark) << "\" x=\"" << Px(X(xy.first)) << "\" y=\"" << Px(y)
            << "\"/></g>";
          break;
        }
      }
    }
  }
  for (const auto& l : labels_) {
    if (!x_ok(l.x)) continue;
    const double y = y_ok(l.y) ? Y(l.y) : strip_y;
    const double x = X(l.x);
    const bool left = x > pr - TextWidth(l.text) * 0.85 - 8;  // keep it inside the plot
    s << "<text class=\"lbl\" x=\"" << Px(left ? x - 7 : x + 7) << "\" y=\"" << Px(y - 5) << "\""
      << (left ? " text-anchor=\"end\"" : "") << ">" << Escape(l.text) << "</text>";
  }
  if (prims_.empty()) {
    s << "<text class=\"note\" text-anchor=\"middle\" x=\"" << Px((pl + pr) / 2) << "\" y=\""
      << Px((pt + pb) / 2) << "\">" << Escape(empty_note_) << "</text>";
  }

  // Legend.
  for (size_t i = 0; i < legend_.size(); ++i) {
    const auto& l = legend_[i];
    const double x = legend_pos[i].first, y = ly + legend_pos[i].second;
    s << "<g class=\"legend\">";
    if (l.kind != LegendKind::kMarker) {
      s << "<path " << LineAttrs(l.mark) << " d=\"M" << Px(x) << " " << Px(y) << "h26\"/>";
    }
    if (l.kind != LegendKind::kLine) {
      s << "<path " << MarkAttrs(l.mark) << " d=\""
        << MarkerPath(l.mark.shape, x + 13, y, l.mark.size) << "\"/>";
    }
    s << "<text x=\"" << Px(x + 32) << "\" y=\"" << Px(y + 4) << "\">" << Escape(l.label)
      << "</text></g>";
  }
  s << "</svg>";
  return s.str();
}

}  // namespace fnas::report
