#include "search/evaluator.h"

#include <algorithm>
#include <map>

#include "common/error.h"
#include "search/scripted_evaluator.h"
#include "search/training_evaluator.h"

namespace fnas::search {

std::string TrialSpec::CheckpointPath(int epoch) const {
  return checkpoint_dir + "/epoch-" + std::to_string(epoch) + ".pt";
}

bool TrialSpec::RecordsEpoch(int epoch) const {
  return std::binary_search(record_epochs.begin(), record_epochs.end(), epoch);
}

bool TrialSpec::IsRung(int epoch) const {
  return std::binary_search(rung_epochs.begin(), rung_epochs.end(), epoch);
}

evaluators::QuantOptions TrialSpec::ValidationQuantOptions(int epoch) const {
  evaluators::QuantOptions q = config->quantization;
  if (IsRung(epoch)) {
    const PruningOptions& p = config->pruning;
    if (!p.evaluation.empty()) q.mode = p.evaluation;
    if (p.calibration_samples > 0) q.calibration_samples = p.calibration_samples;
  }
  return q;
}

namespace {

std::map<std::string, EvaluatorFactory>& Registry() {
  // Built-in evaluators. The training evaluator is added here as "training"
  // (a static registrar in a static library would be dropped by the linker).
  static std::map<std::string, EvaluatorFactory> registry = {
      {"training", MakeTrainingEvaluator},
      {"scripted",
       [](const Config&, const std::string& options) -> std::unique_ptr<Evaluator> {
         return std::make_unique<ScriptedEvaluator>(ParseScriptedOptions(options));
       }},
  };
  return registry;
}

}  // namespace

void RegisterEvaluator(const std::string& name, EvaluatorFactory factory) {
  Registry()[name] = std::move(factory);
}

bool HasEvaluator(const std::string& name) { return Registry().count(name) > 0; }

std::unique_ptr<Evaluator> MakeEvaluator(const std::string& spec, const Config& config) {
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::string options = colon == std::string::npos ? "" : spec.substr(colon + 1);
  auto it = Registry().find(name);
  if (it == Registry().end()) {
    std::string known;
    for (const auto& kv : Registry()) known += (known.empty() ? "" : ", ") + kv.first;
    throw UsageError("no evaluator '" + name + "' in this build (known: " + known + ")");
  }
  return it->second(config, options);
}

}  // namespace fnas::search
