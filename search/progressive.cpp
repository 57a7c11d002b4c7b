#include "search/progressive.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "search/execution.h"
#include "search/pareto.h"
#include "space/paths.h"

namespace fnas::search {

namespace {

std::string Dotted(const space::Factorization& f, const std::vector<size_t>& unit) {
  std::string s;
  for (size_t i : unit) s += (s.empty() ? "" : ".") + std::to_string(f[i]);
  return s;
}

}  // namespace

ProgressiveStrategy::ProgressiveStrategy(const Config& config)
    : macro_(config.macro()),
      paths_(config.paths),
      options_(config.search.progressive),
      epochs_(config.training.epochs),
      expand_epoch_(ExpandEpoch(config.search.progressive, config.training.epochs)) {
  const auto& layers = macro_.layers();
  if (options_.unit == "stage") {
    // A stage: the convs up to and including one followed by a pool.
    std::vector<size_t> stage;
    for (size_t i = 0; i < layers.size(); ++i) {
      stage.push_back(i);
      if (layers[i].pool_after || i + 1 == layers.size()) {
        units_.push_back(stage);
        stage.clear();
      }
    }
  } else {
    for (size_t i = 0; i < layers.size(); ++i) units_.push_back({i});
  }
}

std::vector<space::Candidate> ProgressiveStrategy::Seeds() const {
  return space::ExpandPaths(macro_, paths_);
}

std::vector<std::pair<space::Factorization, std::string>> ProgressiveStrategy::Children(
    const space::Factorization& f) const {
  std::vector<std::pair<space::Factorization, std::string>> out;
  for (size_t u = 0; u < units_.size(); ++u) {
    space::Factorization child = f;
    for (size_t i : units_[u]) {
      for (int rate : macro_.Ladder(i)) {
        if (rate > f[i]) {
          child[i] = rate;
          break;
        }
      }
    }
    if (child == f || space::CheckFactorization(macro_, child)) continue;
    std::string move;
    if (units_[u].size() == 1) {
      const size_t i = units_[u][0];
      move = macro_.layers()[i].name + " " + std::to_string(f[i]) + "->" + std::to_string(child[i]);
    } else {
      move = "stage " + std::to_string(u + 1) + " (" + macro_.layers()[units_[u].front()].name +
             ".." + macro_.layers()[units_[u].back()].name + ") " + Dotted(f, units_[u]) + "->" +
             Dotted(child, units_[u]);
    }
    out.emplace_back(std::move(child), std::move(move));
  }
  return out;
}

std::vector<Evidence> ProgressiveStrategy::Gather(const db::Store& store) const {
  std::map<int64_t, db::TrialRow> trials;
  for (auto& t : store.Trials()) trials[t.candidate_id] = std::move(t);
  std::vector<Evidence> out;
  for (auto& c : store.Candidates()) {
    Evidence e;
    e.candidate = std::move(c);
    e.epochs = epochs_;
    auto it = trials.find(e.candidate.id);
    if (it != trials.end()) {
      const db::TrialRow& t = it->second;
      if (t.epochs_done >= expand_epoch_) {
        for (const db::EpochRow& row : store.Epochs(t.id)) {
          if (row.record.epoch == expand_epoch_ && row.recorded) {
            e.state = Evidence::State::kResult;
            e.accuracy = row.validation.acc_q;
          }
        }
      }
      if (e.state == Evidence::State::kWaiting && db::IsFinished(t.state)) {
        e.state = Evidence::State::kEnded;
        e.epochs = t.epochs_done;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<db::CandidateRow> ProgressiveStrategy::Expand(
    const std::vector<Evidence>& known) const {
  const size_t max_trials = static_cast<size_t>(options_.max_trials);
  if (max_trials > 0 && known.size() >= max_trials) return {};
  long planned = 0;
  int step = 0;
  std::set<std::string> keys;
  std::map<int64_t, const db::CandidateRow*> by_id;
  std::vector<FrontPoint> points;
  for (const Evidence& e : known) {
    if (e.state == Evidence::State::kWaiting) return {};
    planned += e.epochs;
    step = std::max(step, e.candidate.step);
    keys.insert(e.candidate.candidate.key);
    by_id[e.candidate.id] = &e.candidate;
    if (e.state == Evidence::State::kResult) {
      points.push_back({e.candidate.id, e.candidate.macs_conv, e.accuracy});
    }
  }
  size_t room = max_trials > 0 ? max_trials - known.size() : std::numeric_limits<size_t>::max();
  if (options_.max_epochs > 0) {
    const long left = options_.max_epochs - planned;
    room = std::min(room, left > 0 ? static_cast<size_t>(left / std::max(1, epochs_)) : 0);
  }
  if (options_.per_step > 0) room = std::min(room, static_cast<size_t>(options_.per_step));
  if (room == 0) return {};

  // The front by accuracy descending; each parent's new children by MACs.
  std::vector<FrontPoint> front = ParetoFront(std::move(points));
  std::reverse(front.begin(), front.end());
  std::vector<std::vector<db::CandidateRow>> children(front.size());
  for (size_t p = 0; p < front.size(); ++p) {
    const db::CandidateRow& parent = *by_id.at(front[p].id);
    for (auto& [f, move] : Children(parent.candidate.f)) {
      db::CandidateRow row = CandidateRowOf(macro_, space::MakeCandidate(macro_, f));
      if (keys.count(row.candidate.key)) continue;
      row.parent_id = parent.id;
      row.step = step + 1;
      row.move = std::move(move);
      children[p].push_back(std::move(row));
    }
    std::stable_sort(children[p].begin(), children[p].end(),
                     [](const db::CandidateRow& a, const db::CandidateRow& b) {
                       return a.macs_conv < b.macs_conv;
                     });
  }
  // Round robin over the parents, each key once.
  std::vector<db::CandidateRow> out;
  for (size_t round = 0; out.size() < room; ++round) {
    bool any = false;
    for (size_t p = 0; p < children.size() && out.size() < room; ++p) {
      if (round >= children[p].size()) continue;
      any = true;
      db::CandidateRow& row = children[p][round];
      if (keys.insert(row.candidate.key).second) out.push_back(std::move(row));
    }
    if (!any) break;
  }
  return out;
}

std::vector<db::CandidateRow> ProgressiveStrategy::Propose(const db::Store& store) const {
  return Expand(Gather(store));
}

}  // namespace fnas::search
