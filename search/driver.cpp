#include "search/driver.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <thread>

#include "common/crashpoint.h"
#include "common/error.h"
#include "search/execution.h"
#include "search/heartbeat.h"
#include "search/pruner.h"
#include "search/strategy.h"

namespace fnas::search {

namespace fs = std::filesystem;

namespace {

// "progressive step 2 appends 3 candidates: layers-2.1.1 (conv_64_1 1->2 of #1), ..."
std::string DescribeAppended(const std::string& strategy,
                             const std::vector<db::CandidateRow>& rows) {
  std::string text = strategy;
  if (!rows.empty()) text += " step " + std::to_string(rows.front().step);
  text += " appends " + std::to_string(rows.size()) + " candidate" + (rows.size() == 1 ? "" : "s");
  for (size_t i = 0; i < rows.size(); ++i) {
    text += (i ? ", " : ": ") + rows[i].candidate.name;
    if (!rows[i].move.empty()) {
      text += " (" + rows[i].move + " of #" + std::to_string(rows[i].parent_id) + ")";
    }
  }
  return text;
}

// A trial (re)starting owns its folder: every file but the committed
// checkpoint it continues from is left over by a process killed between
// writing a checkpoint and committing it, or between committing one and
// deleting the one before.
void RemoveUncommittedCheckpoints(const std::string& dir, const std::string& committed) {
  std::error_code ec;
  const fs::path keep = committed.empty() ? fs::path() : fs::weakly_canonical(committed, ec);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    if (!keep.empty() && fs::weakly_canonical(e.path(), ec) == keep) continue;
    fs::remove(e.path(), ec);
  }
}

}  // namespace

// Forwards one trial's reports to the store and the display. A store error is
// remembered and rethrown by the driver: it is not the trial's failure.
class Driver::Observer : public TrialObserver {
 public:
  // `threads`: the intra-op threads the trial starts with (set on its thread).
  Observer(Driver& driver, int64_t trial, int64_t macs_conv, int slot, int threads)
      : d_(driver), trial_(trial), macs_conv_(macs_conv), slot_(slot), threads_(threads) {}

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
    if (d_.scheduler_) d_.scheduler_->Notify();
    if (verdict.prune) {
      pruned_ = verdict;
    } else {
      verdict.threads = Balance(record.epoch);
    }
    return verdict;
  }
  void OnProgress(int epoch, int batch, int batches, double loss, double images_per_s) override {
    d_.progress_.Batch(slot_, epoch, batch, batches, loss, images_per_s);
  }
  bool StopRequested() const override { return d_.Stopping(); }
  bool Abandoned() const override { return d_.lost_.load() || !d_.store_.StillOwner(); }

  // Tail balancing at an epoch boundary, on the trial's own thread: sets the
  // threads this trial should use now (TailThreads over the scheduler's load)
  // when they differ from its current ones. Returns the new count, 0 if none.
  int Balance(int epoch) {
    if (!d_.balance_ || !d_.scheduler_) return 0;
    const Scheduler::Load load = d_.scheduler_->load();
    const int target = TailThreads(d_.config_->execution, d_.cores_, d_.workers_, d_.threads_,
                                   load.busy, load.queued);
    if (target == threads_) return 0;
    threads_ = SetIntraOpThreads(target);
    d_.progress_.Message("trial " + std::to_string(trial_) + " uses " + std::to_string(threads_) +
                         " intra-op threads after epoch " + std::to_string(epoch) + " (" +
                         std::to_string(load.busy) + " of " + std::to_string(d_.workers_) +
                         " workers busy, " + std::to_string(load.queued) + " queued)");
    return threads_;
  }

  void set_last_checkpoint(const std::string& path) { last_checkpoint_ = path; }
  std::exception_ptr store_error() const { return store_error_; }
  // The prune verdict, once the store recorded the trial PRUNED.
  const EpochVerdict& pruned() const { return pruned_; }

 private:
  Driver& d_;
  const int64_t trial_;
  const int64_t macs_conv_;
  const int slot_;
  int threads_;  // the trial's intra-op threads now
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
  CrashPoint("rung");  // decided, not yet committed
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
  const bool requested = stop_.load() || (options_.stop_requested && options_.stop_requested());
  // Whoever sees the stop first (the display thread or a trial) announces it, once.
  if (requested && !announced_.exchange(true)) {
    progress_.Message(
        "stopping: no new trial starts; running trials finish their epoch and save a "
        "checkpoint (Ctrl-C again quits at once)");
  }
  return requested || environment_failed_.load() || lost_.load();
}

void Driver::EnvironmentFailed(const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++summary_.environment;
    if (summary_.environment_reason.empty()) summary_.environment_reason = what;
  }
  if (!environment_failed_.exchange(true)) {
    progress_.Message("the environment failed (" + what +
                      "): no new trial starts; the trial is INTERRUPTED and resume retries it");
  }
}

SearchSummary Driver::Run() {
  const ExecutionOptions& exec = config_->execution;
  cuda_devices_ = options_.local_trials ? PrepareDevices(exec) : 0;
  const int cores = options_.cores > 0
                        ? options_.cores
                        : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  const std::unique_ptr<Strategy> strategy = MakeStrategy(*config_);
  store_.AcquireOwnership(options_.stale_after_s);
  const db::StudyRow study = store_.Study();
  checkpoint_root_ = study.checkpoint_dir;

  const int epochs = config_->training.epochs;
  WorkLeft left = ComputeWorkLeft(store_, epochs);
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary_ = SearchSummary{};
    summary_.total = left.candidates;
    summary_.skipped = left.finished;
    front_ = IncrementalFront{};
    for (const FrontPoint& p : left.front) front_.Insert(p);
  }
  // Trials this run may start: what is left, or up to the strategy's bound.
  int expected = static_cast<int>(left.items.size());
  if (strategy->MaxCandidates() > 0) {
    expected = std::max(expected, strategy->MaxCandidates() - left.finished);
  }
  const int workers = WorkerCount(exec, cores, expected);
  threads_ = ThreadsPerWorker(exec, cores, workers);
  workers_ = workers;
  cores_ = cores;
  // Remote trials run on other hosts' cores, with threads their ranks chose.
  balance_ = options_.local_trials && exec.tail_balance && !exec.deterministic;
  // Tail sharing (execution.tail_share): up to workers - 1 more trials start
  // beside the busy workers once fewer than a wave of them is queued.
  // CPU only: on a GPU an extra trial would add its memory to a busy device.
  const bool more = expected > workers || strategy->MaxCandidates() == 0;
  const int tail_slots = options_.local_trials && exec.tail_share && !balance_ &&
                                 exec.device == "cpu" && workers > 1 && more
                             ? workers - 1
                             : 0;
  progress_.Begin(study.name, left.candidates, left.finished, left.epochs_left, workers);

  next_start_ = 0;  // the scheduler's tickets count from 0
  Scheduler scheduler(store_, *strategy, std::move(left.items));
  Scheduler::Hooks hooks;
  hooks.run = [this](const WorkItem& item, int slot) { RunTrial(item, slot); };
  hooks.stopping = [this] { return Stopping(); };
  hooks.added = [&](const std::vector<db::CandidateRow>& rows) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      summary_.total += static_cast<int>(rows.size());
      summary_.appended += static_cast<int>(rows.size());
    }
    progress_.Added(static_cast<int>(rows.size()), static_cast<long>(rows.size()) * epochs);
    progress_.Message(DescribeAppended(strategy->Name(), rows));
  };
  scheduler_ = &scheduler;
  std::exception_ptr error;
  {
    // Display ticks, stop announcements and the store's heartbeat while trials run.
    Heartbeat heartbeat(
        store_, progress_, options_.heartbeat_s, [this] { (void)Stopping(); },
        [this](const std::string& what) {
          lost_.store(true);
          progress_.Message(what);
        });
    try {
      scheduler.Run(workers, hooks, tail_slots);
    } catch (...) {
      error = std::current_exception();
    }
  }
  scheduler_ = nullptr;
  progress_.End();
  store_.ReleaseOwnership();
  if (error) std::rethrow_exception(error);

  std::lock_guard<std::mutex> lock(mu_);
  summary_.stopped = stop_.load() || (options_.stop_requested && options_.stop_requested());
  summary_.not_started = scheduler.not_started();
  summary_.front = front_.Points();
  return summary_;
}

// Holds a trial's turn to start: waits until its ticket is the next one, and
// hands the turn on when it goes (started, or an exception on the way).
class Driver::Turn {
 public:
  Turn(Driver& d, long ticket) : d_(d), lock_(d.start_mu_) {
    d_.start_cv_.wait(lock_, [&] { return d_.next_start_ == ticket; });
  }
  ~Turn() {
    ++d_.next_start_;
    d_.start_cv_.notify_all();
  }

 private:
  Driver& d_;
  std::unique_lock<std::mutex> lock_;
};

void Driver::RunTrial(const WorkItem& work, int slot) {
  // Trials start (take their ids) in the scheduler's hand-out order, whichever
  // slot's thread gets here first: ids follow the queue.
  auto turn = std::make_unique<Turn>(*this, work.ticket);
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
  turn.reset();
  spec.checkpoint_dir = checkpoint_root_ + "/trial-" + std::to_string(spec.trial_id);
  CrashPoint("trial-started");
  SetIntraOpThreads(spec.threads);

  Observer observer(*this, spec.trial_id, work.candidate.macs_conv, slot, spec.threads);
  observer.set_last_checkpoint(spec.resume_checkpoint);
  progress_.TrialStarted(slot, spec.trial_id, candidate.name, spec.start_epoch, spec.epochs);
  TrialOutcome outcome;
  // Why the environment (not the candidate) stopped the trial; empty if not.
  std::string environment;
  try {
    std::error_code ec;
    fs::create_directories(spec.checkpoint_dir, ec);
    if (ec) {
      throw EnvironmentError(spec.checkpoint_dir +
                             ": cannot create the checkpoint folder: " + ec.message());
    }
    RemoveUncommittedCheckpoints(spec.checkpoint_dir, spec.resume_checkpoint);
    outcome = evaluator_.Run(spec, observer);
  } catch (const std::exception& e) {
    if (observer.store_error()) std::rethrow_exception(observer.store_error());
    outcome = TrialOutcome{};
    outcome.status = TrialOutcome::Status::kFailed;
    outcome.message = e.what();
    if (IsEnvironmentFailure(e)) environment = e.what();
  } catch (...) {
    if (observer.store_error()) std::rethrow_exception(observer.store_error());
    outcome = TrialOutcome{};
    outcome.status = TrialOutcome::Status::kFailed;
    outcome.message = "unknown exception";
  }
  // The computation is over: for tail balancing its cores are free now.
  if (scheduler_) scheduler_->Released(slot);
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

  if (!environment.empty() && !observer.pruned().prune) {
    // Not the candidate's fault: INTERRUPTED, which resume retries from the
    // last committed checkpoint; no new trial starts in this environment.
    outcome.status = TrialOutcome::Status::kInterrupted;
    outcome.message = "environment: " + environment + "; resume retries it";
    EnvironmentFailed(environment);
  }
  std::string text;
  switch (outcome.status) {
    case TrialOutcome::Status::kCompleted: {
      store_.CompleteTrial(spec.trial_id, outcome.test);
      CrashPoint("trial-complete");  // between trials
      const auto& m = outcome.test.metrics;
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "COMPLETE acc_fp32 %.4f acc_quint8 %.4f rel_decrease %.2f%% qmse %.4g",
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
      const std::string reason =
          !environment.empty()
              ? outcome.message
              : "interrupted after epoch " + std::to_string(outcome.epochs_done) + " of " +
                    std::to_string(spec.epochs) + "; resume continues from its checkpoint";
      store_.InterruptTrial(spec.trial_id, reason);
      text = environment.empty() ? "INTERRUPTED after epoch " + std::to_string(outcome.epochs_done)
                                 : "INTERRUPTED (" + outcome.message + ")";
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
