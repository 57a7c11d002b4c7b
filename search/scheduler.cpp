#include "search/scheduler.h"

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace fnas::search {

Scheduler::Scheduler(db::Store& store, const Strategy& strategy, std::vector<WorkItem> items)
    : store_(store), strategy_(strategy), queue_(items.begin(), items.end()) {}

bool Scheduler::Next(const Hooks& hooks, int slot, WorkItem& item) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (failed_ || (hooks.stopping && hooks.stopping())) return false;
    if (!queue_.empty()) {
      // A tail slot starts an item only beside busy workers and when what is
      // queued is less than one wave of them (it would otherwise run alone
      // at the end while cores idle).
      const bool tail = slot >= workers_;
      const bool may =
          !tail || (static_cast<int>(queue_.size()) < workers_ && workers_running_ >= workers_);
      if (!may) {
        const size_t queued = queue_.size();
        const long seen = evidence_;
        cv_.wait_for(lock, std::chrono::milliseconds(250),
                     [&] { return evidence_ != seen || queue_.size() != queued || failed_; });
        continue;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
      item.ticket = handed_out_++;
      ++running_;
      if (!tail) ++workers_running_;
      ++busy_;
      busy_slot_.at(static_cast<size_t>(slot)) = 1;
      cv_.notify_all();  // the queue shrank: a tail slot may start now
      return true;
    }
    if (slot >= workers_) {
      // Tail slots never ask the strategy (the workers do, when one is free):
      // they wait for a queue, or for the end.
      if (over_) return false;
      const long seen = evidence_;
      cv_.wait_for(lock, std::chrono::milliseconds(250),
                   [&] { return evidence_ != seen || !queue_.empty() || failed_ || over_; });
      continue;
    }
    const long seen = evidence_;
    std::vector<db::CandidateRow> rows = strategy_.Propose(store_);
    if (!rows.empty()) {
      rows = store_.AddCandidates(rows);
      appended_ += static_cast<int>(rows.size());
      for (const auto& row : rows) queue_.push_back({row, 0, 0});
      if (hooks.added) hooks.added(rows);
      cv_.notify_all();
      continue;
    }
    if (running_ == 0) {
      over_ = true;
      cv_.notify_all();  // the others see the same: the search is over
      return false;
    }
    // Wait for new evidence (or a stop, polled).
    cv_.wait_for(lock, std::chrono::milliseconds(250),
                 [&] { return evidence_ != seen || !queue_.empty() || failed_; });
  }
}

void Scheduler::ReleaseLocked(int slot) {
  char& busy = busy_slot_.at(static_cast<size_t>(slot));
  if (busy) --busy_;
  busy = 0;
}

void Scheduler::Released(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseLocked(slot);
}

Scheduler::Load Scheduler::load() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {busy_, static_cast<int>(queue_.size())};
}

void Scheduler::Done(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseLocked(slot);
  --running_;
  if (slot < workers_) --workers_running_;
  ++evidence_;
  cv_.notify_all();
}

void Scheduler::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  ++evidence_;
  cv_.notify_all();
}

int Scheduler::not_started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queue_.size());
}

int Scheduler::appended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return appended_;
}

void Scheduler::Run(int workers, const Hooks& hooks, int tail_slots) {
  const int slots = workers + std::max(0, tail_slots);
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers_ = workers;
    busy_slot_.assign(static_cast<size_t>(std::max(0, slots)), 0);
  }
  std::mutex error_mu;
  std::exception_ptr error;
  auto fail = [&](std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = e;
    }
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    cv_.notify_all();
  };
  // One slot: items until the search is over.
  auto slot_loop = [&](int slot) {
    WorkItem item;
    while (true) {
      try {
        if (!Next(hooks, slot, item)) break;
      } catch (...) {
        fail(std::current_exception());
        break;
      }
      try {
        hooks.run(item, slot);
      } catch (...) {
        fail(std::current_exception());
      }
      Done(slot);
    }
  };
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer (`make tsan`) cannot see the synchronization inside
  // Debian's oneTBB, which is not instrumented: every hand-over of a task
  // would be reported as a race. Under it the slots are plain threads, so the
  // reports are about this project's own sharing (store, driver, heartbeat,
  // display). Nested parallelism of a trial then uses the default arena.
  std::vector<std::thread> threads;
  for (int slot = 0; slot < slots; ++slot) threads.emplace_back(slot_loop, slot);
  for (auto& t : threads) t.join();
#else
  try {
    // Enough TBB threads for `slots` concurrent trials even on fewer cores.
    tbb::global_control parallelism(
        tbb::global_control::max_allowed_parallelism,
        std::max<size_t>(
            static_cast<size_t>(slots),
            tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism)));
    tbb::task_arena arena(slots);
    arena.execute([&] {
      tbb::parallel_for(
          0, slots, 1,
          [&](int slot) {
            // Isolated: a thread waiting inside a trial never picks up another trial.
            tbb::this_task_arena::isolate([&] { slot_loop(slot); });
          },
          tbb::simple_partitioner());
    });
  } catch (...) {
    fail(std::current_exception());
  }
#endif
  if (error) std::rethrow_exception(error);
}

}  // namespace fnas::search
