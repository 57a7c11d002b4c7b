#include "cli/study_run.h"

#include <unistd.h>

#include <iostream>

#include "cli/interrupt.h"
#include "common/error.h"
#include "search/driver.h"
#include "search/evaluator.h"
#include "search/progress.h"

namespace fnas::cli {

void AddStudyRunOptions(CLI::App* app, StudyRunArgs& args) {
  app->add_flag("--quiet,-q", args.quiet, "Print nothing but errors and the final outcome");
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
             bool quiet) {
  const bool tty = isatty(STDOUT_FILENO) != 0;
  std::unique_ptr<search::Progress> progress = search::MakeProgress(std::cout, quiet, tty);
  const InterruptGuard guard("the database stays consistent");
  search::DriverOptions options;
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

}  // namespace fnas::cli
