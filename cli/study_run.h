// What `search` and `resume` share: run the study stored in a Store with
// Ctrl-C handling and progress, then print the outcome. Used by the CLI only.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "db/store.h"
#include "search/evaluator.h"

namespace fnas::distributed {
class Channel;
class RemoteEvaluator;
}  // namespace fnas::distributed

namespace fnas::cli {

// The hidden --evaluator option of search and resume ("training" by default;
// "scripted:OPTIONS" runs the fake evaluator used by tests).
constexpr const char* kDefaultEvaluator = "training";

// The options `search` and `resume` share: --quiet, --mpi and the hidden --evaluator.
struct StudyRunArgs {
  bool quiet = false;
  bool mpi = false;
  std::string evaluator = kDefaultEvaluator;
};
void AddStudyRunOptions(CLI::App* app, StudyRunArgs& args);

// Runs every unfinished trial. The first SIGINT/SIGTERM stops starting
// trials and lets running ones finish their epoch (exit 130 with the resume
// command); a second one exits at once with 130. Returns the exit code.
// remote_slots > 0: `evaluator` runs the trials on that many slots of other
// MPI ranks (a distributed::RemoteEvaluator): the driver runs that many
// workers and leaves the devices to those ranks.
int RunStudy(std::shared_ptr<const Config> config, db::Store& store, search::Evaluator& evaluator,
             bool quiet, int remote_slots = 0);

// How `search` and `resume` run their study: in this process, or with --mpi
// over the ranks of an MPI job, where rank 0 (the only one that gets a
// StudyRunner) runs the driver and alone writes the database, and the other
// ranks run the trials (docs/distributed.md). Used from the main thread.
class StudyRunner {
 public:
  explicit StudyRunner(const StudyRunArgs& args) : args_(args) {}
  // Whether the trials run on other ranks (which check their own devices).
  bool distributed() const { return channel_ != nullptr; }
  // The study's evaluator, made before the database is created or touched:
  // here, or on every worker rank (each parses the config, loads the data and
  // checks its device; the first failure is thrown, naming the rank).
  std::unique_ptr<search::Evaluator> MakeEvaluator(const Config& config);
  // RunStudy with that evaluator.
  int Run(std::shared_ptr<const Config> config, db::Store& store, search::Evaluator& evaluator);

 private:
  friend int RunStudyCommand(const StudyRunArgs&, const std::function<int(StudyRunner&)>&);
  const StudyRunArgs& args_;
  distributed::Channel* channel_ = nullptr;
  distributed::RemoteEvaluator* remote_ = nullptr;  // made by MakeEvaluator, owned by the caller
  int remote_slots_ = 0;
};

// Runs `lead` with the runner `args` ask for and returns its exit code.
// With --mpi: starts MPI; on ranks other than 0 runs the worker loop instead
// of `lead`; on rank 0 stops the workers once `lead` returned or threw. Throws
// UsageError for --mpi in a build without MPI.
int RunStudyCommand(const StudyRunArgs& args, const std::function<int(StudyRunner&)>& lead);

}  // namespace fnas::cli
