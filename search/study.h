// A study's rows for the store, computed from its config before any file is
// touched (so a bad config never leaves a half-written database).
#pragma once

#include <vector>

#include "config/config.h"
#include "db/store.h"

namespace fnas::search {

struct StudyRows {
  db::StudyRow study;                        // checkpoint_dir is made absolute
  std::vector<db::CandidateRow> candidates;  // the strategy's seeds, with exact MACs and params
};

// Throws ConfigError for an invalid space (as Config::candidates does).
// The candidates are the seeds of the config's strategy (search/strategy.h).
StudyRows PrepareStudy(const Config& config);

}  // namespace fnas::search
