// Replay: simulates a pruner on a study that was trained without pruning and
// recorded every rung, without training (docs/config.md "replay"). The rung
// results are walked in their recorded order of arrival, and each one is
// judged by the very Pruner the live driver uses against the results that
// arrived before it at the same rung, skipping trials the simulation already
// pruned: so it reproduces what an asynchronous run would have decided (up to
// the arrival order itself, which pruning would have changed: freed workers
// start later trials earlier). Pure function of its input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "db/store.h"
#include "search/pareto.h"
#include "search/pruner.h"

namespace fnas::search {

struct ReplayTrial {
  int64_t trial_id = 0;
  std::string name;
  int64_t macs_conv = 0;
  int epochs_done = 0;    // epochs it trained in the recorded study
  bool complete = false;  // COMPLETE with a final test accuracy
  double test_acc_q = 0;  // final quint8 test accuracy (complete only)
};

struct ReplayInput {
  int epochs = 0;                  // the study's epoch budget
  int64_t ref_macs = 0;            // hypervolume reference: the study's largest conv MACs
  std::vector<ReplayTrial> trials;
  std::vector<RungResult> rungs;   // every recorded rung result, in order of arrival
};

struct ReplayDecision {
  int64_t trial_id = 0;
  int epoch = 0;
  PruneVerdict verdict;
};

struct ReplayResult {
  std::string pruner;
  std::vector<int> rungs;                  // the rung epochs simulated
  std::vector<ReplayDecision> decisions;   // in order of arrival
  std::vector<std::pair<int64_t, int>> pruned;  // (trial, rung epoch), in order of pruning
  int64_t epochs_full = 0;     // epochs the recorded study trained
  int64_t epochs_trained = 0;  // epochs it would have trained with the pruner
  double epoch_fraction = 1;   // epochs_trained / epochs_full
  std::vector<FrontPoint> full_front;   // quint8 test front of every complete trial
  std::vector<FrontPoint> found_front;  // ... of the complete trials not pruned
  std::vector<int64_t> lost;            // full-front members the pruner would have pruned
  double hv_full = 0, hv_found = 0;
  double hv_fraction = 1;  // hv_found / hv_full
};

// A recorded study as replay needs it: its trials, every rung result in order
// of arrival, the epoch budget of its stored config, and its largest conv MACs
// (over every candidate). UsageError when the study recorded no rung.
ReplayInput LoadReplayInput(const db::Store& store);

// Throws UsageError when options.rungs names an epoch the study did not
// record (naming the recorded ones). Empty options.rungs = every recorded rung.
ReplayResult Replay(const ReplayInput& input, const PruningOptions& options);

}  // namespace fnas::search
