#include "search/replay.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/error.h"
#include "config/config.h"
#include "search/hypervolume.h"

namespace fnas::search {

ReplayInput LoadReplayInput(const db::Store& store) {
  ReplayInput in;
  const db::StudyRow study = store.Study();
  in.epochs = ParseConfig(study.yaml, store.path() + " (stored config)").training.epochs;
  for (const auto& c : store.Candidates()) in.ref_macs = std::max(in.ref_macs, c.macs_conv);
  for (const auto& t : store.Trials()) {
    ReplayTrial r;
    r.trial_id = t.id;
    r.name = t.candidate_name;
    r.macs_conv = t.macs_conv;
    r.epochs_done = t.epochs_done;
    r.complete = t.state == db::TrialState::kComplete && t.has_test;
    r.test_acc_q = t.test.acc_q;
    in.trials.push_back(r);
  }
  for (const auto& row : store.RungResults()) in.rungs.push_back(ToRungResult(row));
  if (in.rungs.empty()) {
    throw UsageError(store.path() +
                     ": the study recorded no rung results; replay needs a study run with "
                     "pruning.rungs (and pruner: none to record every trial at every rung)");
  }
  return in;
}

ReplayResult Replay(const ReplayInput& input, const PruningOptions& options) {
  ReplayResult out;
  const std::unique_ptr<Pruner> pruner = MakePruner(options);
  out.pruner = pruner->name();

  std::set<int> recorded;
  for (const auto& r : input.rungs) recorded.insert(r.epoch);
  if (options.rungs.empty()) {
    out.rungs.assign(recorded.begin(), recorded.end());
  } else {
    out.rungs = RungEpochs(options, input.epochs);
    for (int e : out.rungs) {
      if (recorded.count(e)) continue;
      std::string list;
      for (int r : recorded) list += (list.empty() ? "" : ", ") + std::to_string(r);
      throw UsageError("pruning.rungs: epoch " + std::to_string(e) +
                       " was not recorded as a rung in this study (recorded rungs: " +
                       (list.empty() ? "none" : list) + ")");
    }
  }
  const std::set<int> rungs(out.rungs.begin(), out.rungs.end());

  // Walk the arrivals; a pruned trial reaches no later rung.
  std::map<int64_t, int> pruned_at;
  std::map<int, std::vector<RungResult>> seen;  // rung epoch -> arrivals so far
  for (const RungResult& r : input.rungs) {
    if (!rungs.count(r.epoch) || pruned_at.count(r.trial_id)) continue;
    std::vector<RungResult>& peers = seen[r.epoch];
    ReplayDecision d{r.trial_id, r.epoch, pruner->Decide(r, peers)};
    if (d.verdict.prune) {
      pruned_at[r.trial_id] = r.epoch;
      out.pruned.emplace_back(r.trial_id, r.epoch);
    }
    out.decisions.push_back(std::move(d));
    peers.push_back(r);
  }

  std::vector<FrontPoint> all, kept;
  for (const ReplayTrial& t : input.trials) {
    out.epochs_full += t.epochs_done;
    const auto p = pruned_at.find(t.trial_id);
    out.epochs_trained += p == pruned_at.end() ? t.epochs_done : std::min(t.epochs_done, p->second);
    if (!t.complete) continue;
    all.push_back({t.trial_id, t.macs_conv, t.test_acc_q});
    if (p == pruned_at.end()) kept.push_back(all.back());
  }
  out.epoch_fraction = out.epochs_full > 0 ? static_cast<double>(out.epochs_trained) /
                                                 static_cast<double>(out.epochs_full)
                                           : 1.0;
  out.full_front = ParetoFront(all);
  out.found_front = ParetoFront(kept);
  for (const auto& p : out.full_front) {
    if (pruned_at.count(p.id)) out.lost.push_back(p.id);
  }
  out.hv_full = Hypervolume(out.full_front, input.ref_macs);
  out.hv_found = Hypervolume(out.found_front, input.ref_macs);
  out.hv_fraction = out.hv_full > 0 ? out.hv_found / out.hv_full : 1.0;
  return out;
}

}  // namespace fnas::search
