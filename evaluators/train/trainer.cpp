#include "evaluators/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "common/crashpoint.h"
#include "common/error.h"
#include "evaluators/train/augment.h"
#include "evaluators/train/checkpoint.h"
#include "evaluators/train/device.h"
#include "evaluators/train/init.h"
#include "space/plan.h"

namespace fnas::evaluators {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// splitmix64: independent seeds for the trainer's generators from one seed.
uint64_t Mix(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool AllFinite(const std::vector<std::pair<std::string, torch::Tensor>>& params, std::string* bad) {
  for (const auto& [name, p] : params) {
    if (!torch::isfinite(p).all().item<bool>()) {
      *bad = name;
      return false;
    }
  }
  return true;
}

}  // namespace

const char* StatusName(TrainResult::Status status) {
  switch (status) {
    case TrainResult::Status::kCompleted:
      return "completed";
    case TrainResult::Status::kDiverged:
      return "diverged";
    case TrainResult::Status::kStopped:
      return "stopped";
  }
  return "?";
}

space::FactorizeNet CopyModel(const space::FactorizeNetImpl& model, const torch::Device& device) {
  space::FactorizeNet copy(model.plan());
  copy->to(device);
  torch::NoGradGuard no_grad;
  const auto src_params = model.named_parameters();
  for (auto& p : copy->named_parameters()) p.value().copy_(src_params[p.key()]);
  const auto src_buffers = model.named_buffers();
  for (auto& b : copy->named_buffers()) b.value().copy_(src_buffers[b.key()]);
  copy->train(model.is_training());
  return copy;
}

double Accuracy(space::FactorizeNetImpl& model, const Dataset& data, const Split& split,
                int batch) {
  const int64_t n = split.size();
  if (n == 0) return 0.0;
  const auto params = model.parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params[0].device();
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  int64_t correct = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    torch::Tensor logits =
        model.forward(data.normalization(split.images.slice(0, b, e)).to(device));
    correct += logits.argmax(1).cpu().eq(split.labels.slice(0, b, e)).sum().item<int64_t>();
  }
  if (was_training) model.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

Trainer::Trainer(const TrainOptions& training, const space::MacroOptions& model, uint64_t seed,
                 const space::Candidate& candidate, const Dataset& data, TrainerRunOptions options)
    : data_(data), train_(training), options_(std::move(options)), candidate_(candidate) {
  epochs_ = options_.epochs > 0 ? options_.epochs : train_.epochs;
  milestones_ = MilestoneEpochs(train_.milestones, epochs_);
  model_ = space::FactorizeNet(space::BuildPlan(space::Macro(model), candidate.f));
  if (data.channels != model.in_channels || data.height != model.in_height ||
      data.width != model.in_width || data.classes > model.classes) {
    throw DataError(data.source + ": the dataset does not fit model.input / model.classes");
  }
  at::Generator init_gen = at::detail::createCPUGenerator(Mix(seed, 0));
  order_gen_ = at::detail::createCPUGenerator(Mix(seed, 1));
  augment_gen_ = at::detail::createCPUGenerator(Mix(seed, 2));
  InitializeModel(*model_, train_.init, init_gen);
  device_ = ParseDevice(options_.device);
  model_->to(device_);
  for (const auto& p : model_->named_parameters()) params_.emplace_back(p.key(), p.value());
  momentum_.resize(params_.size());
}

space::FactorizeNet Trainer::HostModel() const {
  if (device_.is_cpu()) return model_;
  space::FactorizeNet host = CopyModel(*model_, torch::kCPU);
  host->eval();
  return host;
}

void Trainer::SetChannelsLast(bool on) {
  if (on == channels_last_) return;
  channels_last_ = on;
  model_->set_channels_last(on);
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : params_) {
    if (p.dim() != 4) continue;
    if (on) {
      // Channels-last strides even where contiguous() would keep the NCHW ones
      // (a stem's [out, 1, k, k] counts as both; the convolution then picks
      // NCHW and reorders its output every step).
      torch::Tensor q = torch::empty_like(p, p.options(), torch::MemoryFormat::ChannelsLast);
      p.set_data(q.copy_(p));
    } else {
      p.set_data(p.contiguous());
    }
  }
}

std::vector<int> MilestoneEpochs(const std::vector<double>& milestones, int epochs) {
  std::vector<int> out;
  for (double m : milestones) {
    int e = m < 1.0 ? static_cast<int>(std::lround(m * epochs)) : static_cast<int>(std::lround(m));
    if (e < 1) e = 1;
    if (out.empty() || e > out.back()) out.push_back(e);
  }
  return out;
}

double Trainer::LearningRate(int epoch) const {
  double lr = train_.lr;
  for (int m : milestones_) {
    if (epoch > m) lr *= train_.gamma;
  }
  return lr;
}

// PyTorch's SGD (dampening 0, no Nesterov): d = g + wd p; buf = m buf + d
// (buf = d at the first step); p -= lr buf.
namespace {

// Whether the SGD update of p may run as one loop over its memory: float CPU
// tensors laid out alike (the gradient and the momentum buffer follow the
// parameter's strides), dense.
bool FlatUpdate(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& buf) {
  static const bool fma = __builtin_cpu_supports("fma");
  if (!fma) return false;  // ATen's kernels then do not fuse either: the tensor ops
  const auto alike = [&](const torch::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 &&
           t.strides() == p.strides() && t.sizes() == p.sizes() && t.is_non_overlapping_and_dense();
  };
  return alike(p) && alike(g) && (!buf.defined() || alike(buf));
}

// SGD with momentum over n elements laid out alike, in the tensor ops'
// arithmetic (ATen's add with alpha is a fused multiply-add, its mul_ then
// add_ round twice): d = g + wd p (when wd != 0); buf = buf * momentum + d,
// or d on the first step (`first`; no buffer when momentum is 0);
// p = p - lr * buf.
__attribute__((target("fma"), optimize("fp-contract=off"))) void SgdLoop(float* p, const float* g,
                                                                         float* buf, int64_t n,
                                                                         float wd, float mom,
                                                                         float step, bool first) {
  for (int64_t k = 0; k < n; ++k) {
    float d = wd != 0 ? std::fma(p[k], wd, g[k]) : g[k];
    if (buf) d = buf[k] = first ? d : buf[k] * mom + d;
    p[k] = std::fma(d, step, p[k]);
  }
}

}  // namespace

void SgdUpdate(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& buf, double lr,
               double momentum, double weight_decay) {
  torch::NoGradGuard no_grad;
  // A buffer restored from a checkpoint is NCHW-contiguous while the conv
  // weights train channels-last: laid out as the parameter once, so the
  // resumed trial takes the same path (and arithmetic) as an uninterrupted one.
  if (buf.defined() && buf.sizes() == p.sizes() && buf.strides() != p.strides() &&
      buf.device() == p.device()) {
    buf = torch::empty_like(p).copy_(buf);
  }
  if (FlatUpdate(p, g, buf)) {  // one pass instead of three tensor ops
    const bool first = momentum != 0 && !buf.defined();
    if (first) buf = torch::empty_like(p);
    SgdLoop(p.data_ptr<float>(), g.data_ptr<float>(),
            momentum != 0 ? buf.data_ptr<float>() : nullptr, p.numel(),
            static_cast<float>(weight_decay), static_cast<float>(momentum), static_cast<float>(-lr),
            first);
    return;
  }
  torch::Tensor d = weight_decay != 0 ? g.add(p, weight_decay) : g;
  if (momentum != 0) {
    if (!buf.defined()) {
      buf = d.clone();
    } else {
      buf.mul_(momentum).add_(d);
    }
    d = buf;
  }
  p.add_(d, -lr);
}

void Trainer::SgdStep(double lr) {
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i].second;
    if (p.grad().defined()) {
      SgdUpdate(p, p.grad(), momentum_[i], lr, train_.momentum, train_.weight_decay);
    }
  }
}

Trainer::Step Trainer::TrainStep(const torch::Tensor& images, const torch::Tensor& labels,
                                 double lr) {
  SetChannelsLast(true);
  model_->train();  // batch statistics, whatever ran before (Run ends in eval mode)
  for (auto& [name, p] : params_) p.mutable_grad().reset();
  Step step;
  step.logits = model_->forward(images.to(device_));
  torch::Tensor loss = torch::nn::functional::cross_entropy(step.logits, labels.to(device_));
  step.loss = loss.item<double>();
  if (!std::isfinite(step.loss)) return step;
  loss.backward();
  SgdStep(lr);
  step.logits = step.logits.detach();
  return step;
}

double Trainer::Evaluate(const Split& split) {
  return Accuracy(*model_, data_, split, options_.eval_batch);
}

TrainResult Trainer::Run(const EpochCallback& on_epoch, const BatchCallback& on_batch,
                         const std::atomic<bool>* stop) {
  TrainResult result;
  result.model = model_;
  int start = 0;
  const std::string& from =
      options_.resume_from.empty() ? options_.checkpoint_path : options_.resume_from;
  if (options_.resume && !from.empty() && std::filesystem::exists(from)) {
    TrainingState s = LoadCheckpoint(from, *model_);
    last_checkpoint_ = from;
    start = s.epoch;
    result.records = s.records;
    for (size_t i = 0; i < params_.size(); ++i) {
      auto it = s.momentum.find(params_[i].first);
      momentum_[i] = it == s.momentum.end() ? torch::Tensor() : it->second.clone().to(device_);
    }
    if (s.order_rng.defined()) order_gen_.set_state(s.order_rng);
    if (s.augment_rng.defined()) augment_gen_.set_state(s.augment_rng);
  }
  result.epochs_done = start;

  const Split& train = data_.train;
  const int64_t n = train.size();
  const int64_t bs = train_.batch_size;
  // A last batch of one image cannot be batch-normalized in training mode: dropped.
  int64_t batches = (n + bs - 1) / bs;
  if (batches > 0 && n - (batches - 1) * bs == 1) --batches;
  if (batches == 0) throw DataError(data_.source + ": no training images to train on");

  for (int epoch = start + 1; epoch <= epochs_; ++epoch) {
    const auto t0 = Clock::now();
    const double lr = LearningRate(epoch);
    model_->train();
    torch::Tensor perm = torch::randperm(n, order_gen_, torch::kLong);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t b = 0; b < batches; ++b) {
      torch::Tensor idx = perm.slice(0, b * bs, std::min(n, (b + 1) * bs));
      torch::Tensor x = data_.normalization(train.images.index_select(0, idx));
      x = Augment(x, train_.augment, augment_gen_);
      torch::Tensor y = train.labels.index_select(0, idx);
      const Step step = TrainStep(x, y, lr);
      CrashPoint("batch");
      const double l = step.loss;
      if (!std::isfinite(l)) {
        result.status = TrainResult::Status::kDiverged;
        result.message = "diverged at epoch " + std::to_string(epoch) + " (loss " +
                         std::to_string(l) + " at batch " + std::to_string(b) + ")";
        SetChannelsLast(false);
        return result;
      }
      const int64_t m = idx.size(0);
      loss_sum += l * m;
      seen += m;
      correct += step.logits.argmax(1).cpu().eq(y).sum().item<int64_t>();
      if (on_batch) {
        on_batch({epoch, b, batches, loss_sum / seen, seen / Since(t0)});
      }
    }
    const double train_seconds = Since(t0);
    std::string bad;
    if (!AllFinite(params_, &bad)) {
      result.status = TrainResult::Status::kDiverged;
      result.message =
          "diverged at epoch " + std::to_string(epoch) + " (non-finite weights in " + bad + ")";
      SetChannelsLast(false);
      return result;
    }
    EpochRecord r;
    r.epoch = epoch;
    r.train_loss = loss_sum / seen;
    r.train_acc = static_cast<double>(correct) / seen;
    std::optional<double> shared;
    if (options_.validate) {
      SetChannelsLast(false);
      model_->eval();
      space::FactorizeNet host = HostModel();
      shared = options_.validate(epoch, host);
      model_->train();
      SetChannelsLast(true);
    }
    r.val_acc = shared ? *shared : Evaluate(data_.validation);
    r.lr = lr;
    r.seconds = Since(t0);
    r.images_per_s = seen / train_seconds;
    result.records.push_back(r);
    result.epochs_done = epoch;
    const std::string ckpt = options_.checkpoint_for_epoch ? options_.checkpoint_for_epoch(epoch)
                                                           : options_.checkpoint_path;
    if (!ckpt.empty()) {
      TrainingState s;
      s.candidate_key = candidate_.key;
      s.epoch = epoch;
      s.records = result.records;
      for (size_t i = 0; i < params_.size(); ++i) {
        if (momentum_[i].defined()) s.momentum[params_[i].first] = momentum_[i];
      }
      s.order_rng = order_gen_.get_state();
      s.augment_rng = augment_gen_.get_state();
      SaveCheckpoint(ckpt, *model_, s);
      last_checkpoint_ = ckpt;
    }
    bool go_on = true;
    if (on_epoch) {
      SetChannelsLast(false);
      model_->eval();
      space::FactorizeNet host = HostModel();
      go_on = on_epoch(r, host);
      model_->train();
      SetChannelsLast(true);
    }
    if (!go_on || (stop && stop->load() && epoch < epochs_)) SetChannelsLast(false);
    if (!go_on) {
      result.status = TrainResult::Status::kStopped;
      result.message = "stopped by the caller after epoch " + std::to_string(epoch);
      return result;
    }
    if (stop && stop->load() && epoch < epochs_) {
      result.status = TrainResult::Status::kStopped;
      result.message = "stopped after epoch " + std::to_string(epoch);
      return result;
    }
  }
  SetChannelsLast(false);
  model_->eval();
  result.model = HostModel();
  result.status = TrainResult::Status::kCompleted;
  result.message = "completed " + std::to_string(epochs_) + " epochs";
  return result;
}

}  // namespace fnas::evaluators
