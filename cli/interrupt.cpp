#include "cli/interrupt.h"

#include <unistd.h>

#include <cstring>

#include "common/error.h"

namespace fnas::cli {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_interrupts{0};
std::atomic<const char*> g_second_message{""};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free &&
                  std::atomic<const char*>::is_always_lock_free,
              "a signal handler needs lock-free atomics");

void Write(const char* text) {
  const ssize_t n = write(STDERR_FILENO, text, std::strlen(text));
  (void)n;
}

// A C++ function with internal linkage: async-signal-safe calls only.
void OnInterrupt(int) {
  if (g_interrupts.fetch_add(1) >= 1) {
    Write("\ninterrupted again: exiting now (");
    Write(g_second_message.load());
    Write(")\n");
    _exit(kExitInterrupted);
  }
  g_stop.store(true);
}

}  // namespace

InterruptGuard::InterruptGuard(const char* second_message) {
  g_second_message.store(second_message);
  g_interrupts.store(0);
  g_stop.store(false);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

bool InterruptGuard::stop_requested() const { return g_stop.load(); }

const std::atomic<bool>* InterruptGuard::stop_flag() const { return &g_stop; }

}  // namespace fnas::cli
