// The seam that decides what a study runs. A Strategy gives the study's first
// candidates (written when it is created) and, while it runs, candidates to
// append (the driver asks whenever a worker is free and nothing is left to
// run). The grid of configured paths (GridStrategy) proposes everything at
// creation and nothing later; the progressive per-layer search
// (search/progressive.h) grows the study from its results.
//
// Propose is a pure function of the stored rows (and the strategy's fixed
// options): a resumed search, or `status`, asks the same question and gets
// the same answer; no state lives in memory that a crash would lose. A
// Strategy is immutable after construction and safe to call from several
// threads; it keeps copies of what it needs from the config.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "db/store.h"
#include "space/candidate.h"

namespace fnas::search {

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string Name() const = 0;
  // The study's first candidates, in order, each once (step 0, no parent).
  // Throws ConfigError for an invalid factorization.
  virtual std::vector<space::Candidate> Seeds() const = 0;
  // Candidates to append now, in order, given the store's rows: macs, params,
  // parent_id, step and move set; id and position are the store's. None of
  // them is already in the store. Empty means nothing now: the search is over
  // when no trial runs and none is left to run (WorkLeft), otherwise the
  // question is asked again when a running trial records an epoch or ends.
  virtual std::vector<db::CandidateRow> Propose(const db::Store& store) const = 0;
  // An upper bound on the candidates the study will hold (sizes the worker
  // pool); 0 = unknown.
  virtual int MaxCandidates() const = 0;
};

// Today's behaviour: every candidate of the configured paths (space.paths),
// in order, at creation; nothing is ever appended.
class GridStrategy : public Strategy {
 public:
  explicit GridStrategy(const Config& config);
  std::string Name() const override { return "grid"; }
  std::vector<space::Candidate> Seeds() const override;
  std::vector<db::CandidateRow> Propose(const db::Store& store) const override;
  int MaxCandidates() const override;

 private:
  space::Macro macro_;
  std::vector<space::PathSpec> paths_;
};

// The strategy a config names (search.strategy: grid | progressive).
std::unique_ptr<Strategy> MakeStrategy(const Config& config);

// A candidate's row: exact conv and dense MACs and parameters from its plan
// (no id, position 0, no parent, step 0).
db::CandidateRow CandidateRowOf(const space::Macro& macro, const space::Candidate& candidate);

}  // namespace fnas::search
