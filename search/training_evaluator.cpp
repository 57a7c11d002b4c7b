#include "search/training_evaluator.h"

#include <optional>

#include "common/error.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/train/checkpoint.h"
#include "evaluators/train/trainer.h"

namespace fnas::search {

namespace {

using evaluators::QuantReport;

// Quantizes `net` (calibrated on the training split) and evaluates it on `split`.
QuantReport QuantizeAndEvaluate(space::FactorizeNet& net, const evaluators::Dataset& data,
                                const evaluators::Split& split,
                                const evaluators::QuantOptions& options, uint64_t seed) {
  torch::NoGradGuard no_grad;
  net->eval();
  const evaluators::QuantizedModel quantized =
      evaluators::QuantizeModel(net, data.train, data.normalization, options, seed);
  return evaluators::Evaluate(quantized, net, split, data.normalization, options);
}

}  // namespace

TrainingEvaluator::TrainingEvaluator(const Config& config)
    : data_(std::make_shared<const evaluators::Dataset>(
          evaluators::LoadDataset(config.data, config.model, config.seed))) {}

TrialOutcome TrainingEvaluator::Run(const TrialSpec& spec, TrialObserver& observer) {
  const Config& config = *spec.config;
  const evaluators::Dataset& data = *data_;
  TrialOutcome outcome;

  evaluators::TrainerRunOptions options;
  // One checkpoint file per epoch (the driver deletes the previous one once the
  // epoch is committed); a resume continues from the last committed epoch, so a
  // checkpoint written just before a crash is simply redone. A trial another
  // process took over writes no file (its OnEpoch then throws OwnershipLost).
  options.checkpoint_for_epoch = [&spec, &observer](int epoch) {
    return observer.Abandoned() ? std::string() : spec.CheckpointPath(epoch);
  };
  options.resume = spec.start_epoch > 0;
  options.resume_from = spec.resume_checkpoint;
  options.epochs = spec.epochs;
  options.eval_batch = config.quantization.eval_batch;
  options.device = spec.device;

  // A recorded epoch's quantized evaluation on the validation split; its fp32
  // pass also gives the epoch's validation accuracy (the trainer skips its own).
  std::optional<QuantReport> rung;
  options.validate = [&](int epoch, space::FactorizeNet& net) -> std::optional<double> {
    rung.reset();
    if (!spec.RecordsEpoch(epoch) || data.validation.size() == 0) return std::nullopt;
    rung = QuantizeAndEvaluate(net, data, data.validation, spec.ValidationQuantOptions(epoch),
                               spec.seed + epoch);
    return rung->metrics.acc_fp32;
  };

  evaluators::Trainer trainer(config.training, config.model, spec.seed, spec.candidate, data,
                              options);
  bool interrupted = false;
  EpochVerdict pruned;
  const auto on_epoch = [&](const evaluators::EpochRecord& r, space::FactorizeNet&) {
    const EpochVerdict verdict =
        observer.OnEpoch(r, rung ? &*rung : nullptr, trainer.last_checkpoint());
    outcome.epochs_done = r.epoch;
    if (verdict.prune) {
      pruned = verdict;
      return false;
    }
    if (observer.StopRequested() && r.epoch < trainer.epochs()) {
      interrupted = true;
      return false;
    }
    return true;
  };
  const auto on_batch = [&](const evaluators::BatchProgress& p) {
    observer.OnProgress(p.epoch, static_cast<int>(p.batch), static_cast<int>(p.batches), p.loss,
                        p.images_per_s);
  };
  evaluators::TrainResult result = trainer.Run(on_epoch, on_batch);
  outcome.epochs_done = result.epochs_done;

  switch (result.status) {
    case evaluators::TrainResult::Status::kDiverged:
      outcome.status = TrialOutcome::Status::kFailed;
      outcome.message = result.message;
      return outcome;
    case evaluators::TrainResult::Status::kStopped:
      if (pruned.prune) {
        outcome.status = TrialOutcome::Status::kPruned;
        outcome.message = pruned.reason;
        return outcome;
      }
      outcome.status =
          interrupted ? TrialOutcome::Status::kInterrupted : TrialOutcome::Status::kFailed;
      outcome.message = interrupted
                            ? "interrupted after epoch " + std::to_string(result.epochs_done)
                            : result.message;
      return outcome;
    case evaluators::TrainResult::Status::kCompleted:
      break;
  }
  outcome.test = QuantizeAndEvaluate(result.model, data, data.test, config.quantization, spec.seed);
  outcome.status = TrialOutcome::Status::kCompleted;
  return outcome;
}

std::unique_ptr<Evaluator> MakeTrainingEvaluator(const Config& config, const std::string& options) {
  if (!options.empty()) {
    throw UsageError("the training evaluator takes no options, got '" + options + "'");
  }
  return std::make_unique<TrainingEvaluator>(config);
}

}  // namespace fnas::search
