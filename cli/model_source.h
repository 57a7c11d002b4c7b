// A trained candidate named on the command line, for the commands that read
// one (export, predict): a checkpoint with the study config it was trained
// with, or a study database and one of its trials.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "db/store.h"
#include "evaluators/train/checkpoint.h"

namespace fnas::cli {

// TRIAL is a trial id, a candidate name or a factorization key. Throws
// UsageError naming the database when there is no such trial.
db::TrialRow FindTrial(const db::Store& store, const std::string& text);

struct ModelSource {
  Config config;
  evaluators::LoadedModel loaded;
  std::string origin;  // "CKPT" or "DB trial N", for messages
};

// `positional` is {CHECKPOINT} (then `config` names the YAML) or {DB, TRIAL}
// (the study's own config and the trial's latest checkpoint). Throws
// UsageError on any other shape and when a trial has no checkpoint.
ModelSource LoadModelSource(const std::vector<std::string>& positional, const std::string& config);

}  // namespace fnas::cli
