#include "search/study.h"

#include <filesystem>

#include "search/strategy.h"

namespace fnas::search {

StudyRows PrepareStudy(const Config& config) {
  StudyRows rows;
  const space::Macro macro = config.macro();
  for (const auto& c : MakeStrategy(config)->Seeds()) {
    db::CandidateRow row = CandidateRowOf(macro, c);
    row.position = static_cast<int>(rows.candidates.size());
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
