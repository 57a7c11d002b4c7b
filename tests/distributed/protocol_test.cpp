// Rank 0 and its worker ranks over an in-process network (LocalNetwork: every
// message goes through the wire format), with the real driver, store and
// pruner on rank 0 and the scripted evaluator on the workers: the study's
// rows equal those of the same study run in one process; a rung decision is
// taken on rank 0 as in one process; failures travel back as such.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "distributed/channel.h"
#include "distributed/remote_evaluator.h"
#include "distributed/worker.h"
#include "search/driver.h"
#include "search/scripted_evaluator.h"
#include "tests/testing/study.h"
#include "tests/testing/temp_dir.h"

namespace fnas::distributed {
namespace {

using testing::NewStudy;
using testing::RunAll;

std::string ConfigText(const std::string& name, const std::string& extra, int workers) {
  return "name: " + name +
         "\n"
         "seed: 5\n"
         "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
         "space:\n  paths: [regular, {uniform: [2, 4, 8]}, depthwise]\n"
         "data: {dataset: synthetic}\n"
         "training: {epochs: 3}\n"
         "execution: {workers: " +
         std::to_string(workers) + ", deterministic: true}\n" + extra;
}

// An MPI job in threads: ranks 1..n-1 run RunWorker with the scripted evaluator.
class Job {
 public:
  Job(int ranks, std::string scripted = "")
      : net_(ranks), scripted_(std::move(scripted)), codes_(ranks, -1) {
    for (int r = 1; r < ranks; ++r) {
      threads_.emplace_back([this, r] {
        WorkerPlacement where;
        where.cores = 1;
        codes_[r] = RunWorker(net_.at(r), where, [this](const Config&) {
          return std::make_unique<search::ScriptedEvaluator>(
              search::ParseScriptedOptions(scripted_));
        });
      });
    }
  }
  ~Job() { Join(); }
  Channel& rank0() { return net_.at(0); }
  void Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Rank 0's run: the driver with one worker per remote slot, then shutdown.
  search::SearchSummary Run(const Config& config, db::Store& store) {
    const std::vector<RemoteSlot> slots = StartWorkers(rank0(), config);
    RemoteEvaluator remote(rank0(), slots);
    auto run_config = std::make_shared<Config>(config);
    run_config->execution.workers = static_cast<int>(slots.size());
    const search::SearchSummary s = RunAll(run_config, store, remote);
    StopWorkers(rank0(), 0);
    Join();
    return s;
  }
  int code(int rank) const { return codes_[rank]; }

 private:
  LocalNetwork net_;
  std::string scripted_;
  std::vector<int> codes_;
  std::vector<std::thread> threads_;
};

class ProtocolTest : public testing::TempDirTest {
 protected:
  Config MakeConfig(const std::string& name, const std::string& extra = "", int workers = 1) {
    Config c = ParseConfig(ConfigText(name, extra, workers));
    c.storage.db = (dir_ / (name + ".db")).string();
    return c;
  }

  // Everything the store holds of each trial that does not depend on timing
  // or on which process ran it, by candidate name.
  static std::map<std::string, std::string> Rows(const db::Store& store) {
    std::map<std::string, std::string> out;
    for (const db::TrialRow& t : store.Trials()) {
      std::ostringstream s;
      s.precision(17);
      s << db::TrialStateName(t.state) << " epochs " << t.epochs_done << " reason '" << t.reason
        << "' attempts " << t.attempts << " test " << t.test.acc_fp32 << " " << t.test.acc_q << " "
        << t.test.qmse << " " << t.test.qce << " ckpt-epoch " << t.checkpoint_epoch << "\n";
      for (const db::EpochRow& e : store.Epochs(t.id)) {
        s << " epoch " << e.record.epoch << " loss " << e.record.train_loss << " acc "
          << e.record.train_acc << " val " << e.record.val_acc << " recorded " << e.recorded
          << " q " << e.validation.acc_q << " " << e.validation.qmse << "\n";
      }
      for (const db::LayerRow& l : store.Layers(t.id)) {
        s << " layer " << l.split << " " << l.epoch << " " << l.stats.op << " "
          << l.stats.weights.range << " " << l.stats.activations.max << " " << l.stats.sqnr_db
          << "\n";
      }
      for (const db::PruneDecision& d : store.PruneDecisions(t.id)) {
        s << " decision " << d.rung_epoch << " " << d.decision << " " << d.rule << " " << d.reason
          << "\n";
      }
      out[t.candidate_name] = s.str();
    }
    return out;
  }
};

TEST_F(ProtocolTest, TwoWorkerRanksGiveTheRowsOfOneProcess) {
  const Config config = MakeConfig("one", "search: {record_every: 1}\n", 2);
  auto alone = NewStudy(config, (dir_ / "alone.db").string());
  search::ScriptedEvaluator scripted;
  const search::SearchSummary a = RunAll(config, *alone, scripted);
  ASSERT_EQ(a.completed, 5);

  auto spread = NewStudy(config);
  Job job(3);
  const search::SearchSummary s = job.Run(config, *spread);
  EXPECT_EQ(s.completed, 5);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(job.code(1), 0);
  EXPECT_EQ(job.code(2), 0);
  const auto want = Rows(*alone), got = Rows(*spread);
  ASSERT_EQ(got.size(), 5u);
  for (const auto& [name, rows] : want) EXPECT_EQ(got.at(name), rows) << name;
  // Checkpoint paths are stored as the driver named them (relative or not),
  // and the last one of each trial is on disk.
  for (const db::TrialRow& t : spread->Trials()) {
    EXPECT_EQ(t.checkpoint.rfind(spread->Study().checkpoint_dir + "/trial-", 0), 0u)
        << t.checkpoint;
    EXPECT_TRUE(std::filesystem::exists(t.checkpoint)) << t.checkpoint;
  }
}

TEST_F(ProtocolTest, RungDecisionsAcrossRanksAreThoseOfOneProcess) {
  // One remote slot, one local worker: the same order of arrival at the rung.
  const Config config =
      MakeConfig("prn", "pruning: {pruner: asha, rungs: [1], eta: 2, min_peers: 1}\n", 1);
  auto alone = NewStudy(config, (dir_ / "alone.db").string());
  search::ScriptedEvaluator scripted;
  const search::SearchSummary a = RunAll(config, *alone, scripted);
  ASSERT_EQ(a.pruned, 4);  // tests/search/pruning_driver_test: regular alone survives

  auto spread = NewStudy(config);
  Job job(2);
  const search::SearchSummary s = job.Run(config, *spread);
  EXPECT_EQ(s.completed, 1);
  EXPECT_EQ(s.pruned, 4);
  const auto want = Rows(*alone), got = Rows(*spread);
  for (const auto& [name, rows] : want) EXPECT_EQ(got.at(name), rows) << name;
  const auto rungs_a = alone->RungResults(1), rungs_s = spread->RungResults(1);
  ASSERT_EQ(rungs_s.size(), rungs_a.size());
  for (size_t i = 0; i < rungs_a.size(); ++i) EXPECT_EQ(rungs_s[i].trial_id, rungs_a[i].trial_id);
}

TEST_F(ProtocolTest, AWorkersFailuresAreRecordedAsInOneProcess) {
  const Config config = MakeConfig("fail", "", 1);
  auto spread = NewStudy(config);
  Job job(3, "fail=uniform-f2+uniform-f4,fail_epoch=2");
  const search::SearchSummary s = job.Run(config, *spread);
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(s.failed, 2);
  for (const db::TrialRow& t : spread->Trials()) {
    if (t.candidate_name == "uniform-f2" || t.candidate_name == "uniform-f4") {
      EXPECT_EQ(t.state, db::TrialState::kFailed);
      EXPECT_EQ(t.reason, "scripted failure of " + t.candidate_name + " in epoch 2 (loss is nan)");
      EXPECT_EQ(t.epochs_done, 1);
    }
  }
}

TEST_F(ProtocolTest, AnEnvironmentFailureOnAWorkerInterruptsForResume) {
  const Config config = MakeConfig("env", "", 1);
  auto spread = NewStudy(config);
  {
    Job job(2, "fail=regular,fail_mode=environment");
    const search::SearchSummary s = job.Run(config, *spread);
    EXPECT_EQ(s.environment, 1);
    EXPECT_EQ(s.interrupted, 1);
    EXPECT_NE(s.environment_reason.find("No space left on device"), std::string::npos);
  }
  Job job(3);  // resume on another number of ranks
  const search::SearchSummary s = job.Run(config, *spread);
  EXPECT_EQ(s.completed + s.skipped, 5);
  for (const db::TrialRow& t : spread->Trials()) {
    EXPECT_EQ(t.state, db::TrialState::kComplete) << t.candidate_name;
  }
  EXPECT_EQ(spread->Trials().size(), 5u);
}

TEST_F(ProtocolTest, AWorkerThatCannotSetUpIsNamedAndEveryRankStops) {
  const Config config = MakeConfig("bad");
  Job job(3, "epoch_ms=fast");
  const std::string what = testing::ErrorOf<UsageError>([&] { StartWorkers(job.rank0(), config); });
  EXPECT_NE(what.find("rank "), std::string::npos) << what;
  EXPECT_NE(what.find("epoch_ms = 'fast'"), std::string::npos) << what;
  StopWorkers(job.rank0(), 2);
  job.Join();
  EXPECT_EQ(job.code(1), 2);
  EXPECT_EQ(job.code(2), 2);
}

TEST_F(ProtocolTest, WorkersStopWhenRank0StopsBeforeSendingTheConfig) {
  Job job(3);
  StopWorkers(job.rank0(), 2);
  job.Join();
  EXPECT_EQ(job.code(1), 0);
  EXPECT_EQ(job.code(2), 0);
}

TEST(WorkerSlotsTest, AutoSharesTheHostsCoresBetweenItsWorkerRanks) {
  search::ExecutionOptions exec;
  EXPECT_EQ(WorkerSlots(exec, 16, 4), 4);
  EXPECT_EQ(WorkerSlots(exec, 2, 3), 1);  // oversubscribed: at least one
  exec.workers = 3;
  EXPECT_EQ(WorkerSlots(exec, 16, 4), 3);  // execution.workers is per rank
}

}  // namespace
}  // namespace fnas::distributed
