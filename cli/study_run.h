// What `search` and `resume` share: run the study stored in a Store with
// Ctrl-C handling and progress, then print the outcome. Used by the CLI only.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "config/config.h"
#include "db/store.h"
#include "search/evaluator.h"

namespace fnas::cli {

// The hidden --evaluator option of search and resume ("training" by default;
// "scripted:OPTIONS" runs the fake evaluator used by tests).
constexpr const char* kDefaultEvaluator = "training";

// The options `search` and `resume` share: --quiet and the hidden --evaluator.
struct StudyRunArgs {
  bool quiet = false;
  std::string evaluator = kDefaultEvaluator;
};
void AddStudyRunOptions(CLI::App* app, StudyRunArgs& args);

// Runs every unfinished trial. The first SIGINT/SIGTERM stops starting
// trials and lets running ones finish their epoch (exit 130 with the resume
// command); a second one exits at once with 130. Returns the exit code.
int RunStudy(std::shared_ptr<const Config> config, db::Store& store, search::Evaluator& evaluator,
             bool quiet);

}  // namespace fnas::cli
