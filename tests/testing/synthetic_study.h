// Test and bench helper: writes a synthetic study straight into a new store,
// without training. Real candidates of the CIFAR-10 macro (width 1, so real
// MACs and ops), made-up but plausible metrics, and every trial state:
// COMPLETE, PRUNED (with its decision at a rung), FAILED (before any recorded
// epoch), RUNNING. Deterministic for a seed.
#pragma once

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "db/store.h"
#include "space/candidate.h"
#include "space/macro.h"
#include "space/plan.h"

namespace fnas::testing {

struct SyntheticStudyOptions {
  int trials = 20;
  int epochs = 4;
  int rung = 2;         // pruning decisions at this epoch (3 in 10 pruned there)
  bool running = true;  // the last trial is left RUNNING after one epoch
  bool layer_stats = true;
  uint64_t seed = 1;
};

// The state of synthetic trial i (0-based) of n: i % 10 == 3, 6, 9 pruned at
// the rung; i == 5 failed at once; the last RUNNING (if asked); else COMPLETE.
inline db::TrialState SyntheticState(int i, const SyntheticStudyOptions& o) {
  if (o.running && i == o.trials - 1) return db::TrialState::kRunning;
  if (i == 5) return db::TrialState::kFailed;
  if (i % 10 == 3 || i % 10 == 6 || i % 10 == 9) return db::TrialState::kPruned;
  return db::TrialState::kComplete;
}

inline void WriteSyntheticStudy(const std::string& path, const SyntheticStudyOptions& o) {
  const space::Macro macro{space::MacroOptions{}};
  std::mt19937_64 rng(o.seed);
  std::vector<db::CandidateRow> candidates;
  std::set<space::Factorization> seen;
  for (int i = 0; i < o.trials; ++i) {  // regular first, then random distinct rates
    space::Factorization f;
    do {
      f.clear();
      for (size_t l = 0; l < macro.num_layers(); ++l) {
        const auto ladder = macro.Ladder(l);
        f.push_back(i == 0 ? 1 : ladder[rng() % ladder.size()]);
      }
    } while (!seen.insert(f).second);
    const space::Plan plan = space::BuildPlan(macro, f);
    db::CandidateRow c;
    c.position = i;
    c.candidate = space::MakeCandidate(macro, f);
    c.macs_conv = plan.macs_conv;
    c.macs_dense = plan.macs_dense;
    c.params = plan.params;
    candidates.push_back(c);
  }
  db::StudyRow study;
  study.name = "synthetic";
  study.yaml = "name: synthetic\nseed: 1\nspace: {paths: [regular]}\ntraining: {epochs: " +
               std::to_string(o.epochs) + "}\n";
  study.yaml_hash = db::TextHash(study.yaml);
  study.source = "synthetic.yaml";
  study.seed = o.seed;
  study.checkpoint_dir = path + ".ckpt";
  db::Store store(path, db::Store::Mode::kCreate);
  store.CreateStudy(study, {candidates.begin(), candidates.end()});
  store.AcquireOwnership(30);

  std::normal_distribution<double> noise(0, 0.01);
  const auto rows = store.Candidates();
  for (int i = 0; i < o.trials; ++i) {
    const auto& c = rows[i];
    double degree = 0;
    for (int f : c.candidate.f) degree += std::log2(f);
    degree /= c.candidate.f.size();
    const db::TrialState state = SyntheticState(i, o);
    const int64_t id = store.StartTrial(c.id, "synthetic/w0");
    if (state == db::TrialState::kFailed) {
      store.FinishTrial(id, state, "synthetic failure before the first epoch");
      continue;
    }
    const double fp32 = 0.92 - 0.012 * degree + noise(rng);
    const double drop = 0.002 * std::pow(degree, 1.5) + std::fabs(noise(rng)) * 0.3;
    const space::Plan plan = space::BuildPlan(macro, c.candidate.f);
    auto report = [&](double progress) {
      evaluators::QuantReport r;
      auto& m = r.metrics;
      m.images = 1000;
      m.acc_fp32 = fp32 * progress;
      m.acc_q = (fp32 - drop) * progress;
      m.rel_decrease = evaluators::RelativeDecrease(m.acc_fp32, m.acc_q);
      m.qmse = 1e-3 * std::exp(degree) / progress;
      m.qce = 1e-4 * (1 + degree * degree);
      if (!o.layer_stats) return r;
      int k = 0;
      for (const auto& op : plan.ops) {
        if (op.kind != space::Op::Kind::kConv && op.kind != space::Op::Kind::kDense) continue;
        evaluators::LayerStats s;
        s.op = op.name;
        s.layer = op.layer;
        const double spread = 1 + 0.3 * std::sin(k++);
        s.weights = {-0.3 * spread, 0.3 * spread, 0.6 * spread, 0.55};
        s.folded = {-2 * spread * (1 + degree), 2 * spread * (1 + degree),
                    4 * spread * (1 + degree), 0.3 / (1 + 0.2 * degree)};
        s.activations = {0, 4 * spread, 4 * spread, 0.4};
        s.sqnr_db = 38 - 2 * degree - k;
        r.layers.push_back(s);
      }
      return r;
    };
    const int last = state == db::TrialState::kPruned    ? o.rung
                     : state == db::TrialState::kRunning ? 1
                                                         : o.epochs;
    for (int e = 1; e <= last; ++e) {
      const double progress = 1 - 0.3 / e;
      evaluators::EpochRecord rec;
      rec.epoch = e;
      rec.train_loss = 1.5 / e;
      rec.train_acc = fp32 * progress;
      rec.val_acc = fp32 * progress;
      rec.lr = 0.01;
      rec.seconds = 10 + degree;
      const auto r = report(progress);
      store.RecordEpoch(id, rec, &r, "");
      if (e == o.rung) {
        const bool prune = state == db::TrialState::kPruned;
        // A pruned trial is justified by trials 1 and 2 (ranked ahead of it).
        store.AddPruneDecision(
            {id, e, prune ? "prune" : "continue",
             prune ? "dominated at rung " + std::to_string(e) : "first front",
             "{\"peers\":" + std::to_string(i) + (prune ? ",\"justified_by\":[1,2]}" : "}"),
             prune ? "rank" : "front", ""});
      }
    }
    if (state == db::TrialState::kPruned) {
      store.FinishTrial(id, state, "pruned at rung " + std::to_string(o.rung));
    } else if (state == db::TrialState::kComplete) {
      store.CompleteTrial(id, report(1 - 0.3 / o.epochs));
    }
  }
}

}  // namespace fnas::testing
