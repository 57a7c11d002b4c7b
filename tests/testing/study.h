// Test helpers for the search driver: a study created from a config, and a
// run of it to the end (or until `stop`) with any evaluator, the scripted one
// usually, and no progress output.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "db/store.h"
#include "search/driver.h"
#include "search/progress.h"
#include "search/study.h"

namespace fnas::testing {

// Creates the study of `config` in a new database at `path` (default: the
// config's storage.db). A study at another path keeps its checkpoints beside
// that database, as if storage.db had said it, unless storage.checkpoints
// names a folder: two studies of one config, or two test processes, must not
// share (and clean up) one checkpoint folder.
inline std::unique_ptr<db::Store> NewStudy(const Config& config, std::string path = "") {
  Config at = config;
  if (!path.empty()) at.storage.db = path;
  path = at.db_path();
  auto store = std::make_unique<db::Store>(path, db::Store::Mode::kCreate);
  const search::StudyRows rows = search::PrepareStudy(at);
  store->CreateStudy(rows.study, rows.candidates);
  return store;
}

// Runs the study's driver with `evaluator` until no work is left or `stop`
// returns true.
inline search::SearchSummary RunAll(std::shared_ptr<const Config> config, db::Store& store,
                                    search::Evaluator& evaluator,
                                    std::function<bool()> stop = nullptr) {
  search::QuietProgress progress;
  search::DriverOptions options;
  options.stop_requested = std::move(stop);
  search::Driver driver(std::move(config), store, evaluator, progress, options);
  return driver.Run();
}
inline search::SearchSummary RunAll(const Config& config, db::Store& store,
                                    search::Evaluator& evaluator,
                                    std::function<bool()> stop = nullptr) {
  return RunAll(std::make_shared<const Config>(config), store, evaluator, std::move(stop));
}

// The study's trials by candidate name.
inline std::map<std::string, db::TrialRow> TrialsByName(const db::Store& store) {
  std::map<std::string, db::TrialRow> out;
  for (const auto& t : store.Trials()) out[t.candidate_name] = t;
  return out;
}

}  // namespace fnas::testing
