// Rank 0's side of a study spread over MPI ranks (docs/distributed.md): the
// driver, the strategy, the pruner and the store stay on rank 0, unchanged;
// its Evaluator is a RemoteEvaluator, which runs each trial on a free worker
// slot of another rank and relays that rank's reports to the driver's
// TrialObserver, sending each epoch's verdict back. A pruning decision at a
// rung is thus taken on rank 0 exactly as in one process, while the worker
// waits for it.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "distributed/channel.h"
#include "search/evaluator.h"

namespace fnas::distributed {

// One trial at a time on a worker rank.
struct RemoteSlot {
  int rank = 0;
  int slot = 0;
  std::string host;
};

// Sends the study's config (config.yaml_text) to every other rank and waits
// for each one's slots. Throws the setup failure of the first rank that could
// not load the config, its data or its device (UsageError when its exit code
// is 2, else RuntimeError), naming the rank and its host.
std::vector<RemoteSlot> StartWorkers(Channel& channel, const Config& config);

// Tells every other rank to stop and waits for each one's last message; the
// trials they still run are stopped. Call once, when no Run is in progress.
void StopWorkers(Channel& channel, int code);

// What running trials remotely cost, summed over the trials that finished.
// Messaging overhead = (rank 0's wall time of a trial - the worker's Run time)
// + (the worker's waits for verdicts - rank 0's time deciding them: storing
// the epoch, the pruning decision, which one process spends too). Compute =
// the worker's Run time - its waits.
struct MessagingStats {
  int trials = 0;
  double wall_s = 0, run_s = 0, wait_s = 0, judge_s = 0;
  double overhead_s() const { return (wall_s - run_s) + (wait_s - judge_s); }
  double compute_s() const { return run_s - wait_s; }
};

// Thread-safe: Run is called concurrently by the driver's workers, at most
// slots().size() at a time (a call beyond waits for a free slot). The channel
// must outlive this object.
class RemoteEvaluator : public search::Evaluator {
 public:
  RemoteEvaluator(Channel& channel, std::vector<RemoteSlot> slots);
  // Sends the spec (without its config: the worker has it; checkpoint paths
  // made absolute, so that a rank started in another folder finds them) and
  // relays the reports. Checkpoint paths come back as the spec gave them. An
  // error the worker's evaluator threw is rethrown here (EnvironmentError for
  // an environment failure, else RuntimeError) with its message.
  search::TrialOutcome Run(const search::TrialSpec& spec, search::TrialObserver& observer) override;
  const std::vector<RemoteSlot>& slots() const { return slots_; }
  MessagingStats stats() const;

 private:
  RemoteSlot Acquire();
  void Release(const RemoteSlot& slot);

  Channel& channel_;
  const std::vector<RemoteSlot> slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RemoteSlot> free_;
  MessagingStats stats_;
};

}  // namespace fnas::distributed
