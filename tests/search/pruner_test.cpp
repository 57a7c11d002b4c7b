// Each pruning rule on hand-made rungs (no store, no training).
#include "search/pruner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"

namespace fnas::search {
namespace {

RungResult R(int64_t id, int64_t macs, double acc_q, double acc_fp32 = -1, double rel = 0,
             double qmse = 0) {
  RungResult r;
  r.trial_id = id;
  r.epoch = 2;
  r.macs_conv = macs;
  r.acc_q = acc_q;
  r.acc_fp32 = acc_fp32 < 0 ? acc_q : acc_fp32;
  r.rel_decrease = rel;
  r.qmse = qmse;
  return r;
}

PruningOptions Opts(const std::string& pruner, double eta = 3, int min_peers = 3) {
  PruningOptions o;
  o.pruner = pruner;
  o.rungs = {2};
  o.eta = eta;
  o.min_peers = min_peers;
  return o;
}

PruneVerdict Decide(const PruningOptions& o, const RungResult& self,
                    const std::vector<RungResult>& peers) {
  return MakePruner(o)->Decide(self, peers);
}

// Five peers on a staircase (all on one front), the best in both objectives
// at the extremes.
const std::vector<RungResult> kStair = {R(1, 10, 0.60), R(2, 20, 0.70), R(3, 30, 0.80),
                                        R(4, 40, 0.85), R(5, 50, 0.90)};

TEST(NonDominatedRanks, FrontsByHand) {
  // (cost, value): a(1,.9) b(2,.8) dominated by a, c(2,.95), d(3,.5) dominated by a, b, c.
  const std::vector<RankPoint> p = {{1, 0.9}, {2, 0.8}, {2, 0.95}, {3, 0.5}};
  EXPECT_EQ(NonDominatedRanks(p, 0), (std::vector<int>{0, 1, 0, 2}));
  // With margin 0.2 nothing beats anything by 0.2 except a, c over d (.4, .45).
  EXPECT_EQ(NonDominatedRanks(p, 0.2), (std::vector<int>{0, 0, 0, 1}));
}

TEST(NonDominatedRanks, EqualPointsShareAFront) {
  const std::vector<RankPoint> p = {{1, 0.5}, {1, 0.5}, {2, 0.4}};
  EXPECT_EQ(NonDominatedRanks(p, 0), (std::vector<int>{0, 0, 1}));
}

TEST(CrowdingDistances, EqualPointsShareTheirDistance) {
  // Front (0,0) (2,1) (2,1) (4,4): the twins are one interior point, 4/4 + 4/4 = 2.
  const std::vector<RankPoint> p = {{2, 1}, {0, 0}, {2, 1}, {4, 4}};
  const auto d = CrowdingDistances(p, {0, 0, 0, 0});
  EXPECT_DOUBLE_EQ(d[0], 2.0);
  EXPECT_DOUBLE_EQ(d[2], 2.0);
  EXPECT_TRUE(std::isinf(d[1]) && std::isinf(d[3]));
}

TEST(CrowdingDistances, InteriorPointsByHand) {
  // One front: cost 0,1,3,4 and value 0,1,2,4; both ranges 4.
  // point 1: (3-0)/4 + (2-0)/4 = 1.25; point 2: (4-1)/4 + (4-1)/4 = 1.5.
  const std::vector<RankPoint> p = {{0, 0}, {1, 1}, {3, 2}, {4, 4}};
  const auto d = CrowdingDistances(p, {0, 0, 0, 0});
  EXPECT_TRUE(std::isinf(d[0]));
  EXPECT_DOUBLE_EQ(d[1], 1.25);
  EXPECT_DOUBLE_EQ(d[2], 1.5);
  EXPECT_TRUE(std::isinf(d[3]));
}

TEST(Pruner, UnknownNameListsTheKnownOnes) {
  try {
    MakePruner(Opts("hyperband"));
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("quant-aware"), std::string::npos);
  }
}

TEST(Pruner, NoneKeepsEverything) {
  const auto v = Decide(Opts("none"), R(9, 100, 0.01), kStair);
  EXPECT_FALSE(v.prune);
  EXPECT_EQ(v.rule, "none");
}

TEST(Pruner, TooFewPeersPrunesNothing) {
  for (const char* name : {"quant-aware", "moasha", "asha", "median"}) {
    const auto v = Decide(Opts(name, 3, 3), R(9, 100, 0.01, 0.01, 50, 9), {kStair[0], kStair[1]});
    EXPECT_FALSE(v.prune) << name;
    EXPECT_EQ(v.rule, "min-peers") << name;
    EXPECT_NE(v.reason.find("2 peers"), std::string::npos) << v.reason;
  }
  // With the third peer it is pruned.
  EXPECT_TRUE(Decide(Opts("asha", 3, 3), R(9, 100, 0.01), {kStair[0], kStair[1], kStair[2]}).prune);
}

TEST(QuantAware, DominatedTrialBeyondTheTopThirdIsPruned) {
  // Six trials, eta 3 keeps 2: self (45, .7) is dominated by 1..3 (front 2).
  const auto v = Decide(Opts("quant-aware"), R(9, 45, 0.70), kStair);
  EXPECT_TRUE(v.prune);
  EXPECT_EQ(v.rule, "rank");
  // Justified by the five trials ranked ahead (all on the first front).
  EXPECT_EQ(v.justified_by, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_NE(v.evidence.find("\"front_rank\":2"), std::string::npos) << v.evidence;
  EXPECT_NE(v.evidence.find("\"dominated_by\":[2,3,4]"), std::string::npos) << v.evidence;
  EXPECT_NE(v.reason.find("front 2 of 6"), std::string::npos) << v.reason;
}

TEST(QuantAware, FirstFrontIsNeverPrunedForAccuracy) {
  // Fewest MACs, worst accuracy: on the first front although 5 others exist and k = 2.
  const auto v = Decide(Opts("quant-aware"), R(9, 5, 0.10), kStair);
  EXPECT_FALSE(v.prune);
  EXPECT_EQ(v.rule, "front");
  // MOASHA ranks the same point (an extreme of the front, infinite crowding)
  // first too; an interior first-front point is what it prunes:
  const auto m = Decide(Opts("moasha"), R(9, 25, 0.75), kStair);
  EXPECT_TRUE(m.prune);
  const auto q = Decide(Opts("quant-aware"), R(9, 25, 0.75), kStair);
  EXPECT_FALSE(q.prune);
  EXPECT_EQ(q.rule, "front");
}

TEST(QuantAware, MarginMakesCloseAccuraciesEqual) {
  // Peers at 10..50 MACs; self (45, .84) is dominated by 4 (40, .85) only by 0.01.
  const auto strict = Decide(Opts("quant-aware"), R(9, 45, 0.84), kStair);
  EXPECT_TRUE(strict.prune);
  PruningOptions o = Opts("quant-aware");
  o.margin = 0.02;
  const auto v = Decide(o, R(9, 45, 0.84), kStair);
  EXPECT_FALSE(v.prune);
  EXPECT_EQ(v.rule, "front");
}

TEST(QuantAware, TiesInRankAndCrowdingAreKept) {
  // Self is the twin of peer 3; eta 2 with 5 peers: n = 6, keep 3.
  const std::vector<RungResult> peers = {R(1, 10, 0.9), R(2, 20, 0.95), R(3, 30, 0.6),
                                         R(4, 40, 0.5), R(5, 15, 0.2)};
  // self = twin of 3: front 2 = {5, 3, self}? 5 (15,.2) is dominated by 1 -> front 2 with 3 and
  // self (3 and self dominated by 2); 4 dominated by 3 -> front 3.
  const auto v = Decide(Opts("quant-aware", 2, 3), R(9, 30, 0.6), peers);
  // Front 2 sorted by cost: 5, then the twins 3 = self: two distinct points,
  // both extremes (infinite crowding). Ahead of self: 1 and 2 only; 2 < keep 3.
  EXPECT_FALSE(v.prune) << v.reason << v.evidence;
  EXPECT_EQ(v.rule, "rank");
  EXPECT_NE(v.evidence.find("\"ahead\":2"), std::string::npos) << v.evidence;
  // The twin arriving in the other order is judged alike.
  std::vector<RungResult> swapped = peers;
  swapped[2] = R(9, 30, 0.6);
  const auto w = Decide(Opts("quant-aware", 2, 3), R(3, 30, 0.6), swapped);
  EXPECT_FALSE(w.prune);
  EXPECT_NE(w.evidence.find("\"ahead\":2"), std::string::npos) << w.evidence;
}

TEST(QuantAware, CollapseByRelativeDecreaseEvenOnTheFront) {
  PruningOptions o = Opts("quant-aware");
  o.max_rel_decrease = 10;
  const auto v = Decide(o, R(9, 5, 0.75, 0.90, 16.7), kStair);
  EXPECT_TRUE(v.prune);
  EXPECT_EQ(v.rule, "collapse-rel-decrease");
  EXPECT_NE(v.reason.find("16.70% > max_rel_decrease 10%"), std::string::npos) << v.reason;
  EXPECT_FALSE(Decide(o, R(9, 5, 0.81, 0.90, 10.0), kStair).prune);  // at the threshold: kept
}

TEST(QuantAware, CollapseByQmseInTheWorstFraction) {
  // Front 1: 1 (10,.6) 2 (20,.7) 3 (30,.8); front 2: 4 (40,.65) 5 (50,.75) and
  // self (55,.8), an extreme of front 2 (infinite crowding): 3 ranked ahead,
  // eta 1.5 keeps 4 of 6, so the rank rule keeps it; but its QMSE is the
  // largest: in the worst 25% (ceil(1.5) = 2 trials).
  std::vector<RungResult> peers = {R(1, 10, 0.6), R(2, 20, 0.7), R(3, 30, 0.8), R(4, 40, 0.65),
                                   R(5, 50, 0.75)};
  for (size_t i = 0; i < peers.size(); ++i) peers[i].qmse = 0.01 * static_cast<double>(i + 1);
  PruningOptions o = Opts("quant-aware", 1.5);
  o.qmse_worst_fraction = 0.25;
  auto v = Decide(o, R(9, 55, 0.8, 0.8, 0, 0.2), peers);
  EXPECT_TRUE(v.prune) << v.reason;
  EXPECT_EQ(v.rule, "collapse-qmse");
  EXPECT_EQ(v.justified_by, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  // Second worst (0.045 < 0.05 of trial 5): still in the worst 2.
  EXPECT_TRUE(Decide(o, R(9, 55, 0.8, 0.8, 0, 0.045), peers).prune);
  // Third worst: kept by the rank rule.
  v = Decide(o, R(9, 55, 0.8, 0.8, 0, 0.035), peers);
  EXPECT_FALSE(v.prune);
  EXPECT_EQ(v.rule, "rank");
  EXPECT_NE(v.evidence.find("\"ahead\":3"), std::string::npos) << v.evidence;
  // Without the QMSE rule the worst QMSE is kept.
  o.qmse_worst_fraction = 0;
  EXPECT_FALSE(Decide(o, R(9, 55, 0.8, 0.8, 0, 0.2), peers).prune);
  // A first-front trial is not judged on QMSE.
  o.qmse_worst_fraction = 0.25;
  EXPECT_FALSE(Decide(o, R(9, 5, 0.5, 0.5, 0, 0.2), peers).prune);
}

TEST(Asha, TopOneOverEtaWithTiesAndMargin) {
  // fp32: .9 .8 .7 .6 .5 and self: n = 6, keep 2, threshold .8 (the 2nd best).
  const std::vector<RungResult> peers = {R(1, 1, 0.1, 0.9), R(2, 1, 0.1, 0.8), R(3, 1, 0.1, 0.7),
                                         R(4, 1, 0.1, 0.6), R(5, 1, 0.1, 0.5)};
  EXPECT_FALSE(Decide(Opts("asha"), R(9, 1, 0.1, 0.8), peers).prune);  // tie at the threshold
  const auto v = Decide(Opts("asha"), R(9, 1, 0.1, 0.79), peers);
  EXPECT_TRUE(v.prune);
  EXPECT_EQ(v.justified_by, (std::vector<int64_t>{1, 2}));
  PruningOptions o = Opts("asha");
  o.margin = 0.02;
  EXPECT_FALSE(Decide(o, R(9, 1, 0.1, 0.79), peers).prune);
  EXPECT_TRUE(Decide(o, R(9, 1, 0.1, 0.77), peers).prune);
}

TEST(Median, BelowThePeersMedianIsPruned) {
  // Peers' fp32 .6 .7 .8 .9: median .75.
  const std::vector<RungResult> peers = {R(1, 1, 0, 0.7), R(2, 1, 0, 0.8), R(3, 1, 0, 0.9),
                                         R(4, 1, 0, 0.6)};
  const auto v = Decide(Opts("median"), R(9, 1, 0, 0.74), peers);
  EXPECT_TRUE(v.prune);
  EXPECT_NE(v.evidence.find("\"median_acc_fp32\":0.75"), std::string::npos) << v.evidence;
  EXPECT_EQ(v.justified_by, (std::vector<int64_t>{2, 3}));  // the peers above .74
  EXPECT_FALSE(Decide(Opts("median"), R(9, 1, 0, 0.76), peers).prune);
  EXPECT_FALSE(Decide(Opts("median"), R(9, 1, 0, 0.75), peers).prune);  // at the median
}

TEST(Pruner, AsynchronousDecisionsDependOnArrivalOrder) {
  // ASHA, eta 2, min 1 peer: each trial is judged against those that arrived
  // before it; nobody waits for the rung to fill.
  const PruningOptions o = Opts("asha", 2, 1);
  const RungResult a = R(1, 1, 0, 0.5), b = R(2, 1, 0, 0.9), c = R(3, 1, 0, 0.7);
  auto run = [&](std::vector<RungResult> order) {
    std::vector<RungResult> seen;
    std::vector<bool> pruned;
    for (const auto& t : order) {
      pruned.push_back(Decide(o, t, seen).prune);
      seen.push_back(t);
    }
    return pruned;
  };
  // a first (no peers: kept), b (best of 2: kept), c (2nd of 3, keep 1: pruned).
  EXPECT_EQ(run({a, b, c}), (std::vector<bool>{false, false, true}));
  // c first, b kept, a last of 3: pruned.
  EXPECT_EQ(run({c, b, a}), (std::vector<bool>{false, false, true}));
  // b first: c is 2nd of 2 with keep 1: pruned; a pruned.
  EXPECT_EQ(run({b, c, a}), (std::vector<bool>{false, true, true}));
}

TEST(RungEpochs, FractionsAndEpochsBeforeTheLast) {
  PruningOptions o;
  o.rungs = {0.25, 0.5, 2, 8, 10};
  // 0.25*10 = 2.5 -> 3 (nearest), 0.5 -> 5, 2, 8; 10 is the last epoch: dropped.
  EXPECT_EQ(RungEpochs(o, 10), (std::vector<int>{2, 3, 5, 8}));
  o.rungs = {0.01};
  EXPECT_EQ(RungEpochs(o, 10), (std::vector<int>{1}));
  EXPECT_TRUE(RungEpochs(o, 1).empty());
}

}  // namespace
}  // namespace fnas::search
