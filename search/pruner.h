// Early pruning: a Pruner is a pure decision at a trial's rung, made from rows
// already in the store: the trial's own rung result and those of its peers,
// the trials that reached the same rung before it (docs/config.md "pruning",
// docs/method.md "Early pruning").
//
// Decisions are asynchronous, as in ASHA: a trial reaching a rung is judged at
// once against the trials that already reached it; nobody waits for a rung to
// fill. The driver reads the peers, decides, and stores the decision with the
// epoch in one transaction; replay (search/replay.h) calls the very same
// pruners on a recorded study. A Pruner holds only its options: Decide is
// const and safe to call from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "db/store.h"
#include "search/options.h"

namespace fnas::search {

// One trial at one rung: its validation metrics there (a row of the store's
// rung_results table).
struct RungResult {
  int64_t trial_id = 0;
  int epoch = 0;  // the rung epoch
  int64_t macs_conv = 0;
  double acc_fp32 = 0;      // validation, fraction
  double acc_q = 0;         // validation, quint8
  double rel_decrease = 0;  // percent
  double qmse = 0;
  double qce = 0;
};

// A stored rung row as the pruners see it.
RungResult ToRungResult(const db::RungRow& row);

struct PruneVerdict {
  bool prune = false;
  // The rule that decided: none, min-peers, front, rank, collapse-rel-decrease,
  // collapse-qmse, median.
  std::string rule;
  std::string reason;                 // one line, for `trials`
  std::string evidence;               // a JSON object: rule, numbers, peers, justified_by
  std::vector<int64_t> justified_by;  // the trials the decision rests on
};

class Pruner {
 public:
  virtual ~Pruner() = default;
  virtual std::string name() const = 0;
  // `self` at its rung; `peers`: the other trials' results at the same rung,
  // in order of arrival (self not among them).
  virtual PruneVerdict Decide(const RungResult& self,
                              const std::vector<RungResult>& peers) const = 0;
};

// none | quant-aware | moasha | asha | median; UsageError naming the known ones.
std::unique_ptr<Pruner> MakePruner(const PruningOptions& options);
const std::vector<std::string>& PrunerNames();

// The rung epochs of a budget of `epochs`: fractions (< 1) resolved to the
// nearest epoch >= 1, ascending, each once, only those before the last epoch.
std::vector<int> RungEpochs(const PruningOptions& options, int epochs);

// Non-dominated sorting of points (cost minimized, value maximized): the
// front rank of each point, 0 = the first front. With a margin m > 0, a point
// dominates another only when it costs no more and its value is better by at
// least m (so values within m of each other never dominate at equal cost).
// O(n^2).
struct RankPoint {
  double cost = 0;
  double value = 0;
};
std::vector<int> NonDominatedRanks(const std::vector<RankPoint>& points, double margin);
// Whether a dominates b in the sense above.
bool Dominates(const RankPoint& a, const RankPoint& b, double margin);
// NSGA-II crowding distance of each point within its front (`ranks` from
// NonDominatedRanks): a front's two extremes in cost get +infinity, an
// interior point the sum over cost and value of the gap between its two
// neighbours (sorted by cost) divided by that front's range in that
// objective (a term is 0 when the range is 0). Equal points count once and
// share their distance, so twins are ranked alike whatever their order.
std::vector<double> CrowdingDistances(const std::vector<RankPoint>& points,
                                      const std::vector<int>& ranks);

}  // namespace fnas::search
