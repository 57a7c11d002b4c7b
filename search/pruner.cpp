#include "search/pruner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <set>

#include "common/error.h"

namespace fnas::search {

namespace {

// A JSON object written field by field (the evidence of a decision).
class JsonObject {
 public:
  JsonObject& Num(const std::string& key, double v) {
    char buf[40];
    if (std::isfinite(v)) {
      std::snprintf(buf, sizeof buf, "%.10g", v);
    } else {
      std::snprintf(buf, sizeof buf, "null");  // JSON has no infinity
    }
    return Raw(key, buf);
  }
  JsonObject& Int(const std::string& key, int64_t v) { return Raw(key, std::to_string(v)); }
  JsonObject& Str(const std::string& key, const std::string& v) {
    std::string q = "\"";
    for (char ch : v) {
      if (ch == '"' || ch == '\\') q += '\\';
      q += ch;
    }
    return Raw(key, q + "\"");
  }
  JsonObject& Ids(const std::string& key, const std::vector<int64_t>& ids) {
    std::string list = "[";
    for (size_t i = 0; i < ids.size(); ++i) list += (i ? "," : "") + std::to_string(ids[i]);
    return Raw(key, list + "]");
  }
  JsonObject& Raw(const std::string& key, const std::string& json) {
    text_ += (text_.empty() ? "{" : ",") + ("\"" + key + "\":") + json;
    return *this;
  }
  std::string Close() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

std::string Fmt(const char* format, double a, double b = 0, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, format, a, b, c);
  return buf;
}

std::vector<int64_t> PeerIds(const std::vector<RungResult>& peers) {
  std::vector<int64_t> ids;
  for (const auto& p : peers) ids.push_back(p.trial_id);
  return ids;
}

// The numbers every decision records: the rule's options, the rung, the
// trial's own metrics and its peers.
JsonObject Evidence(const std::string& pruner, const PruningOptions& o, const RungResult& self,
                    const std::vector<RungResult>& peers) {
  JsonObject j;
  j.Str("pruner", pruner).Int("rung", self.epoch).Num("eta", o.eta).Int("min_peers", o.min_peers);
  j.Num("margin", o.margin);
  JsonObject me;
  me.Int("trial", self.trial_id)
      .Int("macs_conv", self.macs_conv)
      .Num("acc_fp32", self.acc_fp32)
      .Num("acc_quint8", self.acc_q)
      .Num("rel_decrease", self.rel_decrease)
      .Num("qmse", self.qmse)
      .Num("qce", self.qce);
  j.Raw("self", me.Close());
  j.Ids("peers", PeerIds(peers));
  return j;
}

PruneVerdict Verdict(bool prune, const std::string& rule, const std::string& reason, JsonObject j,
                     std::vector<int64_t> justified_by) {
  PruneVerdict v;
  v.prune = prune;
  v.rule = rule;
  v.reason = reason;
  j.Str("rule", rule).Str("decision", prune ? "prune" : "continue").Ids("justified_by",
                                                                          justified_by);
  v.evidence = j.Close();
  v.justified_by = std::move(justified_by);
  return v;
}

std::string Rung(const RungResult& self) { return "at epoch " + std::to_string(self.epoch); }

// Too few peers: nothing is pruned yet.
bool TooFewPeers(const PruningOptions& o, const RungResult& self,
                 const std::vector<RungResult>& peers, const std::string& pruner,
                 PruneVerdict& out) {
  if (static_cast<int>(peers.size()) >= o.min_peers) return false;
  out = Verdict(false, "min-peers",
                "kept " + Rung(self) + ": " + std::to_string(peers.size()) +
                    " peers at this rung < min_peers " + std::to_string(o.min_peers),
                Evidence(pruner, o, self, peers), PeerIds(peers));
  return true;
}

// How many of the rung's trials are kept: the top 1/eta, at least one.
int KeepCount(size_t trials, double eta) {
  return std::max(1, static_cast<int>(std::floor(static_cast<double>(trials) / eta + 1e-9)));
}

// Non-dominated sorting of the rung on (MACs, value) with crowding distance
// as the tie-break inside a front; the trial is kept when fewer than k trials
// are ranked strictly ahead of it (equal rank and crowding is a tie: kept).
// `protect_front`: the first front is never pruned, whatever k says.
PruneVerdict RankRule(const std::string& pruner, const PruningOptions& o, const RungResult& self,
                      const std::vector<RungResult>& peers, double RungResult::*value,
                      const char* value_name, bool protect_front) {
  // A value that is not finite (a diverged model) ranks below any accuracy.
  auto point = [&](const RungResult& r) {
    const double v = r.*value;
    return RankPoint{static_cast<double>(r.macs_conv), std::isfinite(v) ? v : -1.0};
  };
  std::vector<RankPoint> pts;
  for (const auto& p : peers) pts.push_back(point(p));
  pts.push_back(point(self));
  const size_t me = pts.size() - 1;
  const std::vector<int> ranks = NonDominatedRanks(pts, o.margin);
  const std::vector<double> crowd = CrowdingDistances(pts, ranks);
  const int k = KeepCount(pts.size(), o.eta);
  std::vector<int64_t> ahead, dominators;
  for (size_t i = 0; i < peers.size(); ++i) {
    if (ranks[i] < ranks[me] || (ranks[i] == ranks[me] && crowd[i] > crowd[me])) {
      ahead.push_back(peers[i].trial_id);
    }
    if (Dominates(pts[i], pts[me], o.margin)) dominators.push_back(peers[i].trial_id);
  }
  JsonObject j = Evidence(pruner, o, self, peers);
  j.Str("objective", std::string("macs_conv down, ") + value_name + " up")
      .Int("front_rank", ranks[me] + 1)
      .Num("crowding", crowd[me])
      .Int("trials_at_rung", static_cast<int64_t>(pts.size()))
      .Int("keep", k)
      .Int("ahead", static_cast<int64_t>(ahead.size()))
      .Ids("dominated_by", dominators);
  const std::string where = Rung(self) + ": front " + std::to_string(ranks[me] + 1) + " of " +
                            std::to_string(pts.size()) + " trials";
  if (protect_front && ranks[me] == 0) {
    return Verdict(false, "front", "kept " + where + " (the first front is never pruned)", j,
                   PeerIds(peers));
  }
  const std::string counts = ", " + std::to_string(ahead.size()) + " ranked ahead, keep top " +
                             std::to_string(k) + Fmt(" (eta %g)", o.eta);
  if (static_cast<int>(ahead.size()) >= k) {
    return Verdict(true, "rank", "pruned " + where + counts, j, ahead);
  }
  return Verdict(false, "rank", "kept " + where + counts, j, PeerIds(peers));
}

// A pruner and the options it was made with.
class ConfiguredPruner : public Pruner {
 public:
  ConfiguredPruner(const char* name, PruningOptions o) : name_(name), o_(std::move(o)) {}
  std::string name() const override { return name_; }

 protected:
  const char* name_;
  PruningOptions o_;
};

class NonePruner : public ConfiguredPruner {
 public:
  explicit NonePruner(PruningOptions o) : ConfiguredPruner("none", std::move(o)) {}
  PruneVerdict Decide(const RungResult& self,
                      const std::vector<RungResult>& peers) const override {
    return Verdict(false, "none", "kept " + Rung(self) + ": no pruner",
                   Evidence(name(), o_, self, peers), {});
  }
};

// Quantization-aware: collapse rule, then non-dominated sorting on
// (conv MACs down, quint8 validation accuracy up) with the first front kept.
class QuantAwarePruner : public ConfiguredPruner {
 public:
  explicit QuantAwarePruner(PruningOptions o) : ConfiguredPruner("quant-aware", std::move(o)) {}
  PruneVerdict Decide(const RungResult& self,
                      const std::vector<RungResult>& peers) const override {
    PruneVerdict v;
    if (TooFewPeers(o_, self, peers, name(), v)) return v;
    if (self.rel_decrease > o_.max_rel_decrease) {
      JsonObject j = Evidence(name(), o_, self, peers);
      j.Num("max_rel_decrease", o_.max_rel_decrease);
      return Verdict(true, "collapse-rel-decrease",
                     "pruned " + Rung(self) +
                         Fmt(": quint8 accuracy drop %.2f%% > max_rel_decrease %g%%",
                             self.rel_decrease, o_.max_rel_decrease),
                     j, {});
    }
    v = RankRule(name(), o_, self, peers, &RungResult::acc_q, "acc_quint8", true);
    if (v.prune || v.rule == "front" || o_.qmse_worst_fraction <= 0) return v;
    // QMSE among the worst fraction of the rung: at most `worst` trials
    // (itself included) have a QMSE at least as large (ties are kept).
    const size_t n = peers.size() + 1;
    const int worst = static_cast<int>(std::ceil(o_.qmse_worst_fraction * n - 1e-9));
    int at_least = 1;
    std::vector<int64_t> better;
    for (const auto& p : peers) {
      if (p.qmse >= self.qmse) {
        ++at_least;
      } else {
        better.push_back(p.trial_id);
      }
    }
    if (at_least > worst) return v;
    JsonObject j = Evidence(name(), o_, self, peers);
    j.Num("qmse_worst_fraction", o_.qmse_worst_fraction)
        .Int("qmse_worst_count", worst)
        .Int("qmse_position_from_worst", at_least)
        .Int("trials_at_rung", static_cast<int64_t>(n));
    return Verdict(true, "collapse-qmse",
                   "pruned " + Rung(self) +
                       Fmt(": QMSE %.4g among the worst %g%% of %g trials", self.qmse,
                           o_.qmse_worst_fraction * 100, static_cast<double>(n)),
                   j, better);
  }
};

// Syne Tune's MOASHA: non-dominated sorting on (MACs down, fp32 accuracy up),
// the top 1/eta kept by (front, crowding); no front is protected.
class MoashaPruner : public ConfiguredPruner {
 public:
  explicit MoashaPruner(PruningOptions o) : ConfiguredPruner("moasha", std::move(o)) {}
  PruneVerdict Decide(const RungResult& self,
                      const std::vector<RungResult>& peers) const override {
    PruneVerdict v;
    if (TooFewPeers(o_, self, peers, name(), v)) return v;
    return RankRule(name(), o_, self, peers, &RungResult::acc_fp32, "acc_fp32", false);
  }
};

// Asynchronous successive halving (ASHA's stopping rule, as Optuna's
// SuccessiveHalvingPruner): kept when its fp32 validation accuracy is within
// `margin` of the k-th best of the rung (itself included), k = max(1, n / eta).
class AshaPruner : public ConfiguredPruner {
 public:
  explicit AshaPruner(PruningOptions o) : ConfiguredPruner("asha", std::move(o)) {}
  PruneVerdict Decide(const RungResult& self,
                      const std::vector<RungResult>& peers) const override {
    PruneVerdict v;
    if (TooFewPeers(o_, self, peers, name(), v)) return v;
    std::vector<double> values;
    for (const auto& p : peers) values.push_back(p.acc_fp32);
    values.push_back(self.acc_fp32);
    std::sort(values.begin(), values.end(), std::greater<double>());
    const int k = KeepCount(values.size(), o_.eta);
    const double threshold = values[k - 1];
    std::vector<int64_t> top;
    for (const auto& p : peers) {
      if (p.acc_fp32 >= threshold) top.push_back(p.trial_id);
    }
    JsonObject j = Evidence(name(), o_, self, peers);
    j.Int("trials_at_rung", static_cast<int64_t>(values.size()))
        .Int("keep", k)
        .Num("threshold_acc_fp32", threshold);
    const std::string what =
        Fmt(": fp32 val acc %.4f vs %.4f, the best %g", self.acc_fp32, threshold, k) +
        " of " + std::to_string(values.size()) + Fmt(" (eta %g)", o_.eta);
    if (self.acc_fp32 < threshold - o_.margin) {
      return Verdict(true, "rank", "pruned " + Rung(self) + what, j, top);
    }
    return Verdict(false, "rank", "kept " + Rung(self) + what, j, PeerIds(peers));
  }
};

// Optuna's MedianPruner: pruned when its fp32 validation accuracy at the rung
// is below the median of its peers' at the same rung (by more than `margin`).
class MedianPruner : public ConfiguredPruner {
 public:
  explicit MedianPruner(PruningOptions o) : ConfiguredPruner("median", std::move(o)) {}
  PruneVerdict Decide(const RungResult& self,
                      const std::vector<RungResult>& peers) const override {
    PruneVerdict v;
    if (TooFewPeers(o_, self, peers, name(), v)) return v;
    if (peers.empty()) {
      return Verdict(false, "min-peers", "kept " + Rung(self) + ": no peers yet",
                     Evidence(name(), o_, self, peers), {});
    }
    std::vector<double> values;
    for (const auto& p : peers) values.push_back(p.acc_fp32);
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    const double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    std::vector<int64_t> above;
    for (const auto& p : peers) {
      if (p.acc_fp32 > self.acc_fp32) above.push_back(p.trial_id);
    }
    JsonObject j = Evidence(name(), o_, self, peers);
    j.Num("median_acc_fp32", median);
    const std::string what = Fmt(": fp32 val acc %.4f vs median %.4f of %g peers", self.acc_fp32,
                                 median, static_cast<double>(n));
    if (self.acc_fp32 < median - o_.margin) {
      return Verdict(true, "median", "pruned " + Rung(self) + what, j, above);
    }
    return Verdict(false, "median", "kept " + Rung(self) + what, j, PeerIds(peers));
  }
};

}  // namespace

RungResult ToRungResult(const db::RungRow& row) {
  RungResult r;
  r.trial_id = row.trial_id;
  r.epoch = row.epoch;
  r.macs_conv = row.macs_conv;
  r.acc_fp32 = row.validation.acc_fp32;
  r.acc_q = row.validation.acc_q;
  r.rel_decrease = row.validation.rel_decrease;
  r.qmse = row.validation.qmse;
  r.qce = row.validation.qce;
  return r;
}

const std::vector<std::string>& PrunerNames() {
  static const std::vector<std::string> names = {"none", "quant-aware", "moasha", "asha",
                                                 "median"};
  return names;
}

std::unique_ptr<Pruner> MakePruner(const PruningOptions& options) {
  const std::string& n = options.pruner;
  if (n == "none") return std::make_unique<NonePruner>(options);
  if (n == "quant-aware") return std::make_unique<QuantAwarePruner>(options);
  if (n == "moasha") return std::make_unique<MoashaPruner>(options);
  if (n == "asha") return std::make_unique<AshaPruner>(options);
  if (n == "median") return std::make_unique<MedianPruner>(options);
  std::string list;
  for (const auto& k : PrunerNames()) list += (list.empty() ? "" : ", ") + k;
  throw UsageError("unknown pruner '" + n + "' (known: " + list + ")");
}

std::vector<int> RungEpochs(const PruningOptions& options, int epochs) {
  std::set<int> out;
  for (double r : options.rungs) {
    int e = r < 1.0 ? static_cast<int>(std::lround(r * epochs)) : static_cast<int>(std::lround(r));
    e = std::max(e, 1);
    if (e < epochs) out.insert(e);
  }
  return {out.begin(), out.end()};
}

bool Dominates(const RankPoint& a, const RankPoint& b, double margin) {
  return a.cost <= b.cost && a.value >= b.value + margin &&
         (a.cost < b.cost || a.value > b.value + margin);
}

std::vector<int> NonDominatedRanks(const std::vector<RankPoint>& points, double margin) {
  const size_t n = points.size();
  std::vector<int> rank(n, -1);
  size_t ranked = 0;
  for (int r = 0; ranked < n; ++r) {
    // Front r: the unranked points that no other unranked point dominates.
    std::vector<size_t> front;
    for (size_t i = 0; i < n; ++i) {
      if (rank[i] >= 0) continue;
      bool dominated = false;
      for (size_t j = 0; j < n && !dominated; ++j) {
        dominated = j != i && rank[j] < 0 && Dominates(points[j], points[i], margin);
      }
      if (!dominated) front.push_back(i);
    }
    if (front.empty()) {  // a dominance cycle (impossible for margin >= 0): rank the rest
      for (size_t i = 0; i < n; ++i) {
        if (rank[i] < 0) front.push_back(i);
      }
    }
    for (size_t i : front) rank[i] = r;
    ranked += front.size();
  }
  return rank;
}

std::vector<double> CrowdingDistances(const std::vector<RankPoint>& points,
                                      const std::vector<int>& ranks) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> d(points.size(), 0.0);
  const int fronts = ranks.empty() ? 0 : *std::max_element(ranks.begin(), ranks.end()) + 1;
  for (int r = 0; r < fronts; ++r) {
    // The front's distinct points sorted by cost (equal points get one distance).
    std::vector<std::pair<double, double>> f;
    for (size_t i = 0; i < points.size(); ++i) {
      if (ranks[i] == r) f.emplace_back(points[i].cost, points[i].value);
    }
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    const double cost_range = f.back().first - f.front().first;
    double lo = inf, hi = -inf;
    for (const auto& p : f) {
      lo = std::min(lo, p.second);
      hi = std::max(hi, p.second);
    }
    const double value_range = hi - lo;
    std::vector<double> fd(f.size(), inf);
    for (size_t j = 1; j + 1 < f.size(); ++j) {
      double v = 0;
      if (cost_range > 0) v += (f[j + 1].first - f[j - 1].first) / cost_range;
      if (value_range > 0) v += std::fabs(f[j + 1].second - f[j - 1].second) / value_range;
      fd[j] = v;
    }
    for (size_t i = 0; i < points.size(); ++i) {
      if (ranks[i] != r) continue;
      const auto at = std::lower_bound(f.begin(), f.end(),
                                       std::make_pair(points[i].cost, points[i].value));
      d[i] = fd[static_cast<size_t>(at - f.begin())];
    }
  }
  return d;
}

}  // namespace fnas::search
