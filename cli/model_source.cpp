#include "cli/model_source.h"

#include "common/error.h"

namespace fnas::cli {

db::TrialRow FindTrial(const db::Store& store, const std::string& text) {
  const auto trials = store.Trials();
  for (const auto& t : trials) {
    if (std::to_string(t.id) == text || t.candidate_name == text || t.candidate_key == text) {
      return t;
    }
  }
  for (const auto& c : store.Candidates()) {
    if (c.candidate.name == text || c.candidate.key == text) {
      throw UsageError("candidate " + c.candidate.name + " has no trial yet (pending)");
    }
  }
  throw UsageError("no trial '" + text + "' in " + store.path() +
                   " (give a trial id, a candidate name or a factorization key; see "
                   "`factorize-nas trials`)");
}

ModelSource LoadModelSource(const std::vector<std::string>& positional, const std::string& config) {
  if (positional.size() == 1) {
    if (config.empty()) {
      throw UsageError(
          "a checkpoint needs --config, the study config it was trained with (or "
          "give DB TRIAL instead)");
    }
    ModelSource s{LoadConfig(config), {}, positional[0]};
    s.loaded = evaluators::LoadModelCheckpoint(positional[0], s.config.macro());
    return s;
  }
  if (positional.size() != 2) {
    throw UsageError("give CHECKPOINT --config CONFIG, or DB TRIAL");
  }
  if (!config.empty()) {
    throw UsageError("--config is for a checkpoint; with DB TRIAL the study's own config is used");
  }
  const db::Store store(positional[0], db::Store::Mode::kReadOnly);
  const db::StudyRow study = store.Study();
  const db::TrialRow trial = FindTrial(store, positional[1]);
  if (trial.checkpoint.empty()) {
    throw UsageError("trial " + std::to_string(trial.id) + " (" + trial.candidate_name + ") in " +
                     positional[0] + " has no checkpoint (state " +
                     db::TrialStateName(trial.state) + ")");
  }
  ModelSource s{ParseConfig(study.yaml, study.source),
                {},
                positional[0] + " trial " + std::to_string(trial.id)};
  s.loaded = evaluators::LoadModelCheckpoint(trial.checkpoint, s.config.macro());
  return s;
}

}  // namespace fnas::cli
