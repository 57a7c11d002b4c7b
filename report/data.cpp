#include "report/data.h"

#include <algorithm>
#include <cctype>

#include "common/error.h"
#include "config/config.h"

namespace fnas::report {

namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The trial ids an entry of --trials names (one, or none).
std::optional<int64_t> Resolve(const std::vector<TrialData>& trials, const std::string& entry) {
  for (const auto& t : trials) {
    if ((AllDigits(entry) && std::stoll(entry) == t.row.id) || t.row.candidate_name == entry ||
        t.row.candidate_key == entry) {
      return t.row.id;
    }
  }
  return std::nullopt;
}

std::vector<int64_t> ChosenTrials(const StudyData& data, const std::vector<std::string>& entries) {
  std::vector<int64_t> ids;
  for (const auto& e : entries) {
    const auto id = Resolve(data.trials, e);
    if (!id) {
      std::string known;
      for (size_t i = 0; i < data.trials.size() && i < 6; ++i) {
        known += (i ? ", " : "") + data.trials[i].row.candidate_name;
      }
      if (data.trials.size() > 6) known += ", ...";
      throw UsageError("--trials: '" + e + "' is neither a trial id nor the name or key of a " +
                       "candidate with a trial in " + data.db_path +
                       (known.empty() ? " (it has no trials yet)" : " (trials: " + known + ")"));
    }
    if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  }
  return ids;
}

// The quint8 front, thinned to `max` members spread evenly along it (both
// ends kept).
std::vector<int64_t> FrontTrials(const StudyData& data, size_t max, size_t* front_size) {
  const std::vector<int64_t>& front = data.front_quint8;
  *front_size = front.size();
  std::vector<int64_t> ids;
  if (front.size() <= max || max < 2) {
    for (size_t i = 0; i < front.size() && (max >= 2 || i < max); ++i) ids.push_back(front[i]);
    return ids;
  }
  for (size_t k = 0; k < max; ++k) {
    const size_t i = (k * (front.size() - 1) + (max - 1) / 2) / (max - 1);
    if (ids.empty() || ids.back() != front[i]) ids.push_back(front[i]);
  }
  return ids;
}

}  // namespace

const TrialData* StudyData::FindTrial(int64_t id) const {
  auto it = std::lower_bound(trials.begin(), trials.end(), id,
                             [](const TrialData& t, int64_t v) { return t.row.id < v; });
  return it != trials.end() && it->row.id == id ? &*it : nullptr;
}

const db::CandidateRow* StudyData::FindCandidate(int64_t id) const {
  for (const auto& c : candidates) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

std::optional<ShownMetrics> ShownFor(const db::TrialRow& row,
                                     const std::vector<db::EpochRow>& epochs) {
  if (row.state == db::TrialState::kComplete && row.has_test) {
    return ShownMetrics{row.test, true, row.epochs_done};
  }
  for (auto it = epochs.rbegin(); it != epochs.rend(); ++it) {
    if (it->recorded) return ShownMetrics{it->validation, false, it->record.epoch};
  }
  return std::nullopt;
}

StudyData LoadStudyData(const std::string& db_path, const ReportOptions& options) {
  const db::Store store(db_path, db::Store::Mode::kReadOnly);
  // One read transaction: the fronts hold exactly the trials read.
  const db::Store::Snapshot snapshot(store);
  StudyData data;
  data.db_path = db_path;
  data.study = store.Study();
  data.candidates = store.Candidates();
  for (const auto& c : data.candidates) {
    if (c.parent_id != 0) data.parent[c.id] = c.parent_id;
  }
  for (auto& row : store.Trials()) {
    TrialData t;
    t.row = std::move(row);
    t.epochs = store.Epochs(t.row.id);
    t.decisions = store.PruneDecisions(t.row.id);
    t.shown = ShownFor(t.row, t.epochs);
    data.trials.push_back(std::move(t));
  }
  // The fronts as the store keeps them (the `front` table, schema 7).
  for (const auto& t : store.FrontTrials("acc_quint8")) data.front_quint8.push_back(t.id);
  for (const auto& t : store.FrontTrials("acc_fp32")) data.front_fp32.push_back(t.id);
  try {
    data.epochs_per_trial = ParseConfig(data.study.yaml, data.study.source).training.epochs;
  } catch (const Error& e) {
    data.config_note = e.what();
  }

  if (!options.trials.empty()) {
    data.layerwise = ChosenTrials(data, options.trials);
    data.layerwise_chosen = true;
    FrontTrials(data, 0, &data.front_size);
  } else {
    data.layerwise = FrontTrials(data, options.max_layerwise, &data.front_size);
  }
  std::stable_sort(data.layerwise.begin(), data.layerwise.end(), [&](int64_t a, int64_t b) {
    return data.FindTrial(a)->row.macs_conv < data.FindTrial(b)->row.macs_conv;
  });
  for (auto& t : data.trials) {
    if (std::find(data.layerwise.begin(), data.layerwise.end(), t.row.id) != data.layerwise.end()) {
      t.layers = store.Layers(t.row.id);
    }
  }
  return data;
}

}  // namespace fnas::report
