// The sections of the report, one function each: every one reads only the
// StudyData and returns its HTML (figures inline) and its figures (for
// --svg-dir). Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "report/data.h"

namespace fnas::report {

struct Figure {
  std::string id;   // the <svg id>, and the standalone file's name (<id>.svg)
  std::string svg;  // a complete <svg> element
};

struct Section {
  std::string id;  // the <section id> (the browser test looks for each)
  std::string title;
  std::string html;  // the body, figures included
  std::vector<Figure> figures;
};

// Study, config, budget spent, trials by state, the front as a table and the
// commands that reproduce the study and this report (`report_command`).
Section SummarySection(const StudyData& data, const std::string& report_command);
// Conv MACs (log) vs. quint8 and vs. fp32 accuracy of every trial (one point
// per trial in each figure: class "pt"), the fronts as step lines.
Section ParetoSection(const StudyData& data);
// QMSE, QCE and relative accuracy decrease vs. MACs, one point per trial.
Section QuantErrorSection(const StudyData& data);
// The hypervolume of the quint8 and fp32 fronts over the epochs trained.
Section HypervolumeSection(const StudyData& data);
// Per layer: range and channel precision of weights, folded weights,
// activations, and SQNR, for the layerwise trials.
Section LayerwiseSection(const StudyData& data);
// Per-epoch validation fp32 / quint8 accuracy and QMSE, pruning decisions
// marked at their rung.
Section CurvesSection(const StudyData& data);
// The pruning decisions: per rung, the trials judged, kept and pruned (by
// rule); every pruned trial with its rung, rule, reason and the trials that
// justified the decision.
Section PruningSection(const StudyData& data);
// Parent -> child arrows of the progressive search on the MACs/accuracy plane,
// and every appended candidate's parent, step and move as a table.
Section PathsSection(const StudyData& data);

}  // namespace fnas::report
