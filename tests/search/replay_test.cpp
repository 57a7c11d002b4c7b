// Replay's arithmetic on a hand-made study.
#include "search/replay.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace fnas::search {
namespace {

RungResult At(int64_t id, int epoch, double acc_fp32) {
  RungResult r;
  r.trial_id = id;
  r.epoch = epoch;
  r.macs_conv = 0;
  r.acc_fp32 = r.acc_q = acc_fp32;
  return r;
}

// Six trials of 4 epochs: (MACs, final quint8 test accuracy)
// 1 (10,.50) 2 (40,.80) 3 (70,.90) 4 (50,.60) 5 (90,.85) 6 (100,.95).
// Full front 1, 2, 3, 6; hypervolume with reference 100:
// 10..40 at .5 (15) + 40..70 at .8 (24) + 70..100 at .9 (27) = 66.
ReplayInput Study() {
  ReplayInput in;
  in.epochs = 4;
  in.ref_macs = 100;
  const int64_t macs[] = {10, 40, 70, 50, 90, 100};
  const double acc[] = {0.5, 0.8, 0.9, 0.6, 0.85, 0.95};
  for (int i = 0; i < 6; ++i) {
    in.trials.push_back({i + 1, "t" + std::to_string(i + 1), macs[i], 4, true, acc[i]});
  }
  // Rung 2 arrivals: 6 .9, 5 .8, 4 .5, 3 .85, 2 .7, 1 .4 (fp32 validation).
  in.rungs = {At(6, 2, 0.9), At(5, 2, 0.8), At(4, 2, 0.5), At(3, 2, 0.85), At(2, 2, 0.7),
              At(1, 2, 0.4)};
  // Rung 3 arrivals 1..6.
  const double r3[] = {0.45, 0.75, 0.88, 0.55, 0.82, 0.92};
  for (int i = 0; i < 6; ++i) in.rungs.push_back(At(i + 1, 3, r3[i]));
  return in;
}

PruningOptions Asha(std::vector<double> rungs) {
  PruningOptions o;
  o.pruner = "asha";
  o.eta = 2;
  o.min_peers = 1;
  o.rungs = std::move(rungs);
  return o;
}

TEST(Replay, AshaOnOneRungByHand) {
  const ReplayResult r = Replay(Study(), Asha({2}));
  // 6 kept (no peer); 5 (.8 < best .9, keep 1 of 2) pruned; 4 (keep 1 of 3) pruned;
  // 3 (.85 = 2nd of 4, keep 2) kept; 2 (.7, keep 2 of 5, threshold .85) pruned;
  // 1 (.4, keep 3 of 6, threshold .8) pruned.
  ASSERT_EQ(r.decisions.size(), 6u);
  EXPECT_EQ(r.pruned, (std::vector<std::pair<int64_t, int>>{{5, 2}, {4, 2}, {2, 2}, {1, 2}}));
  EXPECT_EQ(r.rungs, (std::vector<int>{2}));
  // Epochs: 6 x 4 = 24 recorded; 3 and 6 train 4 each, the pruned 2 each: 16.
  EXPECT_EQ(r.epochs_full, 24);
  EXPECT_EQ(r.epochs_trained, 16);
  EXPECT_NEAR(r.epoch_fraction, 16.0 / 24.0, 1e-12);
  // Found front 3, 6: 70..100 at .9 = 27 of 66; lost full-front members 1 and 2.
  EXPECT_EQ(r.lost, (std::vector<int64_t>{1, 2}));
  EXPECT_NEAR(r.hv_full, 66.0, 1e-9);
  EXPECT_NEAR(r.hv_found, 27.0, 1e-9);
  EXPECT_NEAR(r.hv_fraction, 27.0 / 66.0, 1e-12);
}

TEST(Replay, PrunedTrialsReachNoLaterRung) {
  const ReplayResult r = Replay(Study(), Asha({2, 3}));
  // Rung 3: only 3 and 6 arrive (in that order): 3 has no peer, 6 (.92 > .88) is the best.
  ASSERT_EQ(r.decisions.size(), 8u);
  EXPECT_EQ(r.decisions[6].trial_id, 3);
  EXPECT_EQ(r.decisions[6].epoch, 3);
  EXPECT_EQ(r.decisions[6].verdict.rule, "min-peers");
  EXPECT_EQ(r.decisions[7].trial_id, 6);
  EXPECT_FALSE(r.decisions[7].verdict.prune);
  EXPECT_EQ(r.epochs_trained, 16);
  // Empty rungs = every recorded rung: the same simulation.
  EXPECT_EQ(Replay(Study(), Asha({})).rungs, (std::vector<int>{2, 3}));
}

TEST(Replay, NoPrunerKeepsEverything) {
  PruningOptions o;
  const ReplayResult r = Replay(Study(), o);
  EXPECT_TRUE(r.pruned.empty());
  EXPECT_EQ(r.epochs_trained, r.epochs_full);
  EXPECT_DOUBLE_EQ(r.hv_fraction, 1.0);
  EXPECT_TRUE(r.lost.empty());
}

TEST(Replay, FailedTrialsCountTheirEpochsButAreNotOnTheFront) {
  ReplayInput in = Study();
  in.trials.push_back({7, "t7", 5, 1, false, 0});  // failed in epoch 1, would dominate nothing
  const ReplayResult r = Replay(in, Asha({2}));
  EXPECT_EQ(r.epochs_full, 25);
  EXPECT_EQ(r.epochs_trained, 17);
}

TEST(Replay, RefusesARungTheStudyDidNotRecord) {
  try {
    Replay(Study(), Asha({1}));
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("recorded rungs: 2, 3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fnas::search
