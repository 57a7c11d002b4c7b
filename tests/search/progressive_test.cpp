// The progressive per-layer strategy: its moves and expansion order on
// hand-made evidence, and whole searches with the scripted evaluator (no
// training): the expansion order derived by hand, budgets, determinism with
// several workers, and stop/resume.
#include "search/progressive.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "search/driver.h"
#include "search/execution.h"
#include "search/scripted_evaluator.h"
#include "search/study.h"
#include "tests/testing/study.h"
#include "tests/testing/temp_dir.h"

namespace fnas::search {
namespace {

using testing::RunAll;

// Two factorizable layers: conv_4_1 (4 -> 4 at 8x8), a pool, conv_8_1 (4 -> 8
// at 4x4); both ladders are 1, 2, 4. Conv MACs besides the stem (constant):
//   conv_4_1: f=1 9*64*4*4 = 9216; f=2 9*64*4*2 + 64*4*4 = 5632; f=4 3328
//   conv_8_1: f=1 9*16*4*8 = 4608; f=2 9*16*4*2 + 16*4*8 = 1664; f=4 1088
std::string TinyConfig(const std::string& progressive, int epochs = 2, int workers = 1) {
  return "name: prog\n"
         "seed: 3\n"
         "model: {input: [1, 8, 8], width: 1, stem: 4, stages: [[4, 1], [8, 1]], dense: [8]}\n"
         "data: {dataset: synthetic}\n"
         "training: {epochs: " +
         std::to_string(epochs) +
         "}\n"
         "search: {strategy: progressive, progressive: " +
         progressive +
         "}\n"
         "execution: {workers: " +
         std::to_string(workers) + ", threads_per_worker: 1}\n";
}

// The default macro at width 1/8 on 28x28: 8 layers, ladders up to 8, 16, 32.
std::string WideConfig(const std::string& progressive, int workers) {
  return "name: wide\n"
         "seed: 9\n"
         "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
         "space: {paths: [regular, {uniform: [2]}]}\n"
         "data: {dataset: synthetic}\n"
         "training: {epochs: 3}\n"
         "search: {record_every: 0, strategy: progressive, progressive: " +
         progressive +
         "}\n"
         "execution: {workers: " +
         std::to_string(workers) + ", threads_per_worker: 1}\n";
}

Evidence Result(int64_t id, const std::string& key, int step, double accuracy,
                const space::Macro& macro) {
  Evidence e;
  e.candidate = CandidateRowOf(macro, space::MakeCandidate(macro, space::ParseFactorization(key)));
  e.candidate.id = id;
  e.candidate.step = step;
  e.state = Evidence::State::kResult;
  e.accuracy = accuracy;
  e.epochs = 2;
  return e;
}

std::vector<std::string> Keys(const std::vector<db::CandidateRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.candidate.key);
  return out;
}

TEST(ProgressiveStrategyTest, ChildrenRaiseOneLayerOrOneStageToTheNextRate) {
  const Config config = ParseConfig(
      "name: c\nmodel: {input: [1, 28, 28], width: 0.125}\n"
      "search: {strategy: progressive}\n");
  const ProgressiveStrategy layers(config);
  // In-depths 8 8 | 8 16 16 | 16 32 32: ladders top out at 8, 16 and 32.
  const auto children = layers.Children({1, 8, 2, 4, 16, 16, 32, 8});
  std::vector<std::string> got;
  for (const auto& [f, move] : children) got.push_back(space::JoinFactorization(f) + " " + move);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "2.8.2.4.16.16.32.8 conv_64_1 1->2",
                     // conv_64_2 is depthwise already (8 = in-depth): no child.
                     "1.8.4.4.16.16.32.8 conv_128_1 2->4",
                     "1.8.2.8.16.16.32.8 conv_128_2 4->8",
                     // conv_128_3 and conv_256_1 at 16 = in-depth, conv_256_2 at 32.
                     "1.8.2.4.16.16.32.16 conv_256_3 8->16",
                 }));

  const ProgressiveStrategy stages(
      ParseConfig("name: c\nmodel: {input: [1, 28, 28], width: 0.125}\n"
                  "search: {strategy: progressive, progressive: {unit: stage}}\n"));
  got.clear();
  for (const auto& [f, move] : stages.Children({1, 8, 2, 4, 16, 16, 32, 8})) {
    got.push_back(space::JoinFactorization(f) + " " + move);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "2.8.2.4.16.16.32.8 stage 1 (conv_64_1..conv_64_2) 1.8->2.8",
                     "1.8.4.8.16.16.32.8 stage 2 (conv_128_1..conv_128_3) 2.4.16->4.8.16",
                     "1.8.2.4.16.16.32.16 stage 3 (conv_256_1..conv_256_3) 16.32.8->16.32.16",
                 }));
  // The depthwise net has no child at all.
  EXPECT_TRUE(layers.Children({8, 8, 8, 16, 16, 16, 32, 32}).empty());
}

TEST(ProgressiveStrategyTest, ExpandsTheFrontInOrderSkippingKnownChildren) {
  const Config config = ParseConfig(TinyConfig("{max_trials: 0}"));
  const ProgressiveStrategy s(config);
  const space::Macro macro = config.macro();
  // Step 1 from the regular seed: conv_4_1 saves the most MACs (9216 - 5632 >
  // 4608 - 1664), so it comes first.
  std::vector<Evidence> known = {Result(1, "1.1", 0, 0.9, macro)};
  auto rows = s.Expand(known);
  ASSERT_EQ(Keys(rows), (std::vector<std::string>{"2.1", "1.2"}));
  EXPECT_EQ(rows[0].parent_id, 1);
  EXPECT_EQ(rows[0].step, 1);
  EXPECT_EQ(rows[0].move, "conv_4_1 1->2");
  EXPECT_EQ(rows[1].move, "conv_8_1 1->2");

  // Step 2: all three on the front (MACs 13824 > 10880 > 10240, accuracy
  // 0.9 > 0.85 > 0.8). Parents by accuracy: regular (children known), 1.2
  // (children 2.2 = 7296 then 1.4 = 10304), 2.1 (children 2.2, then 4.1 =
  // 7936). Round robin: 2.2 from 1.2; 2.2 again from 2.1 (skipped); 1.4; 4.1.
  known.push_back(Result(2, "2.1", 1, 0.8, macro));
  known.push_back(Result(3, "1.2", 1, 0.85, macro));
  rows = s.Expand(known);
  ASSERT_EQ(Keys(rows), (std::vector<std::string>{"2.2", "1.4", "4.1"}));
  EXPECT_EQ(rows[0].parent_id, 3);
  EXPECT_EQ(rows[1].parent_id, 3);
  EXPECT_EQ(rows[2].parent_id, 2);
  for (const auto& r : rows) EXPECT_EQ(r.step, 2);

  // A dominated candidate is not expanded: 2.1 at 0.95 beats regular and 1.2
  // (more MACs, less accuracy), so only 2.1's children come.
  known[1].accuracy = 0.95;
  EXPECT_EQ(Keys(s.Expand(known)), (std::vector<std::string>{"2.2", "4.1"}));

  // A candidate still waiting for its result holds the step back.
  known[2].state = Evidence::State::kWaiting;
  EXPECT_TRUE(s.Expand(known).empty());
  // One that ended before the expansion epoch (failed, pruned) counts as done
  // and is not on the front.
  known[2].state = Evidence::State::kEnded;
  known[2].epochs = 1;
  EXPECT_EQ(Keys(s.Expand(known)), (std::vector<std::string>{"2.2", "4.1"}));
}

TEST(ProgressiveStrategyTest, BudgetsCapTheStep) {
  const space::Macro macro = ParseConfig(TinyConfig("{}")).macro();
  std::vector<Evidence> known = {Result(1, "1.1", 0, 0.9, macro), Result(2, "2.1", 1, 0.8, macro),
                                 Result(3, "1.2", 1, 0.85, macro)};
  // max_trials counts the candidates in the study, seeds included.
  EXPECT_EQ(Keys(ProgressiveStrategy(ParseConfig(TinyConfig("{max_trials: 5}"))).Expand(known)),
            (std::vector<std::string>{"2.2", "1.4"}));
  EXPECT_TRUE(
      ProgressiveStrategy(ParseConfig(TinyConfig("{max_trials: 3}"))).Expand(known).empty());
  // per_step caps one step, whatever the budget left.
  EXPECT_EQ(Keys(ProgressiveStrategy(ParseConfig(TinyConfig("{max_trials: 0, per_step: 1}")))
                     .Expand(known)),
            (std::vector<std::string>{"2.2"}));
  // max_epochs: 3 candidates x 2 epochs planned; 11 leaves room for 2 more
  // (2 x 2 = 4 <= 5), 6 for none.
  EXPECT_EQ(Keys(ProgressiveStrategy(ParseConfig(TinyConfig("{max_trials: 0, max_epochs: 11}")))
                     .Expand(known)),
            (std::vector<std::string>{"2.2", "1.4"}));
  EXPECT_TRUE(ProgressiveStrategy(ParseConfig(TinyConfig("{max_trials: 0, max_epochs: 6}")))
                  .Expand(known)
                  .empty());
  // A trial that ended early gives its unused epochs back.
  known[2].state = Evidence::State::kEnded;
  known[2].epochs = 0;
  EXPECT_EQ(Keys(ProgressiveStrategy(ParseConfig(TinyConfig("{max_trials: 0, max_epochs: 6}")))
                     .Expand(known)),
            (std::vector<std::string>{"2.2"}));
}

// Sleeps a random few milliseconds after every epoch, so trials finish in a
// different order on every run.
class Jitter : public Evaluator {
 public:
  explicit Jitter(Evaluator& inner) : inner_(inner) {}
  TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override {
    struct Sleepy : TrialObserver {
      TrialObserver& o;
      std::mt19937 rng;
      Sleepy(TrialObserver& obs, unsigned seed) : o(obs), rng(seed) {}
      EpochVerdict OnEpoch(const evaluators::EpochRecord& r, const evaluators::QuantReport* v,
                           const std::string& c) override {
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 15));
        return o.OnEpoch(r, v, c);
      }
      void OnProgress(int e, int b, int n, double l, double i) override {
        o.OnProgress(e, b, n, l, i);
      }
      bool StopRequested() const override { return o.StopRequested(); }
    } sleepy(observer, std::random_device{}());
    return inner_.Run(spec, sleepy);
  }

 private:
  Evaluator& inner_;
};

class ProgressiveSearchTest : public testing::TempDirTest {
 protected:
  std::unique_ptr<db::Store> NewStudy(const Config& config, const std::string& name) {
    return testing::NewStudy(config, (dir_ / name).string());
  }
  // "position key parent-key step move" for every candidate, in stored order.
  static std::vector<std::string> Lineage(const db::Store& store) {
    const auto candidates = store.Candidates();
    std::map<int64_t, std::string> key;
    for (const auto& c : candidates) key[c.id] = c.candidate.key;
    std::vector<std::string> out;
    for (const auto& c : candidates) {
      out.push_back(std::to_string(c.position) + " " + c.candidate.key + " " +
                    (c.parent_id ? key.at(c.parent_id) : "-") + " " + std::to_string(c.step) + " " +
                    c.move);
    }
    return out;
  }
};

TEST_F(ProgressiveSearchTest, FollowsTheFrontUntilNothingNewRemains) {
  // The scripted quint8 accuracy falls with d = mean log2 f and is equal for
  // equal d, so at equal d the cheaper candidate dominates (MACs above):
  //   step 1 from regular: 2.1 (10240), 1.2 (10880); 2.1 dominates 1.2.
  //   step 2 from 2.1: 2.2 (7296), 4.1 (7936); 2.2 dominates 4.1.
  //   step 3 from 2.2: 4.2 (4992), 2.4 (6720); 4.2 dominates 2.4.
  //   step 4 from 4.2: 4.4 (conv_4_1 is at the top of its ladder).
  //   step 5 from 4.4: no child; nothing new remains. 1.4 is never proposed.
  const Config config = ParseConfig(TinyConfig("{max_trials: 0}"));
  auto store = NewStudy(config, "a.db");
  ScriptedEvaluator ev;
  const SearchSummary s = RunAll(config, *store, ev);
  EXPECT_EQ(s.total, 8);
  EXPECT_EQ(s.appended, 7);
  EXPECT_EQ(s.completed, 8);
  EXPECT_EQ(Lineage(*store), (std::vector<std::string>{
                                 "0 1.1 - 0 ",
                                 "1 2.1 1.1 1 conv_4_1 1->2",
                                 "2 1.2 1.1 1 conv_8_1 1->2",
                                 "3 2.2 2.1 2 conv_8_1 1->2",
                                 "4 4.1 2.1 2 conv_4_1 2->4",
                                 "5 4.2 2.2 3 conv_4_1 2->4",
                                 "6 2.4 2.2 3 conv_8_1 2->4",
                                 "7 4.4 4.2 4 conv_8_1 2->4",
                             }));
  EXPECT_TRUE(ProgressiveStrategy(config).Propose(*store).empty());
  // Every candidate ran exactly once.
  EXPECT_EQ(store->Trials().size(), 8u);
}

TEST_F(ProgressiveSearchTest, StopsAtTheTrialAndEpochBudgets) {
  {
    const Config config = ParseConfig(WideConfig("{max_trials: 7}", 2));
    auto store = NewStudy(config, "trials.db");
    ScriptedEvaluator ev;
    EXPECT_EQ(RunAll(config, *store, ev).total, 7);
    EXPECT_EQ(store->Candidates().size(), 7u);
    EXPECT_EQ(store->Trials().size(), 7u);
  }
  {
    // 3 epochs a trial: 20 epochs plan 6 trials (18), not a 7th (21).
    const Config config = ParseConfig(WideConfig("{max_trials: 0, max_epochs: 20}", 2));
    auto store = NewStudy(config, "epochs.db");
    ScriptedEvaluator ev;
    RunAll(config, *store, ev);
    int epochs = 0;
    for (const auto& t : store->Trials()) epochs += t.epochs_done;
    EXPECT_EQ(store->Candidates().size(), 6u);
    EXPECT_EQ(epochs, 18);
  }
}

TEST_F(ProgressiveSearchTest, SameCandidatesWithOneOrSeveralWorkers) {
  const std::string options = "{max_trials: 14, expand_epoch: 1}";
  const Config one = ParseConfig(WideConfig(options, 1));
  auto reference = NewStudy(one, "one.db");
  ScriptedEvaluator ev;
  RunAll(one, *reference, ev);
  const auto want = Lineage(*reference);
  ASSERT_EQ(want.size(), 14u);
  for (int run = 0; run < 3; ++run) {
    const Config three = ParseConfig(WideConfig(options, 3));
    auto store = NewStudy(three, "three-" + std::to_string(run) + ".db");
    Jitter jitter(ev);
    RunAll(three, *store, jitter);
    EXPECT_EQ(Lineage(*store), want) << "run " << run;
  }
}

TEST_F(ProgressiveSearchTest, StopAndResumeKeepParentsAndStepsAndRunNothingTwice) {
  const std::string options = "{max_trials: 12, expand_epoch: 2}";
  const Config config = ParseConfig(WideConfig(options, 2));
  auto reference = NewStudy(config, "ref.db");
  ScriptedEvaluator ev;
  RunAll(config, *reference, ev);
  const auto want = Lineage(*reference);

  auto store = NewStudy(config, "stopped.db");
  // Stop after 10 epochs, then again after 10 more, then finish.
  for (int round = 0; round < 3; ++round) {
    std::atomic<int> epochs{0};
    struct Counter : Evaluator {
      Evaluator& inner;
      std::atomic<int>& n;
      Counter(Evaluator& e, std::atomic<int>& c) : inner(e), n(c) {}
      TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override {
        struct Count : TrialObserver {
          TrialObserver& o;
          std::atomic<int>& n;
          Count(TrialObserver& obs, std::atomic<int>& c) : o(obs), n(c) {}
          EpochVerdict OnEpoch(const evaluators::EpochRecord& r, const evaluators::QuantReport* v,
                               const std::string& c) override {
            const EpochVerdict verdict = o.OnEpoch(r, v, c);
            ++n;
            return verdict;
          }
          void OnProgress(int e, int b, int k, double l, double i) override {
            o.OnProgress(e, b, k, l, i);
          }
          bool StopRequested() const override { return o.StopRequested(); }
        } count(observer, n);
        return inner.Run(spec, count);
      }
    } counter(ev, epochs);
    const SearchSummary s =
        RunAll(config, *store, counter, [&] { return round < 2 && epochs.load() >= 10; });
    EXPECT_EQ(s.stopped, round < 2) << round;
  }
  EXPECT_EQ(Lineage(*store), want);
  // One trial per candidate, every one COMPLETE, with the reference's results.
  std::map<std::string, double> ref_acc;
  for (const auto& t : reference->Trials()) ref_acc[t.candidate_key] = t.test.acc_q;
  const auto trials = store->Trials();
  ASSERT_EQ(trials.size(), want.size());
  int restarted = 0;
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, db::TrialState::kComplete) << t.candidate_key << ": " << t.reason;
    EXPECT_DOUBLE_EQ(t.test.acc_q, ref_acc.at(t.candidate_key));
    restarted += t.attempts > 1;
  }
  EXPECT_GE(restarted, 1);
}

}  // namespace
}  // namespace fnas::search
