// Early pruning in the driver with the scripted evaluator (no training):
// decisions on arrival, PRUNED trials, the store's rung results and decisions,
// resume keeping them.
#include <gtest/gtest.h>

#include <atomic>
#include <map>

#include "search/driver.h"
#include "search/scripted_evaluator.h"
#include "search/study.h"
#include "tests/testing/study.h"
#include "tests/testing/temp_dir.h"

namespace fnas::search {
namespace {

using testing::NewStudy;
using testing::RunAll;
using testing::TrialsByName;

// Five candidates; the scripted fp32 validation accuracy at epoch 1 is
// 0.6 - 0.02 d with d = mean log2 f: regular .6, uniform-f2 .58, f4 .56,
// f8 .54, depthwise (d = 3.875) .5225 (arriving in this order with 1 worker).
std::string ConfigText(const std::string& pruning, int epochs) {
  return "name: prn\n"
         "seed: 5\n"
         "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
         "space:\n  paths: [regular, {uniform: [2, 4, 8]}, depthwise]\n"
         "data: {dataset: synthetic}\n"
         "training: {epochs: " +
         std::to_string(epochs) +
         "}\n"
         "search: {record_every: 0}\n"
         "pruning: " +
         pruning +
         "\n"
         "execution: {workers: 1, threads_per_worker: 1}\n";
}

// Asks the driver to stop after `stop_after` epochs in all.
class Stopping : public Evaluator {
 public:
  Stopping(Evaluator& inner, int stop_after) : inner_(inner), stop_after_(stop_after) {}
  TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override {
    struct Counting : TrialObserver {
      TrialObserver& o;
      Stopping& s;
      Counting(TrialObserver& obs, Stopping& st) : o(obs), s(st) {}
      EpochVerdict OnEpoch(const evaluators::EpochRecord& r, const evaluators::QuantReport* v,
                           const std::string& c) override {
        const EpochVerdict verdict = o.OnEpoch(r, v, c);
        if (++s.epochs_ >= s.stop_after_) s.stop_ = true;
        return verdict;
      }
      void OnProgress(int e, int b, int n, double l, double i) override {
        o.OnProgress(e, b, n, l, i);
      }
      bool StopRequested() const override { return s.stop_ || o.StopRequested(); }
    } counting(observer, *this);
    return inner_.Run(spec, counting);
  }
  std::atomic<bool> stop_{false};

 private:
  Evaluator& inner_;
  int stop_after_;
  std::atomic<int> epochs_{0};
};

class PruningDriverTest : public testing::TempDirTest {
 protected:
  std::shared_ptr<Config> MakeConfig(const std::string& pruning, int epochs = 3) {
    auto c = std::make_shared<Config>(ParseConfig(ConfigText(pruning, epochs)));
    c->storage.db = (dir_ / "prn.db").string();
    return c;
  }
};

TEST_F(PruningDriverTest, AshaPrunesOnArrivalAndStoresEveryDecision) {
  auto config = MakeConfig("{pruner: asha, rungs: [1], eta: 2, min_peers: 1}");
  auto store = NewStudy(*config);
  ScriptedEvaluator ev;
  const SearchSummary s = RunAll(config, *store, ev);
  // regular: no peer, kept; uniform-f2 (.58 < .6, keep 1 of 2), f4 (keep 1 of 3),
  // f8 (.54 < .58, keep 2 of 4), depthwise (keep 2 of 5): pruned at epoch 1.
  EXPECT_EQ(s.completed, 1);
  EXPECT_EQ(s.pruned, 4);
  const auto t = TrialsByName(*store);
  EXPECT_EQ(t.at("regular").state, db::TrialState::kComplete);
  for (const char* name : {"uniform-f2", "uniform-f4", "uniform-f8", "depthwise"}) {
    const db::TrialRow& r = t.at(name);
    EXPECT_EQ(r.state, db::TrialState::kPruned) << name;
    EXPECT_EQ(r.epochs_done, 1) << name;
    EXPECT_NE(r.reason.find("pruned at epoch 1"), std::string::npos) << r.reason;
    const auto d = store->PruneDecisions(r.id);
    ASSERT_EQ(d.size(), 1u) << name;
    EXPECT_EQ(d[0].decision, "prune");
    EXPECT_EQ(d[0].rule, "rank");
    EXPECT_EQ(d[0].reason, r.reason);
    // The regular trial is always among those that justified it.
    EXPECT_NE(d[0].evidence.find("\"justified_by\":[" + std::to_string(t.at("regular").id)),
              std::string::npos)
        << d[0].evidence;
  }
  const auto kept = store->PruneDecisions(t.at("regular").id);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].decision, "continue");
  EXPECT_EQ(kept[0].rule, "min-peers");
  // Rung results in order of arrival, with the candidates' MACs and the
  // validation metrics of epoch 1.
  const auto rungs = store->RungResults(1);
  ASSERT_EQ(rungs.size(), 5u);
  const std::vector<std::string> order = {"regular", "uniform-f2", "uniform-f4", "uniform-f8",
                                          "depthwise"};
  for (size_t i = 0; i < rungs.size(); ++i) {
    EXPECT_EQ(rungs[i].trial_id, t.at(order[i]).id);
    EXPECT_EQ(rungs[i].macs_conv, t.at(order[i]).macs_conv);
  }
  EXPECT_NEAR(rungs[1].validation.acc_fp32, 0.58, 1e-12);
  // The front holds only completed trials.
  ASSERT_EQ(s.front.size(), 1u);
}

TEST_F(PruningDriverTest, NonePrunerRecordsEveryRungAndRungsAreRecordedEpochs) {
  auto config = MakeConfig("{pruner: none, rungs: [1, 2]}");
  auto store = NewStudy(*config);
  ScriptedEvaluator ev;
  const SearchSummary s = RunAll(config, *store, ev);
  EXPECT_EQ(s.completed, 5);
  EXPECT_EQ(store->RungResults().size(), 10u);
  for (const auto& t : store->Trials()) {
    // record_every is 0, yet the rung epochs carry validation metrics.
    const auto epochs = store->Epochs(t.id);
    ASSERT_EQ(epochs.size(), 3u);
    EXPECT_TRUE(epochs[0].recorded && epochs[1].recorded);
    EXPECT_EQ(store->PruneDecisions(t.id).size(), 2u);
  }
}

TEST_F(PruningDriverTest, ResumeKeepsDecisionsAndNeverReevaluatesARung) {
  auto config = MakeConfig("{pruner: asha, rungs: [1, 2], eta: 2, min_peers: 1}");
  auto store = NewStudy(*config);
  ScriptedEvaluator scripted;
  {
    // Stop after regular's second epoch (both its rungs decided).
    Stopping ev(scripted, 2);
    const SearchSummary s = RunAll(config, *store, ev, [&] { return ev.stop_.load(); });
    EXPECT_EQ(s.interrupted, 1);
  }
  const int64_t regular = TrialsByName(*store).at("regular").id;
  const auto before = store->PruneDecisions(regular);
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(store->RungResults().size(), 2u);
  {
    const SearchSummary s = RunAll(config, *store, scripted);
    EXPECT_EQ(s.completed, 1);
    EXPECT_EQ(s.pruned, 4);
  }
  // The regular trial's decisions stand, unchanged, and its rungs were not
  // evaluated again: one rung row each.
  const auto after = store->PruneDecisions(regular);
  ASSERT_EQ(after.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(after[i].decided_at, before[i].decided_at);
    EXPECT_EQ(after[i].evidence, before[i].evidence);
  }
  int rows_of_regular = 0;
  for (const auto& r : store->RungResults()) rows_of_regular += r.trial_id == regular;
  EXPECT_EQ(rows_of_regular, 2);
  // The others were judged at rung 1 against regular (arrived before them).
  EXPECT_EQ(store->RungResults(1).size(), 5u);
  EXPECT_EQ(store->RungResults(2).size(), 1u);
}

}  // namespace
}  // namespace fnas::search
