// The evaluator of a real study: trains a candidate with evaluators::Trainer,
// quantizes it to quint8 at the recorded epochs (validation split) and at the
// end (test split), and reports everything to the driver.
//
// It owns the study's Dataset, loaded once and read by every trial; Run may be
// called from several worker threads at once (each trial owns its Trainer and
// model).
#pragma once

#include <memory>

#include "config/config.h"
#include "evaluators/train/dataset.h"
#include "search/evaluator.h"

namespace fnas::search {

class TrainingEvaluator : public Evaluator {
 public:
  // Loads the config's dataset (DataError if it is missing or corrupt).
  explicit TrainingEvaluator(const Config& config);

  TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override;

  const evaluators::Dataset& data() const { return *data_; }

 private:
  std::shared_ptr<const evaluators::Dataset> data_;
};

// The factory registered as "training" (search/evaluator.cpp), the default
// evaluator of `search` and `resume`; takes no options.
std::unique_ptr<Evaluator> MakeTrainingEvaluator(const Config& config, const std::string& options);

}  // namespace fnas::search
