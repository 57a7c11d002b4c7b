// The search driver: runs the trials of the study stored in a Store, `workers`
// at a time on oneTBB, and records everything in the store.
//
// A Driver is used from one thread (Run); RequestStop may be called from any
// thread. The store, evaluator and progress are borrowed and must outlive Run.
//
// Run: becomes the study's owner (a second process is refused), then runs
// what is left (search/work_left.h: pending candidates in position order,
// RUNNING (stale) and INTERRUPTED trials from their last checkpoint) and what
// the study's strategy appends while it runs (search/strategy.h), `workers`
// at a time (search/scheduler.h), with a heartbeat (search/heartbeat.h). A
// trial that fails is recorded FAILED and the search goes on; one stopped by
// the environment (IsEnvironmentFailure: disk full, I/O error, out of memory)
// is recorded INTERRUPTED with the reason, for resume to retry, and no new
// trial starts. After a stop
// request no trial starts; running ones finish their epoch, checkpoint and are
// recorded INTERRUPTED. If this process is paused past its lease and another
// takes the study over (db::OwnershipLost), it stops at once and writes
// nothing more, neither rows nor checkpoints (Run throws). At each pruning rung (config.pruning)
// the trial is judged by the pruner against the trials that reached that rung before it; a pruned
// trial stops at once and is recorded PRUNED with the decision. Store errors end the search
// (thrown). Tail balancing (execution.tail_balance, local trials only): once nothing is queued
// and workers are idle, a running trial's intra-op threads are raised at its next epoch
// boundary to its share of the study's threads (TailThreads), and lowered back when work is
// queued again; the verdict of that epoch says so (EpochVerdict::threads). Tail sharing
// (execution.tail_share, the default, local trials only, not beside tail_balance): the scheduler
// gets workers - 1 tail slots, so the study's last partial wave starts beside the busy workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "db/store.h"
#include "search/evaluator.h"
#include "search/pareto.h"
#include "search/progress.h"
#include "search/pruner.h"
#include "search/scheduler.h"
#include "search/work_left.h"

namespace fnas::search {

struct DriverOptions {
  double heartbeat_s = 1.0;              // how often the owner and running trials show they live
  double stale_after_s = 30.0;           // an owner silent this long is dead (any host)
  std::function<bool()> stop_requested;  // polled (e.g. a SIGINT flag); may be empty
  int cores = 0;                         // cores to share between workers; 0 = hardware concurrency
  // False when the trials run in other processes (distributed/: MPI ranks),
  // which check and pick their own devices and threads: then this process
  // needs no device, and no trial's threads are balanced (tail_balance).
  bool local_trials = true;
};

struct SearchSummary {
  int total = 0;      // candidates of the study (with those appended in this run)
  int appended = 0;   // candidates the strategy appended in this run
  int skipped = 0;    // already finished before this run
  int completed = 0;  // finished COMPLETE in this run
  int pruned = 0;     // stopped PRUNED at a rung in this run
  int failed = 0;
  int interrupted = 0;             // stopped, resumable (environment failures included)
  int environment = 0;             // of which stopped by the environment (IsEnvironmentFailure)
  std::string environment_reason;  // the first environment failure's message
  int not_started = 0;             // left pending by a stop
  bool stopped = false;            // a stop was requested (SIGINT, SIGTERM, RequestStop)
  std::vector<FrontPoint> front;   // quint8 front of every COMPLETE trial
};

class Driver {
 public:
  Driver(std::shared_ptr<const Config> config, db::Store& store, Evaluator& evaluator,
         Progress& progress, DriverOptions options = {});
  SearchSummary Run();
  void RequestStop() { stop_.store(true); }
  bool Stopping() const;

 private:
  class Observer;
  void RunTrial(const WorkItem& work, int slot);
  // A trial met an environment failure: counted, announced once; no new
  // trial starts (Stopping() is true from now on).
  void EnvironmentFailed(const std::string& what);
  // At a rung: decides with the pruner against the trials that reached this
  // rung before, and commits the epoch, the rung result and the decision (and
  // PRUNED) in one transaction. Serialized by rung_mu_.
  EpochVerdict JudgeRung(int64_t trial, int64_t macs_conv, const evaluators::EpochRecord& record,
                         const evaluators::QuantReport& validation, const std::string& checkpoint);

  std::shared_ptr<const Config> config_;
  db::Store& store_;
  Evaluator& evaluator_;
  Progress& progress_;
  DriverOptions options_;
  std::unique_ptr<Pruner> pruner_;
  std::vector<int> rungs_;  // ascending rung epochs of the budget
  std::mutex rung_mu_;      // one rung decision at a time
  std::atomic<bool> stop_{false};
  mutable std::atomic<bool> announced_{false};  // the stop message was shown
  std::atomic<bool> environment_failed_{false};
  std::atomic<bool> lost_{false};  // another process took the study over (lease expired)
  std::string checkpoint_root_;
  int threads_ = 1;       // intra-op threads a trial starts with
  int workers_ = 1;       // slots of the scheduler
  int cores_ = 1;         // cores shared between the workers
  bool balance_ = false;  // tail balancing applies (local trials, option on, not deterministic)
  int cuda_devices_ = 0;
  Scheduler* scheduler_ = nullptr;  // during Run: told of every recorded epoch

  std::mutex mu_;  // guards summary_ and front_
  // Trials are started (given their ids) in the scheduler's hand-out order,
  // whichever slot's thread gets there first: ids follow the queue (Turn).
  class Turn;
  std::mutex start_mu_;
  std::condition_variable start_cv_;
  long next_start_ = 0;  // the ticket whose trial starts next
  SearchSummary summary_;
  IncrementalFront front_;
};

}  // namespace fnas::search
