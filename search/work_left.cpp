#include "search/work_left.h"

#include <algorithm>
#include <map>

namespace fnas::search {

WorkLeft ComputeWorkLeft(const std::vector<db::CandidateRow>& candidates,
                         const std::vector<db::TrialRow>& trials, int epochs) {
  std::map<int64_t, const db::TrialRow*> by_candidate;
  for (const auto& t : trials) by_candidate[t.candidate_id] = &t;
  std::vector<const db::CandidateRow*> ordered;
  for (const auto& c : candidates) ordered.push_back(&c);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const db::CandidateRow* a, const db::CandidateRow* b) {
                     return a->position < b->position;
                   });
  WorkLeft left;
  std::vector<FrontPoint> complete;
  for (const db::CandidateRow* c : ordered) {
    ++left.candidates;
    auto it = by_candidate.find(c->id);
    if (it == by_candidate.end()) {
      ++left.pending;
      left.items.push_back({*c, 0, 0});
      left.epochs_left += epochs;
      continue;
    }
    const db::TrialRow& t = *it->second;
    if (db::IsFinished(t.state)) {
      ++left.finished;
      if (t.state == db::TrialState::kComplete) {
        complete.push_back({t.id, t.macs_conv, t.test.acc_q});
      }
      continue;
    }
    ++left.restartable;
    const int start = t.checkpoint.empty() ? 0 : t.checkpoint_epoch;
    left.items.push_back({*c, t.id, start});
    left.epochs_left += std::max(0, epochs - start);
  }
  left.front = ParetoFront(std::move(complete));
  return left;
}

WorkLeft ComputeWorkLeft(const db::Store& store, int epochs) {
  return ComputeWorkLeft(store.Candidates(), store.Trials(), epochs);
}

}  // namespace fnas::search
