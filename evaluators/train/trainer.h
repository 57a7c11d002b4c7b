// Trains one candidate with the paper's recipe (docs/method.md §4): SGD with
// momentum, step learning-rate schedule, thesis ch. 4 initializers, seeded
// augmentation, a validation accuracy per epoch and an atomic checkpoint
// after every epoch, from which Run(resume) continues bit-identically.
//
// A Trainer owns its model, optimizer state and torch::Generators (init, data
// order, augmentation; never the global RNG); it reads the Dataset, which the
// caller keeps alive and may share with other trainers. One Trainer is not
// thread-safe, distinct Trainers may run in parallel threads. It never sets
// the number of intra-op threads (the caller does).
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "evaluators/options.h"
#include "evaluators/records.h"
#include "evaluators/train/dataset.h"
#include "space/candidate.h"
#include "space/macro.h"
#include "space/model.h"

namespace fnas::evaluators {

struct TrainerRunOptions {
  // The checkpoint file written after every epoch (see CheckpointFile); empty
  // = no checkpoints (and no resume).
  std::string checkpoint_path;
  // When set, where the checkpoint after `epoch` goes instead (e.g. one file
  // per epoch: DIR/epoch-<epoch>.pt); the search driver deletes old ones.
  std::function<std::string(int epoch)> checkpoint_for_epoch;
  // The checkpoint `resume` reads; empty = checkpoint_path.
  std::string resume_from;
  int epochs = 0;        // 0 = training.epochs (also sets the milestones' budget)
  bool resume = false;   // continue from checkpoint_path when it exists
  int eval_batch = 512;  // batch of the validation pass
  // Where the model trains and the fp32 validation pass runs: "cpu", "cuda" or
  // "cuda:N" (a LibTorch built with CUDA). Initialization, data order and
  // augmentation stay on the CPU generators, so the batches are the same on
  // every device; each batch is moved to the device after augmentation. The
  // callbacks (validate, EpochCallback) and TrainResult::model always get a
  // model on the CPU (a copy when training elsewhere): quantization and the
  // integer evaluation run on the CPU. Checkpoints hold CPU tensors and
  // resume on any device.
  std::string device = "cpu";
  // When set and it returns a value, that value is the epoch's validation
  // accuracy instead of the trainer's own fp32 pass: a rung's quantized
  // evaluation computes it in its own fp32 pass, so the validation images go
  // through the fp32 net once. Called after the epoch's training, before its
  // checkpoint, with the model in eval() mode (it must not change the weights).
  std::function<std::optional<double>(int epoch, space::FactorizeNet& net)> validate;
};

// What the per-batch callback sees.
struct BatchProgress {
  int epoch = 0;        // from 1
  int64_t batch = 0;    // from 0
  int64_t batches = 0;  // per epoch
  double loss = 0;      // running mean of the epoch's training loss
  double images_per_s = 0;
};

struct TrainResult {
  enum class Status { kCompleted, kDiverged, kStopped };
  Status status = Status::kCompleted;
  std::string message;               // "diverged at epoch 3 (loss nan at batch 12)", ...
  std::vector<EpochRecord> records;  // every epoch done, those before a resume included
  int epochs_done = 0;
  space::FactorizeNet model{nullptr};  // the trainer's model after the last epoch done
};
const char* StatusName(TrainResult::Status status);  // completed | diverged | stopped

// Called after every epoch (after its checkpoint is written) with the record
// and the model (in eval() mode; the caller may quantize or analyse it, and
// must not change its weights). Return false to stop training (status Stopped).
using EpochCallback = std::function<bool(const EpochRecord&, space::FactorizeNet&)>;
using BatchCallback = std::function<void(const BatchProgress&)>;

class Trainer {
 public:
  // Builds the candidate's network on the macroarchitecture `model` and
  // initializes it; `seed` drives the initialization, the data order and the
  // augmentation (each its own generator). DataError if `data` does not fit
  // the model's input or classes.
  Trainer(const TrainOptions& training, const space::MacroOptions& model, uint64_t seed,
          const space::Candidate& candidate, const Dataset& data, TrainerRunOptions options = {});

  // Trains up to the epoch budget. `stop`, when set, is read at every epoch's
  // end: the epoch finishes, its checkpoint is written, and Run returns
  // Stopped. Divergence (NaN/inf loss or weights) returns Diverged; the last
  // checkpoint stays that of the last good epoch. Throws RuntimeError on I/O
  // failures and DataError for a checkpoint of another network.
  TrainResult Run(const EpochCallback& on_epoch = nullptr, const BatchCallback& on_batch = nullptr,
                  const std::atomic<bool>* stop = nullptr);

  // One SGD step on a batch (normalized, augmented images [N, C, H, W];
  // labels [N]): forward, cross-entropy, backward, momentum update at `lr`.
  // Returns the loss and the logits; a non-finite loss takes no step. Run()
  // is made of these; exposed for the throughput benchmark.
  struct Step {
    double loss = 0;
    torch::Tensor logits;
  };
  Step TrainStep(const torch::Tensor& images, const torch::Tensor& labels, double lr);

  // The model being trained (on options.device).
  space::FactorizeNet model() const { return model_; }
  const torch::Device& device() const { return device_; }
  // The checkpoint written after the last epoch done ("" if none yet); valid
  // inside the epoch callback for the epoch it reports.
  const std::string& last_checkpoint() const { return last_checkpoint_; }
  int epochs() const { return epochs_; }
  // The learning rate of `epoch` (from 1): lr * gamma^(milestones passed).
  double LearningRate(int epoch) const;

 private:
  void SgdStep(double lr);
  // Conv weights in channels-last (NHWC) layout while training: oneDNN's
  // fastest convolutions. The model is handed out in the default layout.
  void SetChannelsLast(bool on);
  double Evaluate(const Split& split);
  // The model on the CPU for the callbacks: model_ itself when training there,
  // else a copy (in eval() mode).
  space::FactorizeNet HostModel() const;

  const Dataset& data_;
  TrainOptions train_;
  TrainerRunOptions options_;
  space::Candidate candidate_;
  int epochs_ = 0;
  std::vector<int> milestones_;
  space::FactorizeNet model_{nullptr};
  torch::Device device_{torch::kCPU};
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> momentum_;  // per params_, undefined before the first step
  at::Generator order_gen_, augment_gen_;
  bool channels_last_ = false;
  std::string last_checkpoint_;
};

// One step of SGD on p with its gradient g, as torch::optim::SGD takes it
// (dampening 0, not Nesterov): d = g + weight_decay * p; with momentum,
// buf = momentum * buf + d (buf = d on the first step, when buf is
// undefined) and d = buf; p -= lr * d. Float CPU tensors laid out alike run
// as one pass over memory, others as tensor ops.
void SgdUpdate(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& buf, double lr,
               double momentum, double weight_decay);

// The epochs at which the learning rate is multiplied by gamma: `milestones`
// below 1 are fractions of the `epochs` budget, rounded to the nearest epoch
// (at least 1); later ones that do not increase are dropped.
std::vector<int> MilestoneEpochs(const std::vector<double>& milestones, int epochs);

// A copy of `model` (same plan, parameters and buffers, independent storage)
// on `device`, in the source's training mode.
space::FactorizeNet CopyModel(const space::FactorizeNetImpl& model, const torch::Device& device);

// Accuracy of `model` (in eval mode, no grad) on a split, each batch moved to
// the model's device; fraction in [0, 1].
double Accuracy(space::FactorizeNetImpl& model, const Dataset& data, const Split& split,
                int batch = 512);

}  // namespace fnas::evaluators
