// What is left to run in a study, computed from its stored rows alone: the
// one definition that `resume` (the driver) and `status` share. Pure
// functions; thread-safe.
//
// A candidate without a trial is pending (it starts at epoch 0). An
// INTERRUPTED trial, or a RUNNING one whose process died, restarts from its
// last checkpoint: the epochs after it are trained again, so they count as
// left. COMPLETE, PRUNED and FAILED trials are finished and never run again.
// Candidates a strategy may still append are not counted here (see
// Strategy::Propose).
#pragma once

#include <cstdint>
#include <vector>

#include "db/store.h"
#include "search/pareto.h"

namespace fnas::search {

// One trial to run: a pending candidate or a trial to restart.
struct WorkItem {
  db::CandidateRow candidate;
  int64_t trial_id = 0;  // 0 = a new trial; else the trial to restart
  int start_epoch = 0;   // epochs its checkpoint holds (0 = from scratch)
  long ticket = 0;       // its place in the scheduler's hand-out order (Scheduler::Next)
};

struct WorkLeft {
  int candidates = 0;             // in the study now
  int finished = 0;               // COMPLETE, PRUNED or FAILED
  int pending = 0;                // no trial yet
  int restartable = 0;            // INTERRUPTED or RUNNING: continue from their checkpoint
  long epochs_left = 0;           // epochs the items still train (budget `epochs` each)
  std::vector<WorkItem> items;    // pending and restartable, in candidate position order
  std::vector<FrontPoint> front;  // quint8 test front of the COMPLETE trials
};

WorkLeft ComputeWorkLeft(const std::vector<db::CandidateRow>& candidates,
                         const std::vector<db::TrialRow>& trials, int epochs);
// The same from the store's current rows.
WorkLeft ComputeWorkLeft(const db::Store& store, int epochs);

}  // namespace fnas::search
