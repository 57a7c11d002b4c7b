// The driver with the scripted evaluator: no training.
#include "search/driver.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "search/execution.h"
#include "search/scripted_evaluator.h"
#include "search/study.h"
#include "search/work_left.h"
#include "tests/testing/study.h"
#include "tests/testing/temp_dir.h"

namespace fnas::search {
namespace {

using testing::NewStudy;
using testing::RunAll;

namespace fs = std::filesystem;

std::string ConfigText(int workers, int epochs) {
  return "name: drv\n"
         "seed: 5\n"
         "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
         "space:\n  paths: [regular, depthwise, {uniform: [2, 4]}]\n"
         "data: {dataset: synthetic}\n"
         "training: {epochs: " +
         std::to_string(epochs) +
         "}\n"
         "search: {record_every: 2}\n"
         "execution: {workers: " +
         std::to_string(workers) + ", threads_per_worker: 1}\n";
}

// Wraps an evaluator: counts concurrent runs and can ask the driver to stop.
class Probe : public Evaluator {
 public:
  explicit Probe(Evaluator& inner) : inner_(inner) {}
  TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override {
    const int now = ++running_;
    int seen = max_running_.load();
    while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
    }
    threads_seen_ = at::get_num_threads();
    struct Stopper : TrialObserver {
      TrialObserver& o;
      Probe& p;
      Stopper(TrialObserver& obs, Probe& probe) : o(obs), p(probe) {}
      EpochVerdict OnEpoch(const evaluators::EpochRecord& r, const evaluators::QuantReport* v,
                           const std::string& c) override {
        const EpochVerdict verdict = o.OnEpoch(r, v, c);
        if (p.stop_after_epochs_ > 0 && ++p.epochs_ >= p.stop_after_epochs_) p.stop_ = true;
        return verdict;
      }
      void OnProgress(int e, int b, int n, double l, double i) override {
        o.OnProgress(e, b, n, l, i);
      }
      bool StopRequested() const override { return o.StopRequested(); }
    } stopper(observer, *this);
    TrialOutcome out;
    try {
      out = inner_.Run(spec, stopper);
    } catch (...) {
      --running_;
      throw;
    }
    --running_;
    return out;
  }
  Evaluator& inner_;
  std::atomic<int> running_{0}, max_running_{0}, epochs_{0}, threads_seen_{0};
  int stop_after_epochs_ = 0;
  std::atomic<bool> stop_{false};
};

class DriverTest : public testing::TempDirTest {
 protected:
  std::shared_ptr<Config> MakeConfig(const std::string& db, int workers = 1, int epochs = 3) {
    auto c = std::make_shared<Config>(ParseConfig(ConfigText(workers, epochs)));
    c->storage.db = (dir_ / db).string();
    return c;
  }
  // Final test metrics by candidate key.
  static std::map<std::string, evaluators::QuantMetrics> Finals(const db::Store& store) {
    std::map<std::string, evaluators::QuantMetrics> out;
    for (const auto& t : store.Trials()) out[t.candidate_key] = t.test;
    return out;
  }
};

TEST(ExecutionTest, ThreadsSeedsAndRecordedEpochs) {
  ExecutionOptions e;
  EXPECT_EQ(e.workers, 0);              // auto by default
  EXPECT_EQ(WorkerCount(e, 8, 20), 8);  // one trial per core...
  EXPECT_EQ(WorkerCount(e, 8, 3), 3);   // ...never more than trials left
  EXPECT_EQ(WorkerCount(e, 8, 0), 1);
  EXPECT_EQ(ThreadsPerWorker(e, 8, 3), 2);
  e.workers = 2;
  EXPECT_EQ(WorkerCount(e, 8, 1), 2);
  EXPECT_EQ(ThreadsPerWorker(e, 8, 2), 4);
  EXPECT_EQ(ThreadsPerWorker(e, 1, 2), 1);
  e.threads_per_worker = 3;
  EXPECT_EQ(ThreadsPerWorker(e, 8, 2), 3);
  e.deterministic = true;
  EXPECT_EQ(ThreadsPerWorker(e, 8, 2), 1);
  EXPECT_EQ(TrialSeed(1, "1.2"), TrialSeed(1, "1.2"));
  EXPECT_NE(TrialSeed(1, "1.2"), TrialSeed(2, "1.2"));
  EXPECT_NE(TrialSeed(1, "1.2"), TrialSeed(1, "1.4"));
  SearchOptions s;
  s.record_every = 3;
  s.record_epochs = {1, 20};
  EXPECT_EQ(RecordEpochs(s, 10), (std::vector<int>{1, 3, 6, 9, 10}));
  s.record_every = 0;
  s.record_epochs = {};
  EXPECT_EQ(RecordEpochs(s, 4), (std::vector<int>{4}));
  ExecutionOptions cuda;
  cuda.device = "cuda";
  EXPECT_EQ(WorkerDevice(cuda, 3, 2), "cuda:1");
  EXPECT_EQ(WorkerDevice(ExecutionOptions{}, 3, 0), "cpu");
}

TEST(ExecutionTest, TailThreadsShareTheStudysThreadsAmongTheBusyWorkers) {
  ExecutionOptions e;                           // auto: 8 cores, 3 workers of 8 / 3 = 2 threads
  EXPECT_FALSE(e.tail_balance);                 // off by default
  EXPECT_EQ(TailThreads(e, 8, 3, 2, 1, 0), 2);  // so even alone it keeps its own
  e.tail_balance = true;
  EXPECT_EQ(TailThreads(e, 8, 3, 2, 3, 0), 2);  // nobody idle
  EXPECT_EQ(TailThreads(e, 8, 3, 2, 2, 0), 4);  // one idle: 8 cores over 2
  EXPECT_EQ(TailThreads(e, 8, 3, 2, 1, 0), 8);  // alone
  EXPECT_EQ(TailThreads(e, 8, 3, 2, 1, 1), 2);  // something queued: a worker takes it
  EXPECT_EQ(TailThreads(e, 8, 3, 2, 0, 0), 2);
  EXPECT_EQ(TailThreads(e, 2, 4, 1, 3, 0), 1);  // more workers than cores: never below base
  e.threads_per_worker = 1;  // the study's threads are 2 workers x 1, not the 8 cores
  EXPECT_EQ(TailThreads(e, 8, 2, 1, 1, 0), 2);
  e.tail_balance = false;
  EXPECT_EQ(TailThreads(e, 8, 2, 1, 1, 0), 1);
  ExecutionOptions d;
  d.deterministic = true;  // one thread per trial, whatever tail_balance says
  EXPECT_EQ(TailThreads(d, 8, 2, 1, 1, 0), 1);
}

TEST(ExecutionTest, IntraOpThreadsArePerCallingThread) {
  // LibTorch's OpenMP backend keeps the count per thread: two workers may use
  // different counts at the same time.
  std::atomic<int> ready{0};
  int seen_a = 0, seen_b = 0;
  auto worker = [&](int n, int* seen) {
    SetIntraOpThreads(n);
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    // Some autograd and a parallel op in between must not reset the count.
    auto x = torch::randn({16, 16}, torch::requires_grad());
    x.mm(x).sum().backward();
    at::parallel_for(0, 64, 1, [](int64_t, int64_t) {});
    *seen = at::get_num_threads();
  };
  std::thread a(worker, 1, &seen_a), b(worker, 3, &seen_b);
  a.join();
  b.join();
  EXPECT_EQ(seen_a, 1);
  EXPECT_EQ(seen_b, 3);
}

TEST(ExecutionTest, CudaWithoutCudaIsAConfigError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA";
  ExecutionOptions e;
  e.device = "cuda:0";
  try {
    CheckDevice(e);
    FAIL();
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("execution.device = 'cuda:0'"), std::string::npos);
  }
  EXPECT_NO_THROW(CheckDevice(ExecutionOptions{}));
}

TEST(WorkLeftTest, PendingAndRestartableTrialsWithTheEpochsTheyStillTrain) {
  auto candidate = [](int64_t id, int position) {
    db::CandidateRow c;
    c.id = id;
    c.position = position;
    c.candidate.key = std::to_string(id);
    return c;
  };
  auto trial = [](int64_t id, int64_t candidate, db::TrialState state, int done, int ckpt) {
    db::TrialRow t;
    t.id = id;
    t.candidate_id = candidate;
    t.state = state;
    t.epochs_done = done;
    t.checkpoint = ckpt ? "epoch.pt" : "";
    t.checkpoint_epoch = ckpt;
    t.macs_conv = 100 * candidate;
    t.test.acc_q = 0.5;
    return t;
  };
  // Positions, not ids, order the work.
  const std::vector<db::CandidateRow> candidates = {
      candidate(1, 4), candidate(2, 0), candidate(3, 1), candidate(4, 2), candidate(5, 3)};
  const std::vector<db::TrialRow> trials = {
      trial(10, 1, db::TrialState::kComplete, 4, 4),
      trial(11, 3, db::TrialState::kInterrupted, 3, 2),  // restarts after epoch 2
      trial(12, 4, db::TrialState::kRunning, 1, 0),      // stale, no checkpoint: from scratch
      trial(13, 5, db::TrialState::kFailed, 1, 1),
  };
  const WorkLeft left = ComputeWorkLeft(candidates, trials, 4);
  EXPECT_EQ(left.candidates, 5);
  EXPECT_EQ(left.finished, 2);
  EXPECT_EQ(left.pending, 1);
  EXPECT_EQ(left.restartable, 2);
  EXPECT_EQ(left.epochs_left, 4 + 2 + 4);
  ASSERT_EQ(left.items.size(), 3u);
  EXPECT_EQ(left.items[0].candidate.id, 2);
  EXPECT_EQ(left.items[0].trial_id, 0);
  EXPECT_EQ(left.items[1].candidate.id, 3);
  EXPECT_EQ(left.items[1].trial_id, 11);
  EXPECT_EQ(left.items[1].start_epoch, 2);
  EXPECT_EQ(left.items[2].trial_id, 12);
  EXPECT_EQ(left.items[2].start_epoch, 0);
  ASSERT_EQ(left.front.size(), 1u);
  EXPECT_EQ(left.front[0].id, 10);
}

TEST(ScriptedEvaluatorTest, OptionsAndFormulas) {
  const ScriptedOptions o =
      ParseScriptedOptions("epoch_ms=5,fail=a+b,fail_epoch=2,fail_mode=return");
  EXPECT_EQ(o.epoch_ms, 5);
  EXPECT_EQ(o.fail, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.fail_epoch, 2);
  EXPECT_FALSE(o.fail_throws);
  EXPECT_THROW(ParseScriptedOptions("epoch_ms=-1"), UsageError);
  EXPECT_THROW(ParseScriptedOptions("speed=2"), UsageError);
  space::Candidate c;
  c.f = {1, 4};  // log2: 0 and 2 -> d = 1
  EXPECT_DOUBLE_EQ(ScriptedEvaluator::Degree(c), 1.0);
  EXPECT_DOUBLE_EQ(ScriptedEvaluator::Loss(1.0, 2), 0.55);
  const auto m = ScriptedEvaluator::Metrics(1.0, 3, 2.0);
  EXPECT_DOUBLE_EQ(m.acc_fp32, 0.9 - 0.02 - 0.1);
  EXPECT_DOUBLE_EQ(m.acc_q, 0.775);
  EXPECT_DOUBLE_EQ(m.qmse, 0.002);
}

TEST_F(DriverTest, RunsEveryCandidateAndRecordsEverything) {
  auto config = MakeConfig("a.db");
  auto store = NewStudy(*config);
  ScriptedEvaluator ev;
  const SearchSummary s = RunAll(config, *store, ev);
  EXPECT_EQ(s.total, 4);
  EXPECT_EQ(s.completed, 4);
  EXPECT_FALSE(s.stopped);
  const auto trials = store->Trials();
  ASSERT_EQ(trials.size(), 4u);
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, db::TrialState::kComplete);
    EXPECT_EQ(t.epochs_done, 3);
    EXPECT_EQ(t.attempts, 1);
    // Metrics as the scripted formulas give them: state = sum of the losses.
    space::Candidate c;
    c.f = space::ParseFactorization(t.candidate_key);
    const double d = ScriptedEvaluator::Degree(c);
    const double state = ScriptedEvaluator::Loss(d, 1) + ScriptedEvaluator::Loss(d, 2) +
                         ScriptedEvaluator::Loss(d, 3);
    const auto expect = ScriptedEvaluator::Metrics(d, 3, state);
    EXPECT_DOUBLE_EQ(t.test.acc_q, expect.acc_q);
    EXPECT_DOUBLE_EQ(t.test.qmse, expect.qmse);
    // Validation recorded at epochs 2 (record_every) and 3 (the last), not 1.
    const auto epochs = store->Epochs(t.id);
    ASSERT_EQ(epochs.size(), 3u);
    EXPECT_FALSE(epochs[0].recorded);
    EXPECT_TRUE(epochs[1].recorded);
    EXPECT_TRUE(epochs[2].recorded);
    int validation = 0, test = 0;
    for (const auto& l : store->Layers(t.id)) (l.split == "test" ? test : validation)++;
    EXPECT_GT(test, 0);
    EXPECT_EQ(validation, 2 * test);
    // Only the last checkpoint is kept.
    EXPECT_EQ(t.checkpoint_epoch, 3);
    EXPECT_TRUE(fs::exists(t.checkpoint));
    EXPECT_FALSE(fs::exists(fs::path(t.checkpoint).parent_path() / "epoch-2.pt"));
  }
  // The front: regular is the most accurate, depthwise the cheapest.
  ASSERT_FALSE(s.front.empty());
  EXPECT_EQ(s.front.front().macs, store->Candidates()[1].macs_conv);  // depthwise
  EXPECT_FALSE(store->CurrentOwner().has_value());                    // released
}

TEST_F(DriverTest, FailedTrialsAreRecordedAndTheSearchGoesOn) {
  for (const char* m : {"throw", "return"}) {
    const std::string mode = m;
    auto config = MakeConfig("fail-" + mode + ".db");
    auto store = NewStudy(*config);
    ScriptedEvaluator ev(ParseScriptedOptions("fail=uniform-f2,fail_epoch=2,fail_mode=" + mode));
    const SearchSummary s = RunAll(config, *store, ev);
    EXPECT_EQ(s.failed, 1);
    EXPECT_EQ(s.completed, 3);
    for (const auto& t : store->Trials()) {
      if (t.candidate_name == "uniform-f2") {
        EXPECT_EQ(t.state, db::TrialState::kFailed);
        EXPECT_NE(t.reason.find("scripted failure of uniform-f2 in epoch 2"), std::string::npos)
            << t.reason;
        EXPECT_EQ(t.epochs_done, 1);
      } else {
        EXPECT_EQ(t.state, db::TrialState::kComplete) << t.candidate_name;
      }
    }
    // A second run leaves the failed trial alone.
    ScriptedEvaluator ok;
    EXPECT_EQ(RunAll(config, *store, ok).skipped, 4);
  }
}

// Issue #11, problem 2: a full disk used to make every trial FAILED (final),
// and resume then did nothing. An environment failure is INTERRUPTED with its
// reason, no new trial starts, and resume finishes the study as if nothing
// had happened.
TEST_F(DriverTest, EnvironmentFailuresAreInterruptedAndResumeRetriesThem) {
  auto config = MakeConfig("env.db");
  auto store = NewStudy(*config);
  ScriptedEvaluator full(ParseScriptedOptions("fail=depthwise,fail_epoch=2,fail_mode=environment"));
  const SearchSummary s = RunAll(config, *store, full);
  EXPECT_EQ(s.environment, 1);
  EXPECT_EQ(s.interrupted, 1);
  EXPECT_EQ(s.failed, 0);
  EXPECT_FALSE(s.stopped);  // nobody asked to stop: the CLI exits 1, not 130
  EXPECT_NE(s.environment_reason.find("No space left on device"), std::string::npos);
  EXPECT_EQ(s.completed + s.not_started, 3);  // no trial started after the failure
  EXPECT_GE(s.not_started, 2);
  int interrupted = 0;
  for (const auto& t : store->Trials()) {
    if (t.candidate_name != "depthwise") continue;
    ++interrupted;
    EXPECT_EQ(t.state, db::TrialState::kInterrupted);
    EXPECT_EQ(t.epochs_done, 1);
    EXPECT_EQ(t.reason.rfind("environment: ", 0), 0u) << t.reason;
    EXPECT_NE(t.reason.find("resume retries it"), std::string::npos) << t.reason;
  }
  EXPECT_EQ(interrupted, 1);

  // Space freed: resume runs the rest and retries the interrupted trial from
  // its checkpoint; the results equal an uninterrupted run's.
  ScriptedEvaluator ok;
  const SearchSummary r = RunAll(config, *store, ok);
  EXPECT_EQ(r.environment, 0);
  EXPECT_EQ(r.completed + r.skipped, 4);
  for (const auto& t : store->Trials()) {
    EXPECT_EQ(t.state, db::TrialState::kComplete) << t.candidate_name;
    if (t.candidate_name == "depthwise") {
      EXPECT_EQ(t.attempts, 2);
    }
  }
  auto clean_config = MakeConfig("clean.db");
  auto clean = NewStudy(*clean_config);
  RunAll(clean_config, *clean, ok);
  const auto a = Finals(*store), b = Finals(*clean);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, m] : b) {
    EXPECT_DOUBLE_EQ(a.at(key).acc_q, m.acc_q) << key;
    EXPECT_DOUBLE_EQ(a.at(key).qmse, m.qmse) << key;  // continued from the checkpoint
  }
}

TEST_F(DriverTest, RunsWorkersConcurrentlyEachWithItsThreads) {
  auto config = MakeConfig("w.db", /*workers=*/2);
  config->execution.threads_per_worker = 2;
  auto store = NewStudy(*config);
  ScriptedEvaluator inner(ParseScriptedOptions("epoch_ms=60"));
  Probe probe(inner);
  const SearchSummary s = RunAll(config, *store, probe);
  EXPECT_EQ(s.completed, 4);
  EXPECT_EQ(probe.max_running_.load(), 2);
  EXPECT_EQ(probe.threads_seen_.load(), 2);
  EXPECT_EQ(store->Trials().size(), 4u);  // no duplicates
}

TEST_F(DriverTest, StopInterruptsAndResumeEqualsAnUninterruptedRun) {
  // Reference: one uninterrupted run.
  auto ref_config = MakeConfig("ref.db", 2, 4);
  auto ref_store = NewStudy(*ref_config);
  ScriptedEvaluator ref_ev;
  RunAll(ref_config, *ref_store, ref_ev);

  auto config = MakeConfig("stop.db", 2, 4);
  auto store = NewStudy(*config);
  ScriptedEvaluator inner(ParseScriptedOptions("epoch_ms=40"));
  Probe probe(inner);
  probe.stop_after_epochs_ = 1;  // "Ctrl-C" right after the first epoch anywhere
  const SearchSummary s = RunAll(config, *store, probe, [&] { return probe.stop_.load(); });
  EXPECT_TRUE(s.stopped);
  EXPECT_GE(s.interrupted, 1);
  EXPECT_EQ(s.completed, 0);
  EXPECT_EQ(s.interrupted + s.not_started, 4);
  for (const auto& t : store->Trials()) {
    EXPECT_EQ(t.state, db::TrialState::kInterrupted);
    EXPECT_GE(t.epochs_done, 1);  // finished its epoch and checkpointed
    EXPECT_EQ(t.checkpoint_epoch, t.epochs_done);
    EXPECT_TRUE(fs::exists(t.checkpoint));
  }
  const size_t interrupted = store->Trials().size();

  ScriptedEvaluator ev;
  const SearchSummary r = RunAll(config, *store, ev);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.completed, 4);
  const auto trials = store->Trials();
  ASSERT_EQ(trials.size(), 4u);  // no candidate ran twice
  size_t restarted = 0;
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, db::TrialState::kComplete);
    restarted += t.attempts == 2;
    EXPECT_EQ(store->Epochs(t.id).size(), 4u);
  }
  EXPECT_EQ(restarted, interrupted);
  const auto want = Finals(*ref_store), got = Finals(*store);
  for (const auto& [key, m] : want) {
    EXPECT_DOUBLE_EQ(got.at(key).acc_q, m.acc_q) << key;
    EXPECT_DOUBLE_EQ(got.at(key).qmse, m.qmse) << key;  // depends on the checkpointed state
  }
  // Nothing left: a third run does nothing.
  EXPECT_EQ(RunAll(config, *store, ev).skipped, 4);
}

TEST_F(DriverTest, StaleRunningTrialOfADeadProcessRestartsFromItsCheckpoint) {
  auto config = MakeConfig("stale.db");
  auto store = NewStudy(*config);
  // A dead process left trial 1 RUNNING after committing epoch 1 and its checkpoint.
  const auto cand = store->Candidates()[0];
  const int64_t id = store->StartTrial(cand.id, "ghost");
  const double d = ScriptedEvaluator::Degree(cand.candidate);
  const fs::path ckpt = dir_ / "ghost-epoch-1.pt";
  std::ofstream(ckpt) << "scripted-checkpoint 1\nkey " << cand.candidate.key << "\nepoch 1\nstate "
                      << ScriptedEvaluator::Loss(d, 1) << "\n";
  evaluators::EpochRecord r;
  r.epoch = 1;
  store->RecordEpoch(id, r, nullptr, ckpt.string());
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  store->AcquireOwnership(30);
  store->ExecForTesting("UPDATE owner SET pid = " + std::to_string(child));

  ScriptedEvaluator ev;
  const SearchSummary s = RunAll(config, *store, ev);
  EXPECT_EQ(s.completed, 4);
  const db::TrialRow t = *store->Trial(id);
  EXPECT_EQ(t.state, db::TrialState::kComplete);
  EXPECT_EQ(t.attempts, 2);
  const double state =
      ScriptedEvaluator::Loss(d, 1) + ScriptedEvaluator::Loss(d, 2) + ScriptedEvaluator::Loss(d, 3);
  EXPECT_DOUBLE_EQ(t.test.qmse, ScriptedEvaluator::Metrics(d, 3, state).qmse);
  EXPECT_FALSE(fs::exists(ckpt));  // replaced by the newer checkpoints
}

TEST_F(DriverTest, ASecondLiveProcessIsRefused) {
  auto config = MakeConfig("owned.db");
  auto store = NewStudy(*config);
  store->AcquireOwnership(30);
  store->ExecForTesting("UPDATE owner SET pid = " + std::to_string(getppid()));
  ScriptedEvaluator ev;
  EXPECT_THROW(RunAll(config, *store, ev), StoreError);
  EXPECT_TRUE(store->Trials().empty());
}

// Tail balancing, step by step. Two workers run the four candidates; the
// first candidate (A) is held at each epoch boundary until the others reach a
// given point, so the driver sees, in order: (1) the other worker busy and two
// candidates queued, (2) nothing queued but the other worker busy with the
// last candidate, (3) the other worker idle, (4) still idle. Records what the
// driver told A after each epoch and A's thread count afterwards.
class TailGate : public Evaluator, public QuietProgress {
 public:
  explicit TailGate(Evaluator& inner) : inner_(inner) {}

  struct Epoch {
    int told = 0;     // EpochVerdict::threads
    int threads = 0;  // at::get_num_threads() on A's thread after OnEpoch
  };

  TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override {
    const std::string name = spec.candidate.name;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (first_.empty()) first_ = name;
      started_.push_back(name);
      cv_.notify_all();
      // The others wait for A's epochs so the steps above happen in order:
      // the second candidate finishes only after A's epoch 1, the last one
      // only after A's epoch 2.
      const bool last = started_.size() == 4;
      if (name != first_) WaitLocked(lock, [&] { return a_epochs_.size() >= (last ? 2u : 1u); });
    }
    struct Relay : TrialObserver {
      TailGate& g;
      TrialObserver& o;
      bool a;
      Relay(TailGate& gate, TrialObserver& obs, bool is_a) : g(gate), o(obs), a(is_a) {}
      EpochVerdict OnEpoch(const evaluators::EpochRecord& r, const evaluators::QuantReport* v,
                           const std::string& c) override {
        if (!a) return o.OnEpoch(r, v, c);
        {
          std::unique_lock<std::mutex> lock(g.mu_);
          if (r.epoch == 1) g.WaitLocked(lock, [&] { return g.started_.size() >= 2; });
          if (r.epoch == 2) g.WaitLocked(lock, [&] { return g.started_.size() == 4; });
          if (r.epoch == 3) g.WaitLocked(lock, [&] { return g.finished_ == 3; });
        }
        const EpochVerdict verdict = o.OnEpoch(r, v, c);
        std::lock_guard<std::mutex> lock(g.mu_);
        g.a_epochs_.push_back({verdict.threads, at::get_num_threads()});
        g.cv_.notify_all();
        return verdict;
      }
      void OnProgress(int e, int b, int n, double l, double i) override {
        o.OnProgress(e, b, n, l, i);
      }
      bool StopRequested() const override { return o.StopRequested(); }
    } relay(*this, observer, name == first_);
    return inner_.Run(spec, relay);
  }

  // Progress: the driver's last word on a trial, after its cores are released.
  void TrialFinished(int, int64_t, const std::string& candidate, const std::string&) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (candidate != first_) ++finished_;
    cv_.notify_all();
  }

  std::vector<Epoch> a_epochs() {
    std::lock_guard<std::mutex> lock(mu_);
    return a_epochs_;
  }
  bool timed_out() {
    std::lock_guard<std::mutex> lock(mu_);
    return timed_out_;
  }

 private:
  // Waits for `ready` (a broken step fails the test instead of hanging it).
  template <class Pred>
  void WaitLocked(std::unique_lock<std::mutex>& lock, Pred ready) {
    if (!cv_.wait_for(lock, std::chrono::seconds(60), ready)) timed_out_ = true;
  }

  Evaluator& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string first_;
  std::vector<std::string> started_;
  int finished_ = 0;
  std::vector<Epoch> a_epochs_;
  bool timed_out_ = false;
};

class TailBalanceTest : public DriverTest {
 protected:
  // A's epochs in a study of 2 workers on `cores` cores, 4 epochs a trial.
  std::vector<TailGate::Epoch> RunGated(const std::string& db, int cores,
                                        const std::function<void(Config&)>& change) {
    auto config = MakeConfig(db, /*workers=*/2, /*epochs=*/4);
    config->execution.threads_per_worker = 0;  // auto: cores / workers
    config->execution.tail_balance = true;
    change(*config);
    auto store = NewStudy(*config);
    ScriptedEvaluator inner;
    TailGate gate(inner);
    DriverOptions options;
    options.cores = cores;
    Driver driver(config, *store, gate, gate, options);
    const SearchSummary s = driver.Run();
    EXPECT_EQ(s.completed, 4);
    EXPECT_FALSE(gate.timed_out());
    return gate.a_epochs();
  }
  static std::vector<int> Told(const std::vector<TailGate::Epoch>& epochs) {
    std::vector<int> out;
    for (const auto& e : epochs) out.push_back(e.told);
    return out;
  }
  static std::vector<int> Threads(const std::vector<TailGate::Epoch>& epochs) {
    std::vector<int> out;
    for (const auto& e : epochs) out.push_back(e.threads);
    return out;
  }
};

TEST_F(TailBalanceTest, ATailTrialTakesTheIdleThreadsOnlyOnceTheOtherWorkerIsIdle) {
  // 4 cores, 2 workers: 2 threads each; alone, A takes all 4 - not while
  // anything is queued, nor while the other worker runs the last candidate.
  const auto epochs = RunGated("tail.db", 4, [](Config&) {});
  EXPECT_EQ(Told(epochs), (std::vector<int>{0, 0, 4, 0}));
  EXPECT_EQ(Threads(epochs), (std::vector<int>{2, 2, 4, 4}));
}

TEST_F(TailBalanceTest, ExplicitThreadsPerWorkerShareTheWorkersThreadsNotTheCores) {
  const auto epochs =
      RunGated("explicit.db", 8, [](Config& c) { c.execution.threads_per_worker = 1; });
  EXPECT_EQ(Told(epochs), (std::vector<int>{0, 0, 2, 0}));
  EXPECT_EQ(Threads(epochs), (std::vector<int>{1, 1, 2, 2}));
}

TEST_F(TailBalanceTest, NoBalancingWhenOffOrInDeterministicMode) {
  auto off = RunGated("off.db", 4, [](Config& c) { c.execution.tail_balance = false; });
  EXPECT_EQ(Told(off), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(Threads(off), (std::vector<int>{2, 2, 2, 2}));
  auto det = RunGated("det.db", 4, [](Config& c) { c.execution.deterministic = true; });
  EXPECT_EQ(Told(det), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(Threads(det), (std::vector<int>{1, 1, 1, 1}));
}

TEST_F(TailBalanceTest, RemoteTrialsAreNeverBalanced) {
  // local_trials = false: the trials run in other processes (distributed/).
  auto config = MakeConfig("remote.db", 2, 4);
  config->execution.threads_per_worker = 0;
  auto store = NewStudy(*config);
  ScriptedEvaluator inner;
  TailGate gate(inner);
  DriverOptions options;
  options.cores = 4;
  options.local_trials = false;
  Driver driver(config, *store, gate, gate, options);
  EXPECT_EQ(driver.Run().completed, 4);
  EXPECT_FALSE(gate.timed_out());
  EXPECT_EQ(Told(gate.a_epochs()), (std::vector<int>{0, 0, 0, 0}));
}

// Tail sharing, step by step: every trial is held until the test lets it
// finish, so the driver's choices are seen one at a time. Five candidates,
// two workers: a third trial may start only once fewer than two are queued
// and both workers are busy.
class Hold : public Evaluator {
 public:
  explicit Hold(Evaluator& inner) : inner_(inner) {}
  TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const int me = started_++;
      max_running_ = std::max(max_running_, ++running_);
      cv_.notify_all();
      if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return me < released_; })) {
        timed_out_ = true;
      }
    }
    const TrialOutcome out = inner_.Run(spec, observer);
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
    ++finished_;
    cv_.notify_all();
    return out;
  }
  // Lets the first `n` trials (in start order) finish; waits until `started`
  // trials have started and `finished` have finished (60 s at most).
  void Release(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = n;
    cv_.notify_all();
  }
  void WaitFor(int started, int finished) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(60),
                      [&] { return started_ >= started && finished_ >= finished; })) {
      timed_out_ = true;
    }
  }
  int running() {
    std::lock_guard<std::mutex> lock(mu_);
    return running_;
  }
  int started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  int max_running() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_running_;
  }
  bool timed_out() {
    std::lock_guard<std::mutex> lock(mu_);
    return timed_out_;
  }

 private:
  Evaluator& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0, running_ = 0, max_running_ = 0, finished_ = 0, released_ = 0;
  bool timed_out_ = false;
};

class TailShareTest : public DriverTest {
 protected:
  // Runs 5 candidates on 2 workers (2 cores) in a thread; returns the summary.
  std::future<SearchSummary> Start(const std::string& db, bool share, Hold& hold) {
    std::string text = ConfigText(/*workers=*/2, /*epochs=*/2);
    const std::string four = "{uniform: [2, 4]}";
    text.replace(text.find(four), four.size(), "{uniform: [2, 4]}, {reverse_pyramid: [2]}");
    auto config = std::make_shared<Config>(ParseConfig(text));
    config->storage.db = (dir_ / db).string();
    config->execution.tail_share = share;
    store_ = NewStudy(*config);
    DriverOptions options;
    options.cores = 2;
    driver_ = std::make_unique<Driver>(config, *store_, hold, progress_, options);
    return std::async(std::launch::async, [this] { return driver_->Run(); });
  }
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<Driver> driver_;
  QuietProgress progress_;
};

TEST_F(TailShareTest, TheLastPartialWaveStartsBesideTheBusyWorkers) {
  ScriptedEvaluator inner;
  Hold hold(inner);
  auto run = Start("share.db", true, hold);
  hold.WaitFor(2, 0);
  EXPECT_EQ(hold.running(), 2);  // three queued: a wave for the workers
  hold.Release(1);
  hold.WaitFor(3, 1);
  EXPECT_EQ(hold.running(), 2);  // two queued: still a whole wave
  hold.Release(2);
  hold.WaitFor(5, 2);  // one left for a worker, one less than a wave: both start
  EXPECT_EQ(hold.running(), 3);
  hold.Release(5);
  const SearchSummary s = run.get();
  EXPECT_EQ(s.completed, 5);
  EXPECT_EQ(hold.max_running(), 3);
  EXPECT_FALSE(hold.timed_out());
  // The tail slot is a worker of its own in the store.
  std::set<std::string> workers;
  for (const auto& t : store_->Trials()) workers.insert(t.worker.substr(t.worker.rfind('/')));
  EXPECT_EQ(workers, (std::set<std::string>{"/w0", "/w1", "/w2"}));
}

TEST_F(TailShareTest, OffTheLastTrialWaitsForAWorker) {
  ScriptedEvaluator inner;
  Hold hold(inner);
  auto run = Start("off.db", false, hold);
  hold.Release(2);
  hold.WaitFor(4, 2);
  EXPECT_EQ(hold.running(), 2);
  EXPECT_EQ(hold.started(), 4);
  hold.Release(5);
  EXPECT_EQ(run.get().completed, 5);
  EXPECT_EQ(hold.max_running(), 2);
  EXPECT_FALSE(hold.timed_out());
}

TEST(ExecutionConfigTest, TailShareIsOnByDefaultAndGivesWayToTailBalance) {
  EXPECT_TRUE(ExecutionOptions{}.tail_share);
  const std::string base = ConfigText(2, 2);
  const auto without = [&](const std::string& extra) {
    std::string text = base.substr(0, base.find("execution:"));
    return text + "execution: {workers: 2" + extra + "}\n";
  };
  EXPECT_TRUE(ParseConfig(without("")).execution.tail_share);
  EXPECT_FALSE(ParseConfig(without(", tail_share: false")).execution.tail_share);
  const Config balanced = ParseConfig(without(", tail_balance: true"));
  EXPECT_TRUE(balanced.execution.tail_balance);
  EXPECT_FALSE(balanced.execution.tail_share);
  try {
    ParseConfig(without(", tail_balance: true, tail_share: true"));
    ADD_FAILURE() << "both accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tail_share"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tail_balance"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fnas::search
