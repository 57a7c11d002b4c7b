#include "search/study.h"

#include <filesystem>

#include "space/plan.h"

namespace fnas::search {

StudyRows PrepareStudy(const Config& config) {
  StudyRows rows;
  const space::Macro macro = config.macro();
  for (const auto& c : config.candidates()) {
    const space::Plan plan = space::BuildPlan(macro, c.f);
    db::CandidateRow row;
    row.position = static_cast<int>(rows.candidates.size());
    row.candidate = c;
    row.macs_conv = plan.macs_conv;
    row.macs_dense = plan.macs_dense;
    row.params = plan.params;
    rows.candidates.push_back(std::move(row));
  }
  rows.study.name = config.name;
  rows.study.yaml = config.yaml_text;
  rows.study.source = config.source;
  rows.study.seed = config.seed;
  rows.study.checkpoint_dir =
      std::filesystem::absolute(config.checkpoint_dir()).lexically_normal().string();
  return rows;
}

}  // namespace fnas::search
