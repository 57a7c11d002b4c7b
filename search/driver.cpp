#include "search/driver.h"

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <thread>

#include "common/error.h"
#include "search/execution.h"
#include "search/pruner.h"

namespace fnas::search {

namespace fs = std::filesystem;

// Forwards one trial's reports to the store and the display. A store error is
// remembered and rethrown by the driver: it is not the trial's failure.
class Driver::Observer : public TrialObserver {
 public:
  Observer(Driver& driver, int64_t trial, int64_t macs_conv, int slot)
      : d_(driver), trial_(trial), macs_conv_(macs_conv), slot_(slot) {}

  EpochVerdict OnEpoch(const evaluators::EpochRecord& record,
                       const evaluators::QuantReport* validation,
                       const std::string& checkpoint) override {
    // A pruned trial is finished: an evaluator that goes on is told again.
    if (pruned_.prune) return pruned_;
    EpochVerdict verdict;
    try {
      if (validation && std::binary_search(d_.rungs_.begin(), d_.rungs_.end(), record.epoch)) {
        verdict = d_.JudgeRung(trial_, macs_conv_, record, *validation, checkpoint);
      } else {
        d_.store_.RecordEpoch(trial_, record, validation, checkpoint);
      }
    } catch (...) {
      store_error_ = std::current_exception();
      throw;
    }
    // The committed checkpoint replaces the previous one.
    if (!last_checkpoint_.empty() && last_checkpoint_ != checkpoint) {
      std::error_code ec;
      fs::remove(last_checkpoint_, ec);
    }
    last_checkpoint_ = checkpoint;
    d_.progress_.Epoch(slot_, record, validation);
    if (verdict.prune) pruned_ = verdict;
    return verdict;
  }
  void OnProgress(int epoch, int batch, int batches, double loss, double images_per_s) override {
    d_.progress_.Batch(slot_, epoch, batch, batches, loss, images_per_s);
  }
  bool StopRequested() const override { return d_.Stopping(); }

  void set_last_checkpoint(const std::string& path) { last_checkpoint_ = path; }
  std::exception_ptr store_error() const { return store_error_; }
  // The prune verdict, once the store recorded the trial PRUNED.
  const EpochVerdict& pruned() const { return pruned_; }

 private:
  Driver& d_;
  const int64_t trial_;
  const int64_t macs_conv_;
  const int slot_;
  EpochVerdict pruned_;
  std::string last_checkpoint_;
  std::exception_ptr store_error_;
};

Driver::Driver(std::shared_ptr<const Config> config, db::Store& store, Evaluator& evaluator,
               Progress& progress, DriverOptions options)
    : config_(std::move(config)),
      store_(store),
      evaluator_(evaluator),
      progress_(progress),
      options_(std::move(options)),
      pruner_(MakePruner(config_->pruning)),
      rungs_(RungEpochs(config_->pruning, config_->training.epochs)) {}

EpochVerdict Driver::JudgeRung(int64_t trial, int64_t macs_conv,
                               const evaluators::EpochRecord& record,
                               const evaluators::QuantReport& validation,
                               const std::string& checkpoint) {
  // One decision at a time: the peers read are exactly the rung results
  // committed before this one (the store's order of arrival).
  std::lock_guard<std::mutex> lock(rung_mu_);
  db::RungRecord rung;
  rung.result.trial_id = trial;
  rung.result.epoch = record.epoch;
  rung.result.macs_conv = macs_conv;
  rung.result.validation = validation.metrics;
  const RungResult self = ToRungResult(rung.result);
  std::vector<RungResult> peers;
  for (const db::RungRow& r : store_.RungResults(record.epoch)) {
    if (r.trial_id != trial) peers.push_back(ToRungResult(r));
  }
  const PruneVerdict v = pruner_->Decide(self, peers);
  rung.decision.trial_id = trial;
  rung.decision.rung_epoch = record.epoch;
  rung.decision.decision = v.prune ? "prune" : "continue";
  rung.decision.rule = v.rule;
  rung.decision.reason = v.reason;
  rung.decision.evidence = v.evidence;
  store_.RecordEpoch(trial, record, &validation, checkpoint, &rung);
  return {v.prune, v.reason};
}

bool Driver::Stopping() const {
  const bool stopping = stop_.load() || (options_.stop_requested && options_.stop_requested());
  // Whoever sees the stop first (the display thread or a trial) announces it, once.
  if (stopping && !announced_.exchange(true)) {
    progress_.Message(
        "stopping: no new trial starts; running trials finish their epoch and save a "
        "checkpoint (Ctrl-C again quits at once)");
  }
  return stopping;
}

SearchSummary Driver::Run() {
  const ExecutionOptions& exec = config_->execution;
  CheckDevice(exec);
  if (exec.device.rfind("cuda", 0) == 0) {
    cuda_devices_ = static_cast<int>(torch::cuda::device_count());
  }
  const int cores = options_.cores > 0
                        ? options_.cores
                        : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  store_.AcquireOwnership(options_.stale_after_s);
  const db::StudyRow study = store_.Study();
  checkpoint_root_ = study.checkpoint_dir;

  // What is left to do, in config order.
  std::map<int64_t, db::TrialRow> by_candidate;
  for (auto& t : store_.Trials()) by_candidate[t.candidate_id] = t;
  std::vector<Work> todo;
  long epochs_left = 0;
  const int epochs = config_->training.epochs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_ = SearchSummary{};
    front_ = IncrementalFront{};
    for (const auto& c : store_.Candidates()) {
      ++summary_.total;
      auto it = by_candidate.find(c.id);
      if (it == by_candidate.end()) {
        todo.push_back({c, 0});
        epochs_left += epochs;
        continue;
      }
      const db::TrialRow& t = it->second;
      if (db::IsFinished(t.state)) {
        ++summary_.skipped;
        if (t.state == db::TrialState::kComplete) front_.Insert({t.id, t.macs_conv, t.test.acc_q});
        continue;
      }
      todo.push_back({c, t.id});
      epochs_left += std::max(0, epochs - (t.checkpoint.empty() ? 0 : t.checkpoint_epoch));
    }
  }
  const int workers = WorkerCount(exec, cores, static_cast<int>(todo.size()));
  threads_ = ThreadsPerWorker(exec, cores, workers);
  progress_.Begin(study.name, summary_.total, summary_.skipped, epochs_left, workers);

  // Heartbeat and display thread.
  std::mutex hb_mu;
  std::condition_variable hb_cv;
  bool hb_done = false;
  std::thread heartbeat([&] {
    auto last = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(hb_mu);
    while (!hb_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return hb_done; })) {
      progress_.Tick();
      (void)Stopping();  // announces a stop as soon as it is requested
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last).count() >= options_.heartbeat_s) {
        last = now;
        try {
          store_.Heartbeat();
        } catch (const std::exception& e) {
          progress_.Message(std::string("warning: heartbeat failed: ") + e.what());
        }
      }
    }
  });
  auto stop_heartbeat = [&] {
    {
      std::lock_guard<std::mutex> lock(hb_mu);
      hb_done = true;
    }
    hb_cv.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  };

  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  try {
    // Enough TBB threads for `workers` concurrent trials even on fewer cores.
    tbb::global_control parallelism(
        tbb::global_control::max_allowed_parallelism,
        std::max<size_t>(
            static_cast<size_t>(workers),
            tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism)));
    tbb::task_arena arena(workers);
    arena.execute([&] {
      tbb::parallel_for(
          0, workers, 1,
          [&](int slot) {
            // Isolated: a thread waiting inside a trial never picks up another trial.
            tbb::this_task_arena::isolate([&] {
              while (!Stopping()) {
                const size_t i = next.fetch_add(1);
                if (i >= todo.size()) break;
                try {
                  RunTrial(todo[i], slot);
                } catch (...) {
                  std::lock_guard<std::mutex> lock(error_mu);
                  if (!error) error = std::current_exception();
                  stop_.store(true);
                  break;
                }
              }
            });
          },
          tbb::simple_partitioner());
    });
  } catch (...) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (!error) error = std::current_exception();
  }
  stop_heartbeat();
  progress_.End();
  if (error) {
    store_.ReleaseOwnership();
    std::rethrow_exception(error);
  }
  store_.ReleaseOwnership();

  std::lock_guard<std::mutex> lock(mu_);
  summary_.stopped = Stopping();
  const size_t started = std::min(next.load(), todo.size());
  summary_.not_started = static_cast<int>(todo.size() - started);
  summary_.front = front_.Points();
  return summary_;
}

void Driver::RunTrial(const Work& work, int slot) {
  const space::Candidate& candidate = work.candidate.candidate;
  const std::string worker =
      db::HostName() + ":" + std::to_string(getpid()) + "/w" + std::to_string(slot);
  TrialSpec spec;
  spec.study = config_->name;
  spec.candidate = candidate;
  spec.config = config_;
  spec.epochs = config_->training.epochs;
  spec.record_epochs = RecordEpochs(config_->search, spec.epochs);
  spec.rung_epochs = rungs_;  // rungs are recorded epochs
  for (int e : rungs_) {
    if (!spec.RecordsEpoch(e)) {
      spec.record_epochs.insert(
          std::upper_bound(spec.record_epochs.begin(), spec.record_epochs.end(), e), e);
    }
  }
  spec.seed = TrialSeed(config_->seed, candidate.key);
  spec.threads = threads_;
  spec.device = WorkerDevice(config_->execution, slot, cuda_devices_);
  if (work.trial_id == 0) {
    spec.trial_id = store_.StartTrial(work.candidate.id, worker);
  } else {
    const db::TrialRow row = store_.RestartTrial(work.trial_id, worker);
    spec.trial_id = row.id;
    spec.start_epoch = row.checkpoint.empty() ? 0 : row.checkpoint_epoch;
    spec.resume_checkpoint = row.checkpoint;
  }
  spec.checkpoint_dir = checkpoint_root_ + "/trial-" + std::to_string(spec.trial_id);
  std::error_code ec;
  fs::create_directories(spec.checkpoint_dir, ec);
  if (ec) {
    throw RuntimeError(spec.checkpoint_dir +
                       ": cannot create the checkpoint folder: " + ec.message());
  }
  SetIntraOpThreads(spec.threads);

  Observer observer(*this, spec.trial_id, work.candidate.macs_conv, slot);
  observer.set_last_checkpoint(spec.resume_checkpoint);
  progress_.TrialStarted(slot, spec.trial_id, candidate.name, spec.start_epoch, spec.epochs);
  TrialOutcome outcome;
  try {
    outcome = evaluator_.Run(spec, observer);
  } catch (const std::exception& e) {
    if (observer.store_error()) std::rethrow_exception(observer.store_error());
    outcome = TrialOutcome{};
    outcome.status = TrialOutcome::Status::kFailed;
    outcome.message = e.what();
  } catch (...) {
    if (observer.store_error()) std::rethrow_exception(observer.store_error());
    outcome = TrialOutcome{};
    outcome.status = TrialOutcome::Status::kFailed;
    outcome.message = "unknown exception";
  }
  if (outcome.status == TrialOutcome::Status::kCompleted &&
      !(std::isfinite(outcome.test.metrics.acc_fp32) &&
        std::isfinite(outcome.test.metrics.acc_q))) {
    outcome.status = TrialOutcome::Status::kFailed;
    outcome.message = "diverged: the final test accuracy is not finite";
  }
  // The store recorded the trial PRUNED with the decision (even if an
  // evaluator went on regardless).
  if (observer.pruned().prune) {
    outcome.status = TrialOutcome::Status::kPruned;
    outcome.message = observer.pruned().reason;
  }

  std::string text;
  switch (outcome.status) {
    case TrialOutcome::Status::kCompleted: {
      store_.CompleteTrial(spec.trial_id, outcome.test);
      const auto& m = outcome.test.metrics;
      char buf[160];
      std::snprintf(buf, sizeof buf, "COMPLETE fp32 %.4f quint8 %.4f (-%.2f%%) qmse %.4g",
                    m.acc_fp32, m.acc_q, m.rel_decrease, m.qmse);
      text = buf;
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.completed;
      if (front_.Insert({spec.trial_id, work.candidate.macs_conv, m.acc_q})) {
        text += "; on the front (" + std::to_string(front_.size()) + " trials)";
      }
      break;
    }
    case TrialOutcome::Status::kInterrupted: {
      const std::string reason = "interrupted after epoch " + std::to_string(outcome.epochs_done) +
                                 " of " + std::to_string(spec.epochs) +
                                 "; resume continues from its checkpoint";
      store_.InterruptTrial(spec.trial_id, reason);
      text = "INTERRUPTED after epoch " + std::to_string(outcome.epochs_done);
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.interrupted;
      break;
    }
    case TrialOutcome::Status::kPruned: {
      if (!observer.pruned().prune) {  // an evaluator's own decision
        store_.FinishTrial(spec.trial_id, db::TrialState::kPruned, outcome.message);
      }
      text = "PRUNED: " + outcome.message;
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.pruned;
      break;
    }
    case TrialOutcome::Status::kFailed: {
      const std::string reason = outcome.message.empty() ? "failed" : outcome.message;
      store_.FinishTrial(spec.trial_id, db::TrialState::kFailed, reason);
      text = "FAILED: " + reason;
      std::lock_guard<std::mutex> lock(mu_);
      ++summary_.failed;
      break;
    }
  }
  progress_.TrialFinished(slot, spec.trial_id, candidate.name, text);
}

}  // namespace fnas::search
