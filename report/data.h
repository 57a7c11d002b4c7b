// What the report shows, read from a study's store in one pass: the study,
// its candidates, every trial with its epochs and pruning decisions, and the
// layerwise statistics of the trials chosen for the layerwise figures.
// Read-only: the store is opened with Mode::kReadOnly, so the report of a
// running study can be made while the search writes (WAL). Value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "db/store.h"

namespace fnas::report {

struct ReportOptions {
  // Trials for the layerwise figures, each a trial id, a candidate name or a
  // candidate key; empty = the members of the quint8 Pareto front.
  std::vector<std::string> trials;
  // At most this many trials in the layerwise figures when none are chosen
  // (spread evenly along the front, both ends kept).
  size_t max_layerwise = 8;
};

// The accuracy and quantization error the scatter plots show for a trial:
// its final test metrics when COMPLETE, else its latest validation metrics
// (a pruned or running trial), else none (failed before any recorded epoch).
struct ShownMetrics {
  evaluators::QuantMetrics metrics;
  bool test = false;  // test split (else validation)
  int epoch = 0;      // the epoch the metrics are from
};

struct TrialData {
  db::TrialRow row;
  std::vector<db::EpochRow> epochs;
  std::vector<db::PruneDecision> decisions;
  std::vector<db::LayerRow> layers;  // only for the layerwise trials
  std::optional<ShownMetrics> shown;
};

struct StudyData {
  std::string db_path;
  db::StudyRow study;
  std::vector<db::CandidateRow> candidates;
  std::vector<TrialData> trials;   // ordered by id
  std::vector<int64_t> layerwise;  // trial ids for the layerwise figures, by MACs
  bool layerwise_chosen = false;   // from ReportOptions::trials (else the front)
  size_t front_size = 0;           // quint8 front members (before thinning)
  // The Pareto fronts' members (conv MACs down; quint8 resp. fp32 test
  // accuracy up), by MACs: the store's `front` table, kept as trials complete.
  std::vector<int64_t> front_quint8, front_fp32;
  int epochs_per_trial = 0;  // training.epochs of the config; 0 if unreadable
  std::string config_note;   // why the config could not be read, if so
  // Progressive search: candidate id -> parent candidate id (only candidates
  // with a parent; empty for the grid strategy). Step and move: CandidateRow.
  std::map<int64_t, int64_t> parent;
  const db::CandidateRow* FindCandidate(int64_t id) const;

  const TrialData* FindTrial(int64_t id) const;
};

// Reads everything from the store at `db_path` (read-only), in one read
// transaction: the same rows whatever a running search commits meanwhile. Throws StoreError
// if the file is not a study database and UsageError naming an entry of
// `options.trials` that matches no trial.
StudyData LoadStudyData(const std::string& db_path, const ReportOptions& options = {});

// The metrics shown for a trial (see ShownMetrics); pure.
std::optional<ShownMetrics> ShownFor(const db::TrialRow& row,
                                     const std::vector<db::EpochRow>& epochs);

}  // namespace fnas::report
