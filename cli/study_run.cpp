#include "cli/study_run.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>

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

std::atomic<int> g_interrupts{0};
static_assert(std::atomic<int>::is_always_lock_free, "signal handler needs a lock-free atomic");

// A C++ function with internal linkage (extern "C" would clash with other
// commands' handlers at link time).
void OnStudyInterrupt(int) {
  if (g_interrupts.fetch_add(1) >= 1) {
    static const char kMsg[] = "\ninterrupted again: exiting now (the database stays consistent)\n";
    const ssize_t n = write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    (void)n;
    _exit(kExitInterrupted);
  }
}

// Installs the handler for the lifetime of a run.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupts.store(0);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnStudyInterrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_, old_term_;
};

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
  InterruptGuard guard;
  search::DriverOptions options;
  options.stale_after_s = db::LeaseSeconds();
  options.stop_requested = [] { return g_interrupts.load() > 0; };
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
