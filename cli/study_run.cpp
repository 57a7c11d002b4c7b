#include "cli/study_run.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/interrupt.h"
#include "common/error.h"
#include "distributed/remote_evaluator.h"
#include "distributed/worker.h"
#include "search/driver.h"
#include "search/evaluator.h"
#include "search/execution.h"
#include "search/progress.h"
#ifdef FNAS_HAVE_MPI
#include "distributed/mpi_channel.h"
#endif

namespace fnas::cli {

void AddStudyRunOptions(CLI::App* app, StudyRunArgs& args) {
  app->add_flag("--quiet,-q", args.quiet, "Print nothing but errors and the final outcome");
  app->add_flag("--mpi", args.mpi,
                "Spread the trials over the ranks of an MPI job (mpirun, srun): rank 0 runs the "
                "search and writes the database, the other ranks train (docs/distributed.md)");
  app->add_option("--evaluator", args.evaluator, "Evaluator (development)")->group("");
}

namespace {

std::string ShellQuote(const std::string& s) {
  if (s.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:+") ==
      std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int RunStudy(std::shared_ptr<const Config> config, db::Store& store, search::Evaluator& evaluator,
             bool quiet, int remote_slots) {
  // Under mpirun stdout is a pseudo-terminal even when the job's output goes
  // to a file: with --mpi the progress is plain log lines.
  const bool tty = isatty(STDOUT_FILENO) != 0 && remote_slots == 0;
  std::unique_ptr<search::Progress> progress = search::MakeProgress(std::cout, quiet, tty);
  const InterruptGuard guard("the database stays consistent");
  search::DriverOptions options;
  if (remote_slots > 0) {
    // One driver worker per remote slot; the devices are the worker ranks'.
    auto remote = std::make_shared<Config>(*config);
    remote->execution.workers = remote_slots;
    config = std::move(remote);
    options.local_trials = false;
  }
  options.stale_after_s = db::LeaseSeconds();
  options.stop_requested = [&guard] { return guard.stop_requested(); };
  search::Driver driver(config, store, evaluator, *progress, options);
  const search::SearchSummary s = driver.Run();

  const std::string resume = "factorize-nas resume " + ShellQuote(store.path());
  const std::string counts = std::to_string(s.completed) + " completed, " +
                             std::to_string(s.pruned) + " pruned, " + std::to_string(s.failed) +
                             " failed, " + std::to_string(s.interrupted) + " interrupted, " +
                             std::to_string(s.not_started) + " not started in this run";
  if (s.stopped) {
    std::cout << "interrupted: " << counts << "\n"
              << "continue with: " << resume << "\n";
    return kExitInterrupted;
  }
  if (s.environment > 0) {
    // Not the candidates' fault and not final: the trials are INTERRUPTED.
    std::cout << "stopped by the environment: " << counts << "\n";
    std::cerr << "error: " << s.environment << " trial(s) stopped by the environment ("
              << s.environment_reason << "); they are INTERRUPTED, not FAILED: fix the cause "
              << "(free disk space, memory) and continue with: " << resume << "\n";
    return kExitRuntime;
  }
  if (s.failed > 0 && s.completed == 0 && s.pruned == 0) {
    std::cout << "done: " << counts << "\n";
    std::cerr << "error: every trial of this run failed (" << s.failed
              << "); the reasons: factorize-nas trials " << ShellQuote(store.path())
              << " --state FAILED\n";
    return kExitRuntime;
  }
  if (!quiet) {
    std::cout << "done: " << s.total << " trials (" << s.skipped << " finished before, "
              << s.completed << " completed, " << s.pruned << " pruned, " << s.failed
              << " failed); front of " << s.front.size() << " trial(s)\n"
              << "show it with: factorize-nas front " << ShellQuote(store.path()) << "\n";
  }
  return kExitOk;
}

std::unique_ptr<search::Evaluator> StudyRunner::MakeEvaluator(const Config& config) {
  if (!channel_) return search::MakeEvaluator(args_.evaluator, config);
  std::vector<distributed::RemoteSlot> slots = distributed::StartWorkers(*channel_, config);
  remote_slots_ = static_cast<int>(slots.size());
  if (!args_.quiet) {
    std::cout << "mpi: " << channel_->size() - 1 << " worker rank(s), " << remote_slots_
              << " trial slot(s); rank 0 (" << channel_->host() << ") writes the database\n";
  }
  auto remote = std::make_unique<distributed::RemoteEvaluator>(*channel_, std::move(slots));
  remote_ = remote.get();
  return remote;
}

int StudyRunner::Run(std::shared_ptr<const Config> config, db::Store& store,
                     search::Evaluator& evaluator) {
  const int code = RunStudy(std::move(config), store, evaluator, args_.quiet, remote_slots_);
  if (remote_ && &evaluator == remote_ && !args_.quiet) {
    const distributed::MessagingStats s = remote_->stats();
    if (s.trials > 0) {
      char line[200];
      std::snprintf(line, sizeof line,
                    "mpi: %d trial(s) ran on worker ranks; messaging overhead %.1f ms a trial, "
                    "%.3f%% of their compute (%.1f s a trial)\n",
                    s.trials, 1e3 * s.overhead_s() / s.trials,
                    s.compute_s() > 0 ? 100 * s.overhead_s() / s.compute_s() : 0.0,
                    s.compute_s() / s.trials);
      std::cout << line;
    }
  }
  return code;
}

int RunStudyCommand(const StudyRunArgs& args, const std::function<int(StudyRunner&)>& lead) {
  StudyRunner runner(args);
  if (!args.mpi) return lead(runner);
#ifndef FNAS_HAVE_MPI
  throw UsageError(
      "--mpi: this factorize-nas was built without MPI; install libopenmpi-dev and openmpi-bin, "
      "rebuild, and start it with mpirun or srun (docs/distributed.md)");
#else
  distributed::MpiChannel channel;
  if (channel.rank() != 0) {
    distributed::WorkerPlacement placement;
    placement.local_rank = channel.local_rank();
    placement.local_size = channel.local_size();
    return distributed::RunWorker(channel, placement, [&args](const Config& config) {
      return search::MakeEvaluator(args.evaluator, config);
    });
  }
  if (channel.size() == 1) {
    if (!args.quiet) std::cout << "mpi: one rank only: the trials run in this process\n";
    return lead(runner);
  }
  runner.channel_ = &channel;
  int code = kExitRuntime;
  try {
    code = lead(runner);
  } catch (...) {
    distributed::StopWorkers(channel, kExitRuntime);
    throw;
  }
  distributed::StopWorkers(channel, code);
  return code;
#endif
}

}  // namespace fnas::cli
