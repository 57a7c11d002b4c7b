// The Ctrl-C policy of the commands that run for long (train, search,
// resume): the first SIGINT or SIGTERM asks for a graceful stop, which the
// command polls (stop_requested(), or stop_flag() handed to the Trainer) and
// answers by finishing its epoch, writing its checkpoint and exiting 130; a
// second one exits at once with 130 after printing `second_message`.
//
// One guard at a time (the handler's state is process-wide), for the lifetime
// of a run; the previous handlers come back when it is destroyed. Not
// thread-safe to construct; stop_requested() may be polled from any thread.
#pragma once

#include <signal.h>

#include <atomic>

namespace fnas::cli {

class InterruptGuard {
 public:
  // `second_message` (a string literal: the handler prints it) says what a
  // second interrupt leaves behind, e.g. "the database stays consistent".
  explicit InterruptGuard(const char* second_message);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // Whether a first interrupt arrived.
  bool stop_requested() const;
  // The flag behind stop_requested(), for code that reads an atomic<bool>.
  const std::atomic<bool>* stop_flag() const;

 private:
  struct sigaction old_int_, old_term_;
};

}  // namespace fnas::cli
