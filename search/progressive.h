// The progressive per-layer search (docs/method.md §3 "per_layer", docs/config.md
// "search.progressive"): from the seeds (space.paths; default `regular`),
// each step takes the candidates on the current front — conv MACs down,
// quint8 validation accuracy at the expansion epoch up — and proposes their
// children: a child raises one layer (unit: layer) or every layer of one
// stage, the convs between two pools (unit: stage), to the next rate of its
// ladder 1, 2, 4, ..., in-depth (space::Macro::Ladder). Children already in
// the study, or proposed by an earlier parent of the same step, are skipped.
// A step proposes at most per_step candidates. It stops at its budget
// (max_trials candidates, max_epochs planned epochs) or when a step proposes
// nothing new.
//
// Order of a step: parents by accuracy descending (MACs descending on the
// front), each parent's children by conv MACs ascending (the largest saving
// first; ties by layer/stage index); the step takes the first child of every
// parent, then the second of every parent, and so on, until the budget is
// spent. So a tight budget spreads over the whole front.
//
// Determinism. Step s is taken only when every candidate of the steps before
// it has its validation result at the expansion epoch, or has ended without
// one (failed, or pruned before it); it reads only those results, visiting
// candidates in their stored order. Candidate ids and positions follow the
// proposal order. So for a seed and the evaluator's results up to the
// expansion epoch, the candidates — their order, parents, steps and moves —
// are the same for any number of workers and across kills and resumes. The
// budget counts a trial that reached the expansion epoch at the full epoch
// budget (even if it is pruned or fails later) and one that ended before it
// at its epochs done, so it too depends only on those results. Results are
// bit-identical across worker counts with execution.deterministic: true;
// a pruner that stops trials before the expansion epoch in an order that
// depends on their arrival (asynchronous pruning) can change which
// candidates have a result, and so the steps. Workers wait only when every
// candidate is running or done and some candidate of the last step has not
// reached the expansion epoch yet: the earlier the expansion epoch, the less
// they wait.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "search/strategy.h"

namespace fnas::search {

// What the strategy knows of one candidate of the study.
struct Evidence {
  enum class State {
    kWaiting,  // not started, or running / stopped before the expansion epoch
    kResult,   // has its validation result at the expansion epoch
    kEnded,    // finished (failed, pruned) before the expansion epoch
  };
  db::CandidateRow candidate;
  State state = State::kWaiting;
  double accuracy = std::nan("");  // quint8 validation accuracy (kResult)
  int epochs = 0;                  // epochs it counts against max_epochs
};

class ProgressiveStrategy : public Strategy {
 public:
  explicit ProgressiveStrategy(const Config& config);
  std::string Name() const override { return "progressive"; }
  std::vector<space::Candidate> Seeds() const override;
  // Reads the candidates, trials and recorded epochs, then Expand.
  std::vector<db::CandidateRow> Propose(const db::Store& store) const override;
  int MaxCandidates() const override { return options_.max_trials; }

  // The candidates, in stored order, as the strategy sees them.
  std::vector<Evidence> Gather(const db::Store& store) const;
  // The next step from the evidence (pure): empty while a candidate waits,
  // when the budget is spent or when nothing new remains.
  std::vector<db::CandidateRow> Expand(const std::vector<Evidence>& known) const;
  // The children of `f`, one per layer or stage that can still rise, with
  // their moves, in unit order (not deduplicated).
  std::vector<std::pair<space::Factorization, std::string>> Children(
      const space::Factorization& f) const;

  int expand_epoch() const { return expand_epoch_; }

 private:
  space::Macro macro_;
  std::vector<space::PathSpec> paths_;
  ProgressiveOptions options_;
  int epochs_ = 1;                          // the epoch budget of one trial
  int expand_epoch_ = 1;                    // ExpandEpoch(options_, epochs_)
  std::vector<std::vector<size_t>> units_;  // layer indices moved together
};

}  // namespace fnas::search
