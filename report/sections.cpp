#include "report/sections.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "report/svg.h"
#include "search/hypervolume.h"
#include "search/pareto.h"

namespace fnas::report {

namespace {

using db::TrialState;

constexpr double kNaN = NAN;

// --- Shared look of trials: one mark per state, the front highlighted ---

Mark StateMark(TrialState state) {
  switch (state) {
    case TrialState::kComplete:
      return {"#0072B2", Shape::kCircle, false, 3.6};
    case TrialState::kPruned:
      return {"#B8860B", Shape::kTriangle, true, 4};
    case TrialState::kFailed:
      return {"#444444", Shape::kCross, false, 3.6};
    case TrialState::kRunning:
    case TrialState::kInterrupted:
      return {"#009E73", Shape::kSquare, true, 3.6};
  }
  return {};
}

Mark FrontMark() { return {"#D55E00", Shape::kDiamond, false, 4.6}; }
Mark FrontLine() {
  Mark m = FrontMark();
  m.width = 1.8;
  return m;
}

std::string LowerState(TrialState state) {
  std::string name = db::TrialStateName(state);
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  return name;
}

std::string StateClass(TrialState state) { return "pt st-" + LowerState(state); }

enum class FrontLegend { kNone, kLine, kMarker };

// Legend entries of the trial states present in the study, plus the front.
void AddStateLegend(Plot& plot, const StudyData& data, bool shown_only, FrontLegend front) {
  std::set<TrialState> states;
  for (const auto& t : data.trials) states.insert(t.row.state);
  if (front == FrontLegend::kLine)
    plot.AddLegend("Pareto front", FrontLine(), Plot::LegendKind::kBoth);
  if (front == FrontLegend::kMarker) plot.AddLegend("quint8 front member", FrontMark());
  const std::pair<TrialState, const char*> labels[] = {
      {TrialState::kComplete, "complete (test)"},
      {TrialState::kPruned, shown_only ? "pruned (last validation)" : "pruned"},
      {TrialState::kFailed, "failed"},
      {TrialState::kRunning, shown_only ? "running (last validation)" : "running"},
      {TrialState::kInterrupted, shown_only ? "interrupted (last validation)" : "interrupted"}};
  for (const auto& [state, label] : labels) {
    if (states.count(state)) plot.AddLegend(label, StateMark(state));
  }
}

double MillionMacs(int64_t macs) { return static_cast<double>(macs) / 1e6; }

Axis MacsAxis() { return {"conv MACs (millions, log scale)", Scale::kLog}; }

// The hover text of a trial: name, state, factorization and numbers.
std::string TrialTooltip(const TrialData& t) {
  std::ostringstream s;
  s << t.row.candidate_name << " · trial " << t.row.id << " · " << db::TrialStateName(t.row.state)
    << "\nf = " << t.row.candidate_key << "\nconv MACs " << MMacs(t.row.macs_conv) << " · params "
    << t.row.params << " · epochs " << t.row.epochs_done;
  if (t.shown) {
    const auto& m = t.shown->metrics;
    s << "\n"
      << (t.shown->test ? std::string("test")
                        : "validation, epoch " + std::to_string(t.shown->epoch))
      << ": fp32 " << Pct(m.acc_fp32) << " · quint8 " << Pct(m.acc_q) << "\nrel. decrease "
      << Num(m.rel_decrease) << " % · QMSE " << Num(m.qmse) << " · QCE " << Num(m.qce);
  } else {
    s << "\nno quantized evaluation recorded";
  }
  if (!t.row.reason.empty()) s << "\n" << t.row.reason;
  return s.str();
}

// The Pareto front (COMPLETE trials, test metrics) on quint8 or fp32 accuracy,
// by MACs: the members the store keeps (StudyData::front_quint8, front_fp32).
std::vector<search::FrontPoint> Front(const StudyData& data, bool quint8) {
  std::vector<search::FrontPoint> points;
  for (int64_t id : quint8 ? data.front_quint8 : data.front_fp32) {
    if (const TrialData* t = data.FindTrial(id)) {
      points.push_back({id, t->row.macs_conv, quint8 ? t->row.test.acc_q : t->row.test.acc_fp32});
    }
  }
  return points;
}

std::set<int64_t> Ids(const std::vector<search::FrontPoint>& front) {
  std::set<int64_t> ids;
  for (const auto& p : front) ids.insert(p.id);
  return ids;
}

// The short hover text of a trial in the secondary plots: who, and one metric.
std::string ShortTooltip(const TrialData& t, const std::string& label, double v) {
  std::string s = t.row.candidate_name + " · trial " + std::to_string(t.row.id) + " · " +
                  db::TrialStateName(t.row.state) + " · " + MMacs(t.row.macs_conv) + " MACs\n";
  if (!t.shown) return s + "no quantized evaluation recorded";
  return s + label + " " + Num(v, 4) +
         (t.shown->test ? " (test)"
                        : " (validation, epoch " + std::to_string(t.shown->epoch) + ")");
}

// Every trial as one point at (MACs, value(t)); front members last, on top.
// The hover text is TrialTooltip, or ShortTooltip with `label` when given.
template <typename Value>
void AddTrialPoints(Plot& plot, const StudyData& data, const std::set<int64_t>& front, Value value,
                    const std::string& label = "") {
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& t : data.trials) {
      const bool on_front = front.count(t.row.id) > 0;
      if (on_front != (pass == 1)) continue;
      const double y = t.shown ? value(t.shown->metrics) : kNaN;
      plot.AddPoint(MillionMacs(t.row.macs_conv), y,
                    on_front ? FrontMark() : StateMark(t.row.state),
                    label.empty() ? TrialTooltip(t) : ShortTooltip(t, label, y),
                    StateClass(t.row.state) + (on_front ? " front" : ""));
    }
  }
}

// A study of a few trials: every point named beside it.
template <typename Value>
void LabelFewTrials(Plot& plot, const StudyData& data, Value value) {
  if (data.trials.size() > 12) return;
  for (const auto& t : data.trials) {
    plot.AddLabel(MillionMacs(t.row.macs_conv), t.shown ? value(t.shown->metrics) : kNaN,
                  t.row.candidate_name);
  }
}

std::string Caption(const std::string& text) { return "<p class=\"cap\">" + text + "</p>"; }

// Figures in a responsive grid, each also kept for --svg-dir.
void AddFigures(Section& section, const std::vector<const Plot*>& plots) {
  section.html += "<div class=\"figs\">";
  for (const Plot* p : plots) {
    Figure f{p->id(), p->Svg()};
    section.html += "<figure>" + f.svg + "</figure>";
    section.figures.push_back(std::move(f));
  }
  section.html += "</div>";
}

std::string Duration(double seconds) {
  const long s = std::lround(seconds);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

// An HTML table from a header and rows of already-escaped cells.
std::string HtmlTable(const std::vector<std::string>& header,
                      const std::vector<std::vector<std::string>>& rows,
                      const std::string& cls = "") {
  std::string h = "<table" + (cls.empty() ? "" : " class=\"" + cls + "\"") + "><thead><tr>";
  for (const auto& c : header) h += "<th>" + c + "</th>";
  h += "</tr></thead><tbody>";
  for (const auto& r : rows) {
    h += "<tr>";
    for (const auto& c : r) h += "<td>" + c + "</td>";
    h += "</tr>";
  }
  return h + "</tbody></table>";
}

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./=:,+") == std::string::npos) {
    return s;
  }
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

Section SummarySection(const StudyData& data, const std::string& report_command) {
  Section sec{"summary", "Summary", "", {}};
  const auto& st = data.study;
  std::map<TrialState, int> by_state;
  long epochs = 0, saved = 0;
  double seconds = 0;
  for (const auto& t : data.trials) {
    by_state[t.row.state]++;
    epochs += t.row.epochs_done;
    seconds += t.row.seconds;
    if (t.row.state == TrialState::kPruned && data.epochs_per_trial > 0) {
      saved += std::max(0, data.epochs_per_trial - t.row.epochs_done);
    }
  }
  const size_t pending =
      data.candidates.size() - std::min(data.candidates.size(), data.trials.size());

  std::vector<std::vector<std::string>> info = {
      {"study", Escape(st.name)},
      {"database", "<code>" + Escape(data.db_path) + "</code> (schema version " +
                       std::to_string(st.schema_version) + ")"},
      {"config", "<code>" + Escape(st.source) + "</code> · " + Escape(st.yaml_hash)},
      {"seed", std::to_string(st.seed)},
      {"created / updated", Escape(st.created_at) + " / " + Escape(st.updated_at)},
  };
  std::string budget = std::to_string(epochs) + " epochs trained";
  if (data.epochs_per_trial > 0) {
    const long full = static_cast<long>(data.candidates.size()) * data.epochs_per_trial;
    budget += " of " + std::to_string(full) + " (" + std::to_string(data.candidates.size()) +
              " candidates × " + std::to_string(data.epochs_per_trial) + " epochs; " +
              Pct(full ? static_cast<double>(epochs) / full : 0) + ")";
    if (saved) budget += "; pruning saved " + std::to_string(saved) + " epochs";
  } else if (!data.config_note.empty()) {
    budget += " (the stored config could not be read: " + Escape(data.config_note) + ")";
  }
  info.push_back({"budget spent", budget + "; compute " + Duration(seconds) + " (h:mm:ss)"});
  std::string states;
  for (const auto& [state, n] : by_state) {
    states += (states.empty() ? "" : " · ") + std::string(db::TrialStateName(state)) + " " +
              std::to_string(n);
  }
  if (pending)
    states += (states.empty() ? "" : " · ") + std::string("pending ") + std::to_string(pending);
  info.push_back({"trials by state", states.empty() ? "none yet" : states});
  sec.html += "<table class=\"kv\"><tbody>";
  for (const auto& r : info) sec.html += "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td></tr>";
  sec.html += "</tbody></table>";

  // The front as a table.
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : Front(data, true)) {
    const TrialData& t = *data.FindTrial(p.id);
    const auto& m = t.row.test;
    rows.push_back({std::to_string(t.row.id), Escape(t.row.candidate_name),
                    "<code>" + Escape(t.row.candidate_key) + "</code>",
                    Num(MillionMacs(t.row.macs_conv)), std::to_string(t.row.params),
                    Pct(m.acc_fp32), Pct(m.acc_q), Num(m.rel_decrease) + " %", Num(m.qmse),
                    Num(m.qce)});
  }
  sec.html += "<h3>Pareto front (fewest conv MACs, best quint8 test accuracy)</h3>";
  sec.html += rows.empty()
                  ? "<p class=\"note\">No completed trial yet.</p>"
                  : HtmlTable({"trial_id", "candidate", "factorization", "mmacs_conv", "params",
                               "acc_fp32 (%)", "acc_quint8 (%)", "rel_decrease (%)", "qmse", "qce"},
                              rows, "front");

  const std::string db = ShellQuote(data.db_path);
  const auto first =
      data.trials.empty() ? std::string("regular") : data.trials.front().row.candidate_name;
  sec.html += "<h3>Reproduce</h3><pre class=\"cmd\">" +
              Escape("factorize-nas search " + ShellQuote(st.source) + " --db " + db +
                     "   # the study (the config is also stored in the database)\n"
                     "factorize-nas resume " +
                     db +
                     "   # finish it if it was stopped\n"
                     "factorize-nas front " +
                     db +
                     "\n"
                     "factorize-nas show " +
                     db + " " + ShellQuote(first) + "\n" + report_command) +
              "</pre>";
  sec.html += "<details><summary>Config (" + Escape(st.source) + ", as stored)</summary><pre>" +
              Escape(st.yaml) + "</pre></details>";
  return sec;
}

Section ParetoSection(const StudyData& data) {
  Section sec{"pareto", "Pareto front: conv MACs vs. accuracy", "", {}};
  std::vector<Plot> plots;
  for (bool q8 : {true, false}) {
    const std::string kind = q8 ? "quint8" : "fp32";
    Axis y{kind + " accuracy (%)", Scale::kLinear};
    Plot plot("pareto-" + kind, kind + " accuracy vs. conv MACs, every trial", MacsAxis(), y);
    plot.SetMissingLabel("none");
    const auto front = Front(data, q8);
    std::vector<std::pair<double, double>> step;
    for (const auto& p : front) step.push_back({MillionMacs(p.macs), 100 * p.accuracy});
    plot.AddFrontStep(step, FrontLine(),
                      kind + " Pareto front: " + std::to_string(front.size()) + " trials");
    AddTrialPoints(plot, data, Ids(front), [q8](const evaluators::QuantMetrics& m) {
      return 100 * (q8 ? m.acc_q : m.acc_fp32);
    });
    AddStateLegend(plot, data, true, FrontLegend::kLine);
    LabelFewTrials(plot, data, [q8](const evaluators::QuantMetrics& m) {
      return 100 * (q8 ? m.acc_q : m.acc_fp32);
    });
    plot.SetEmptyNote("no trial yet");
    plots.push_back(std::move(plot));
  }
  sec.html += Caption(
      "One point per trial (hover for its name, factorization and numbers). Completed trials "
      "at their final <b>test</b> accuracy; pruned, running and interrupted trials at their "
      "latest <b>validation</b> accuracy (hollow marks); trials without any quantized "
      "evaluation (failed early) in the strip under the axis. The step line is the Pareto front "
      "of the completed trials: fewest MACs, best accuracy.");
  AddFigures(sec, {&plots[0], &plots[1]});
  return sec;
}

Section QuantErrorSection(const StudyData& data) {
  Section sec{"quant-error", "Quantization error vs. conv MACs", "", {}};
  struct Spec {
    std::string id, title, label;
    double (*value)(const evaluators::QuantMetrics&);
  };
  const Spec specs[] = {{"qmse", "QMSE (fp32 vs. quint8 logits)", "QMSE",
                         [](const evaluators::QuantMetrics& m) { return m.qmse; }},
                        {"qce", "QCE (quint8 softmax vs. fp32 softmax)", "QCE (nats)",
                         [](const evaluators::QuantMetrics& m) { return m.qce; }},
                        {"rel-decrease", "Relative accuracy decrease", "relative decrease (%)",
                         [](const evaluators::QuantMetrics& m) { return m.rel_decrease; }}};
  const auto front = Ids(Front(data, true));
  std::vector<Plot> plots;
  for (const auto& spec : specs) {
    // A log axis when the values span more than two decades.
    double lo = INFINITY, hi = 0;
    for (const auto& t : data.trials) {
      if (!t.shown) continue;
      const double v = spec.value(t.shown->metrics);
      if (v > 0 && std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
    const bool log = hi > 0 && hi / lo > 100;
    Axis y{spec.label + (log ? ", log scale" : ""), log ? Scale::kLog : Scale::kLinear};
    y.include_zero = !log;
    Plot plot(spec.id, spec.title + " vs. conv MACs", MacsAxis(), y);
    plot.SetMissingLabel(log ? "≤0 / none" : "none");
    AddTrialPoints(plot, data, front, spec.value,
                   spec.id == "rel-decrease" ? "rel. decrease %" : spec.label);
    AddStateLegend(plot, data, true, front.empty() ? FrontLegend::kNone : FrontLegend::kMarker);
    plots.push_back(std::move(plot));
  }
  sec.html += Caption(
      "The paper's quantization-error measures, one point per trial: completed trials on the "
      "test split, the others at their latest recorded validation epoch. Diamonds are members "
      "of the quint8 Pareto front.");
  AddFigures(sec, {&plots[0], &plots[1], &plots[2]});
  return sec;
}

Section HypervolumeSection(const StudyData& data) {
  Section sec{"hypervolume", "Hypervolume over compute spent", "", {}};
  int64_t ref = 0;
  for (const auto& c : data.candidates) ref = std::max(ref, c.macs_conv);
  // Finished trials in the order they ended; the front after each.
  std::vector<const TrialData*> finished;
  long other_epochs = 0;
  for (const auto& t : data.trials) {
    if (db::IsFinished(t.row.state)) {
      finished.push_back(&t);
    } else {
      other_epochs += t.row.epochs_done;
    }
  }
  std::stable_sort(finished.begin(), finished.end(), [](const TrialData* a, const TrialData* b) {
    return a->row.ended_at < b->row.ended_at;
  });
  Axis x{"compute spent (epochs trained, cumulative)", Scale::kLinear};
  x.include_zero = true;
  Axis y{"hypervolume (% of max MACs × 100 % box)", Scale::kLinear};
  y.include_zero = true;
  Plot plot("hypervolume", "Hypervolume of the front as trials finish", x, y);
  std::vector<search::FrontPoint> q8, fp;
  std::vector<std::pair<double, double>> line_q8{{0, 0}}, line_fp{{0, 0}};
  long epochs = 0;
  for (const TrialData* t : finished) {
    epochs += t->row.epochs_done;
    if (t->row.state == TrialState::kComplete && t->row.has_test) {
      q8.push_back({t->row.id, t->row.macs_conv, t->row.test.acc_q});
      fp.push_back({t->row.id, t->row.macs_conv, t->row.test.acc_fp32});
    }
    const double e = static_cast<double>(epochs);
    // A step: the hypervolume changes when the trial finishes.
    line_q8.push_back({e, line_q8.back().second});
    line_fp.push_back({e, line_fp.back().second});
    line_q8.push_back({e, ref ? 100 * search::Hypervolume(q8, ref) / ref : 0});
    line_fp.push_back({e, ref ? 100 * search::Hypervolume(fp, ref) / ref : 0});
  }
  if (other_epochs > 0) {  // running / interrupted trials: compute spent, no result yet
    const double e = static_cast<double>(epochs + other_epochs);
    line_q8.push_back({e, line_q8.back().second});
    line_fp.push_back({e, line_fp.back().second});
  }
  Mark mq{"#0072B2", Shape::kCircle, false, 3};
  Mark mf{"#009E73", Shape::kSquare, true, 3};
  mf.dash = "6 3";
  if (!finished.empty()) {
    plot.AddLine(line_fp, mf, "fp32 front");
    plot.AddLine(line_q8, mq, "quint8 front");
    if (finished.size() <= 100) {  // a marker per finished trial where they stay readable
      for (size_t i = 2; i < line_q8.size(); i += 2) {
        plot.AddPoint(line_fp[i].first, line_fp[i].second, mf,
                      "fp32 hypervolume " + Num(line_fp[i].second) + " % after " +
                          Num(line_fp[i].first) + " epochs",
                      "hv");
        plot.AddPoint(line_q8[i].first, line_q8[i].second, mq,
                      "quint8 hypervolume " + Num(line_q8[i].second) + " % after " +
                          Num(line_q8[i].first) + " epochs",
                      "hv");
      }
    }
  }
  plot.SetEmptyNote("no finished trial yet");
  plot.AddLegend("quint8 front", mq, Plot::LegendKind::kBoth);
  plot.AddLegend("fp32 front", mf, Plot::LegendKind::kBoth);
  std::string final_hv;
  if (!finished.empty()) {
    final_hv = " Now: quint8 " + Num(line_q8.back().second) + " %, fp32 " +
               Num(line_fp.back().second) + " %, after " + std::to_string(epochs + other_epochs) +
               " epochs.";
  }
  sec.html += Caption(
      "The area the front dominates in the (conv MACs ↓, test accuracy ↑) plane, with the "
      "reference point (largest conv MACs of the study = " +
      MMacs(ref) + ", accuracy 0), as a percentage of the box [0, " + MMacs(ref) +
      "] × [0, 100 %]; one step per finished trial in the order they ended. Pruned and failed "
      "trials add compute but no point; running trials' epochs are the last step." +
      final_hv);
  AddFigures(sec, {&plot});
  return sec;
}

Section LayerwiseSection(const StudyData& data) {
  Section sec{"layerwise", "Layerwise quantization statistics", "", {}};
  // The trials' ops in plan order, merged: a category per op name.
  std::vector<const TrialData*> trials;
  for (int64_t id : data.layerwise) {
    const TrialData* t = data.FindTrial(id);
    if (t && !t->layers.empty()) trials.push_back(t);
  }
  // Each trial's rows of one evaluation: the test split, else its latest validation epoch.
  std::vector<std::vector<const db::LayerRow*>> rows(trials.size());
  std::vector<std::string> source(trials.size());
  // Categories: the ops of all trials, by layer (in plan order) and then the
  // regular op before the group and pointwise ops of a factorized layer.
  std::vector<std::string> layer_order;
  std::map<std::string, std::string> layer_of;
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto& layers = trials[i]->layers;
    const bool has_test = std::any_of(layers.begin(), layers.end(),
                                      [](const db::LayerRow& r) { return r.split == "test"; });
    int epoch = 0;
    for (const auto& r : layers) {
      if (!has_test) epoch = std::max(epoch, r.epoch);
    }
    for (const auto& r : layers) {
      if (has_test ? r.split == "test" : (r.split == "validation" && r.epoch == epoch)) {
        rows[i].push_back(&r);
      }
    }
    std::sort(rows[i].begin(), rows[i].end(), [](const db::LayerRow* a, const db::LayerRow* b) {
      return a->position < b->position;
    });
    source[i] = has_test ? "test (final model)" : "validation, epoch " + std::to_string(epoch);
    for (const auto* r : rows[i]) {
      if (std::find(layer_order.begin(), layer_order.end(), r->stats.layer) == layer_order.end()) {
        layer_order.push_back(r->stats.layer);
      }
      layer_of[r->stats.op] = r->stats.layer;
    }
  }
  auto op_key = [&](const std::string& op) {
    const std::string& layer = layer_of[op];
    const auto li = std::find(layer_order.begin(), layer_order.end(), layer) - layer_order.begin();
    const int sub = op == layer ? 0 : op == layer + ".group" ? 1 : op == layer + ".point" ? 2 : 3;
    return std::make_tuple(li, sub, op);
  };
  std::vector<std::string> ops;
  for (const auto& kv : layer_of) ops.push_back(kv.first);
  std::sort(ops.begin(), ops.end(),
            [&](const std::string& a, const std::string& b) { return op_key(a) < op_key(b); });
  std::map<std::string, double> index;
  for (size_t i = 0; i < ops.size(); ++i) index[ops[i]] = static_cast<double>(i);

  struct Spec {
    std::string id, title, label;
    Scale scale;
    double (*value)(const evaluators::LayerStats&);
  };
  using LS = evaluators::LayerStats;
  const Spec specs[] = {
      {"layer-w-range", "Weights: dynamic range", "max − min (log scale)", Scale::kLog,
       [](const LS& s) { return s.weights.range; }},
      {"layer-folded-range", "BN-folded weights: dynamic range", "max − min (log scale)",
       Scale::kLog, [](const LS& s) { return s.folded.range; }},
      {"layer-act-range", "Activations (clipped): dynamic range", "max − min (log scale)",
       Scale::kLog, [](const LS& s) { return s.activations.range; }},
      {"layer-sqnr", "SQNR of each op's output", "SQNR (dB)", Scale::kLinear,
       [](const LS& s) { return s.sqnr_db; }},
      {"layer-w-chprec", "Weights: average channel precision", "mean range_channel / range_tensor",
       Scale::kLinear, [](const LS& s) { return s.weights.channel_precision; }},
      {"layer-folded-chprec", "BN-folded weights: average channel precision",
       "mean range_channel / range_tensor", Scale::kLinear,
       [](const LS& s) { return s.folded.channel_precision; }},
      {"layer-act-chprec", "Activations: average channel precision",
       "mean range_channel / range_tensor", Scale::kLinear,
       [](const LS& s) { return s.activations.channel_precision; }}};
  std::vector<Plot> plots;
  const int width = ops.size() > 16 ? 760 : 560;
  for (const auto& spec : specs) {
    Axis x{"quantized op (plan order)", Scale::kCategorical, ops};
    Axis y{spec.label, spec.scale};
    if (spec.id.find("chprec") != std::string::npos) {
      y.min = 0;
      y.max = 1.05;
    }
    Plot plot(spec.id, spec.title, x, y, width, 400);
    for (size_t i = 0; i < trials.size(); ++i) {
      Mark m{PaletteColor(i), PaletteShape(i), false, 3.4};
      m.width = 1.4;
      std::vector<std::pair<double, double>> line;
      for (const auto* r : rows[i]) {
        const double v = spec.value(r->stats);
        line.push_back({index[r->stats.op], v});
        plot.AddPoint(index[r->stats.op], v, m,
                      trials[i]->row.candidate_name + " · " + r->stats.op + ": " + Num(v, 4), "lw");
      }
      line.erase(std::remove_if(line.begin(), line.end(),
                                [&](const auto& p) {
                                  return spec.scale == Scale::kLog ? !(p.second > 0)
                                                                   : !std::isfinite(p.second);
                                }),
                 line.end());
      plot.AddLine(line, m, trials[i]->row.candidate_name);
      plot.AddLegend(trials[i]->row.candidate_name, m, Plot::LegendKind::kBoth);
    }
    plot.SetEmptyNote("no layerwise statistics for these trials yet");
    plots.push_back(std::move(plot));
  }
  // How they evolve during training (thesis section 4.6): per recorded
  // validation epoch, the worst op's SQNR and the widest BN-folded range.
  struct EpochSpec {
    std::string id, title, label;
    Scale scale;
    bool take_min;
    double (*value)(const LS&);
  };
  const EpochSpec epoch_specs[] = {
      {"layer-epochs-sqnr", "Worst op's SQNR over training", "min over ops of SQNR (dB)",
       Scale::kLinear, true, [](const LS& s) { return s.sqnr_db; }},
      {"layer-epochs-folded", "Widest BN-folded weight range over training",
       "max over ops of max − min (log scale)", Scale::kLog, false,
       [](const LS& s) { return s.folded.range; }}};
  for (const auto& spec : epoch_specs) {
    Axis x{"epoch (recorded, validation split)"};
    x.integer = true;
    Plot plot(spec.id, spec.title, x, Axis{spec.label, spec.scale});
    for (size_t i = 0; i < trials.size(); ++i) {
      std::map<int, double> by_epoch;
      for (const auto& r : trials[i]->layers) {
        if (r.split != "validation") continue;
        const double v = spec.value(r.stats);
        auto [it, fresh] = by_epoch.emplace(r.epoch, v);
        if (!fresh) it->second = spec.take_min ? std::min(it->second, v) : std::max(it->second, v);
      }
      Mark m{PaletteColor(i), PaletteShape(i), false, 3.4};
      m.width = 1.4;
      std::vector<std::pair<double, double>> line;
      for (const auto& [epoch, v] : by_epoch) {
        line.push_back({static_cast<double>(epoch), v});
        plot.AddPoint(
            epoch, v, m,
            trials[i]->row.candidate_name + ", epoch " + std::to_string(epoch) + ": " + Num(v, 4),
            "lw");
      }
      plot.AddLine(line, m, trials[i]->row.candidate_name);
      plot.AddLegend(trials[i]->row.candidate_name, m, Plot::LegendKind::kBoth);
    }
    plot.SetEmptyNote("no recorded validation epoch for these trials yet");
    plots.push_back(std::move(plot));
  }
  std::string which;
  if (data.layerwise_chosen) {
    which = "the trials chosen with <code>--trials</code>";
  } else if (data.front_size > trials.size() && !trials.empty()) {
    which =
        std::to_string(trials.size()) + " of the " + std::to_string(data.front_size) +
        " quint8 Pareto-front members, spread along the front (choose with <code>--trials</code>)";
  } else {
    which = "the quint8 Pareto-front members";
  }
  std::vector<std::vector<std::string>> src;
  for (size_t i = 0; i < trials.size(); ++i) {
    src.push_back({Escape(trials[i]->row.candidate_name),
                   "<code>" + Escape(trials[i]->row.candidate_key) + "</code>",
                   Num(MillionMacs(trials[i]->row.macs_conv)), Escape(source[i])});
  }
  sec.html += Caption(
      "The paper's fine-grained analysis for " + which +
      ": per quantized op, the dynamic range (max − min) and the average channel precision "
      "(mean over output channels of the channel's range over the tensor's range; 1 = every "
      "channel uses the whole quantization grid) of the weights as trained, the BN-folded "
      "weights and the percentile-clipped activations, and the SQNR of the op's output; then how "
      "the worst op's SQNR and the widest BN-folded range evolve over the recorded epochs.");
  if (!src.empty())
    sec.html += HtmlTable({"candidate", "factorization", "mmacs_conv", "statistics of"}, src);
  std::vector<const Plot*> ptrs;
  for (const auto& p : plots) ptrs.push_back(&p);
  AddFigures(sec, ptrs);
  return sec;
}

Section CurvesSection(const StudyData& data) {
  Section sec{"curves", "Per-epoch validation curves", "", {}};
  const size_t n = data.trials.size();
  const bool dense = n > 40;      // thin lines, no per-epoch markers
  const bool per_trial = n <= 8;  // a colour and a legend entry per trial
  // A large study draws at most kMaxCurves lines: the quint8 front members and
  // an even sample of the others (the file stays small, the plot readable).
  constexpr size_t kMaxCurves = 300;
  std::set<int64_t> drawn;
  if (n <= kMaxCurves) {
    for (const auto& t : data.trials) drawn.insert(t.row.id);
  } else {
    drawn = Ids(Front(data, true));
    std::vector<int64_t> others;
    for (const auto& t : data.trials) {
      if (!drawn.count(t.row.id)) others.push_back(t.row.id);
    }
    const size_t room = kMaxCurves > drawn.size() ? kMaxCurves - drawn.size() : 0;
    for (size_t k = 0; k < room && !others.empty(); ++k)
      drawn.insert(others[k * others.size() / room]);
  }
  struct Spec {
    std::string id, title, label;
    bool recorded_only;
    double (*value)(const db::EpochRow&);
  };
  const Spec specs[] = {{"curve-fp32", "Validation fp32 accuracy", "fp32 validation accuracy (%)",
                         false, [](const db::EpochRow& e) { return 100 * e.record.val_acc; }},
                        {"curve-quint8", "Validation quint8 accuracy (recorded epochs)",
                         "quint8 validation accuracy (%)", true,
                         [](const db::EpochRow& e) { return 100 * e.validation.acc_q; }},
                        {"curve-qmse", "Validation QMSE (recorded epochs)", "QMSE (log scale)",
                         true, [](const db::EpochRow& e) { return e.validation.qmse; }}};
  std::set<int> rungs;
  bool any_prune = false, any_continue = false;
  for (const auto& t : data.trials) {
    for (const auto& d : t.decisions) {
      rungs.insert(d.rung_epoch);
      (d.decision == "prune" ? any_prune : any_continue) = true;
    }
  }
  Mark prune_mark{"#D55E00", Shape::kCross, false, 5};
  Mark continue_mark{"#333333", Shape::kCircle, true, 4.5};
  std::vector<Plot> plots;
  for (const auto& spec : specs) {
    Axis x{"epoch", Scale::kLinear};
    x.integer = true;
    Axis y{spec.label, spec.id == "curve-qmse" ? Scale::kLog : Scale::kLinear};
    Plot plot(spec.id, spec.title, x, y);
    for (int r : rungs) plot.AddGuide(r, "rung " + std::to_string(r));
    struct DecisionMark {
      const TrialData* trial;
      const db::PruneDecision* decision;
      double value;
    };
    std::vector<DecisionMark> marks;
    size_t index = 0;
    for (const auto& t : data.trials) {
      if (!drawn.count(t.row.id)) continue;
      // A few trials: one colour and shape each, named in the legend; many: by state.
      Mark m = per_trial ? Mark(PaletteColor(index), PaletteShape(index), false, 3)
                         : StateMark(t.row.state);
      if (per_trial) {
        Mark legend = m;
        legend.width = 1.5;
        plot.AddLegend(
            t.row.candidate_name +
                (t.row.state == TrialState::kComplete ? "" : " (" + LowerState(t.row.state) + ")"),
            legend, Plot::LegendKind::kBoth);
      }
      ++index;
      m.width = dense ? 1 : 1.5;
      m.opacity = dense ? 0.45 : 0.9;
      if (!per_trial) m.size = 2.6;
      std::vector<std::pair<double, double>> line;
      std::map<int, double> at;
      for (const auto& e : t.epochs) {
        if (spec.recorded_only && !e.recorded) continue;
        const double v = spec.value(e);
        line.push_back({static_cast<double>(e.record.epoch), v});
        at[e.record.epoch] = v;
        if (!dense)
          plot.AddPoint(
              e.record.epoch, v, m,
              t.row.candidate_name + ", epoch " + std::to_string(e.record.epoch) + ": " + Num(v, 4),
              "ep");
      }
      plot.AddLine(line, m,
                   t.row.candidate_name + " (trial " + std::to_string(t.row.id) + ", " +
                       db::TrialStateName(t.row.state) + ")");
      for (const auto& d : t.decisions) {
        auto it = at.find(d.rung_epoch);
        if (it != at.end()) marks.push_back({&t, &d, it->second});
      }
    }
    // Decisions after the lines, the prunes last (on top of the kept ones).
    std::stable_partition(marks.begin(), marks.end(),
                          [](const DecisionMark& m) { return m.decision->decision != "prune"; });
    for (const auto& [t, d, value] : marks) {
      const bool prune = d->decision == "prune";
      const std::string evidence =
          d->evidence.size() > 300 ? d->evidence.substr(0, 300) + "..." : d->evidence;
      plot.AddPoint(d->rung_epoch, value, prune ? prune_mark : continue_mark,
                    t->row.candidate_name + ": " + d->decision + " at rung " +
                        std::to_string(d->rung_epoch) +
                        (d->reason.empty() ? "" : "\n" + d->reason) +
                        (evidence.empty() ? "" : "\nevidence: " + evidence),
                    prune ? "decision prune" : "decision continue");
    }
    std::set<TrialState> states;
    for (const auto& t : data.trials) states.insert(t.row.state);
    for (TrialState s : {TrialState::kComplete, TrialState::kPruned, TrialState::kFailed,
                         TrialState::kRunning, TrialState::kInterrupted}) {
      if (per_trial || !states.count(s)) continue;
      Mark m = StateMark(s);
      m.size = 2.6;
      plot.AddLegend(LowerState(s), m, dense ? Plot::LegendKind::kLine : Plot::LegendKind::kBoth);
    }
    if (any_prune) plot.AddLegend("pruned at this rung", prune_mark);
    if (any_continue) plot.AddLegend("kept at this rung", continue_mark);
    plot.SetEmptyNote(spec.recorded_only ? "no recorded epoch yet" : "no epoch trained yet");
    plots.push_back(std::move(plot));
  }
  sec.html += Caption(
      std::string(per_trial ? "One line per trial (hover a line for its trial). "
                            : "One line per trial, coloured by its state (hover a line for its "
                              "trial). ") +
      "Quantized metrics "
      "exist at the recorded epochs (<code>search.record_every</code>). " +
      std::string(rungs.empty()
                      ? "No pruning decision is recorded in this study."
                      : "Pruning decisions are marked at their rung epoch: × pruned, ○ kept "
                        "(hover for the reason and the evidence).") +
      (dense ? " With " + std::to_string(n) + " trials the lines are thin and translucent." : "") +
      (drawn.size() < n ? " " + std::to_string(drawn.size()) + " of the " + std::to_string(n) +
                              " trials are drawn: the quint8 front members and an even sample of "
                              "the others (with their pruning decisions)."
                        : ""));
  AddFigures(sec, {&plots[0], &plots[1], &plots[2]});
  return sec;
}

namespace {

// The trial ids of a decision's "justified_by" list (its evidence JSON).
std::vector<int64_t> JustifiedBy(const std::string& evidence) {
  std::vector<int64_t> ids;
  const std::string key = "\"justified_by\":[";
  const size_t at = evidence.find(key);
  if (at == std::string::npos) return ids;
  const size_t end = evidence.find(']', at);
  std::istringstream in(evidence.substr(at + key.size(), end - at - key.size()));
  for (std::string id; std::getline(in, id, ',');) {
    if (!id.empty()) ids.push_back(std::stoll(id));
  }
  return ids;
}

// "name (trial id)" of a trial, or "trial id" if it is not in the study.
std::string TrialName(const StudyData& data, int64_t id) {
  const TrialData* t = data.FindTrial(id);
  return t ? Escape(t->row.candidate_name) + " (" + std::to_string(id) + ")"
           : "trial " + std::to_string(id);
}

}  // namespace

Section PruningSection(const StudyData& data) {
  Section sec{"pruning", "Early pruning decisions", "", {}};
  struct RungCount {
    int judged = 0, pruned = 0;
    std::map<std::string, int> by_rule;  // the rules that pruned
  };
  std::map<int, RungCount> rungs;
  std::vector<std::pair<const TrialData*, const db::PruneDecision*>> pruned;
  for (const auto& t : data.trials) {
    for (const auto& d : t.decisions) {
      RungCount& c = rungs[d.rung_epoch];
      ++c.judged;
      if (d.decision != "prune") continue;
      ++c.pruned;
      ++c.by_rule[d.rule.empty() ? "?" : d.rule];
      pruned.emplace_back(&t, &d);
    }
  }
  if (rungs.empty()) {
    sec.html +=
        "<p class=\"note\">No pruning decision is recorded in this study (no "
        "<code>pruning.rungs</code>, or no trial has reached a rung yet).</p>";
    return sec;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [epoch, c] : rungs) {
    std::string rules;
    for (const auto& [rule, n] : c.by_rule) {
      rules += (rules.empty() ? "" : ", ") + Escape(rule) + " " + std::to_string(n);
    }
    rows.push_back({std::to_string(epoch), std::to_string(c.judged),
                    std::to_string(c.judged - c.pruned), std::to_string(c.pruned),
                    rules.empty() ? "-" : rules});
  }
  sec.html += Caption(
      "Each trial reaching a rung is judged at once against the trials that reached it before "
      "(validation split). Rules: <code>rank</code> (top 1/eta of the rung), <code>front</code> "
      "(first front, never pruned), <code>collapse-rel-decrease</code> / "
      "<code>collapse-qmse</code> (quantization collapse), <code>min-peers</code>, "
      "<code>median</code>; <code>factorize-nas show DB TRIAL</code> prints a decision's full "
      "evidence.");
  sec.html +=
      HtmlTable({"rung_epoch", "judged", "kept", "pruned", "pruned by rule"}, rows, "rungs");
  rows.clear();
  std::sort(pruned.begin(), pruned.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.second->rung_epoch, a.first->row.id) <
           std::make_pair(b.second->rung_epoch, b.first->row.id);
  });
  for (const auto& [t, d] : pruned) {
    std::string by;
    for (int64_t id : JustifiedBy(d->evidence))
      by += (by.empty() ? "" : ", ") + TrialName(data, id);
    rows.push_back({std::to_string(d->rung_epoch), TrialName(data, t->row.id),
                    Num(MillionMacs(t->row.macs_conv)), Escape(d->rule), Escape(d->reason),
                    by.empty() ? "-" : by});
  }
  sec.html += "<h3>Pruned trials</h3>";
  sec.html +=
      rows.empty()
          ? "<p class=\"note\">No trial was pruned.</p>"
          : HtmlTable({"rung_epoch", "trial", "mmacs_conv", "rule", "reason", "justified_by"}, rows,
                      "pruned");
  return sec;
}

Section PathsSection(const StudyData& data) {
  Section sec{"paths", "Progressive search paths", "", {}};
  Axis y{"quint8 accuracy (%)", Scale::kLinear};
  Plot plot("paths", "Parent → child steps on the MACs / quint8 accuracy plane", MacsAxis(), y, 760,
            440);
  plot.SetMissingLabel("none");
  std::map<int64_t, const TrialData*> by_candidate;
  for (const auto& t : data.trials) by_candidate[t.row.candidate_id] = &t;
  auto acc = [](const TrialData* t) { return t->shown ? 100 * t->shown->metrics.acc_q : kNaN; };
  int arrows = 0;
  std::set<int> steps;
  for (const auto& [child, parent] : data.parent) {
    auto c = by_candidate.find(child), p = by_candidate.find(parent);
    if (c == by_candidate.end() || p == by_candidate.end()) continue;
    const db::CandidateRow* cand = data.FindCandidate(child);
    const int step = cand ? cand->step : 0;
    Mark m{PaletteColor(step > 0 ? step - 1 : 0), Shape::kCircle, false, 3};
    m.width = 1.2;
    steps.insert(step);
    plot.AddArrow(MillionMacs(p->second->row.macs_conv), acc(p->second),
                  MillionMacs(c->second->row.macs_conv), acc(c->second), m,
                  p->second->row.candidate_name + " → " + c->second->row.candidate_name +
                      " · step " + std::to_string(step) +
                      (cand && !cand->move.empty() ? " · " + cand->move : ""));
    ++arrows;
  }
  AddTrialPoints(
      plot, data, Ids(Front(data, true)),
      [](const evaluators::QuantMetrics& m) { return 100 * m.acc_q; }, "quint8 accuracy %");
  AddStateLegend(plot, data, true, FrontLegend::kMarker);
  LabelFewTrials(plot, data, [](const evaluators::QuantMetrics& m) { return 100 * m.acc_q; });
  for (int step : steps) {
    Mark m{PaletteColor(step > 0 ? step - 1 : 0), Shape::kCircle, false, 3};
    m.width = 1.5;
    plot.AddLegend("step " + std::to_string(step), m, Plot::LegendKind::kLine);
  }
  sec.html += Caption(
      arrows ? std::to_string(arrows) +
                   " parent → child moves of the progressive strategy, coloured by step: each "
                   "raises one layer (or stage) of a candidate on the front to the next "
                   "factorization rate (hover an arrow for the move). Points are at their quint8 "
                   "test accuracy, or their latest validation accuracy when not completed."
             : "This study records no parent → child links (its candidates come from the "
               "configured paths, not from the progressive strategy), so only the trials are "
               "shown.");
  AddFigures(sec, {&plot});
  // The lineage as a table: every candidate with a parent, in proposal order.
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : data.candidates) {
    if (!c.parent_id) continue;
    const db::CandidateRow* parent = data.FindCandidate(c.parent_id);
    const auto t = by_candidate.find(c.id);
    rows.push_back({std::to_string(c.step), Escape(c.candidate.name),
                    parent ? Escape(parent->candidate.name) : std::to_string(c.parent_id),
                    Escape(c.move), Num(MillionMacs(c.macs_conv)),
                    t == by_candidate.end() ? "pending" : LowerState(t->second->row.state)});
  }
  if (!rows.empty()) {
    sec.html +=
        std::string(rows.size() <= 40 ? "<details open>" : "<details>") + "<summary>The " +
        std::to_string(rows.size()) + " proposed candidates (step, parent, move)</summary>" +
        HtmlTable({"step", "candidate", "parent", "move", "mmacs_conv", "state"}, rows, "lineage") +
        "</details>";
  }
  return sec;
}

}  // namespace fnas::report
