#include "search/strategy.h"

#include "search/progressive.h"
#include "space/paths.h"
#include "space/plan.h"

namespace fnas::search {

db::CandidateRow CandidateRowOf(const space::Macro& macro, const space::Candidate& candidate) {
  const space::Plan plan = space::BuildPlan(macro, candidate.f);
  db::CandidateRow row;
  row.candidate = candidate;
  row.macs_conv = plan.macs_conv;
  row.macs_dense = plan.macs_dense;
  row.params = plan.params;
  return row;
}

GridStrategy::GridStrategy(const Config& config) : macro_(config.macro()), paths_(config.paths) {}

std::vector<space::Candidate> GridStrategy::Seeds() const {
  return space::ExpandPaths(macro_, paths_);
}

std::vector<db::CandidateRow> GridStrategy::Propose(const db::Store&) const { return {}; }

int GridStrategy::MaxCandidates() const { return static_cast<int>(Seeds().size()); }

std::unique_ptr<Strategy> MakeStrategy(const Config& config) {
  if (config.search.strategy == "progressive") return std::make_unique<ProgressiveStrategy>(config);
  return std::make_unique<GridStrategy>(config);
}

}  // namespace fnas::search
