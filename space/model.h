// The LibTorch module of a candidate, built from its Plan. Submodules are
// named after the table of docs/method.md §1: "stem", "conv_64_1" (children "conv",
// "bn"; or "group", "group_bn", "point", "point_bn" when factorized), ...,
// "dense_1", ... so statistics can be reported per layer and checkpoints read
// by name. Like every torch module it is not thread-safe; each trial owns one.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "space/plan.h"

namespace fnas::space {

class FactorizeNetImpl : public torch::nn::Module {
 public:
  explicit FactorizeNetImpl(Plan plan);

  torch::Tensor forward(torch::Tensor x);
  // Forward that calls `observe(op_index, output)` after every op of the plan
  // (after BN and ReLU for convs, after ReLU for dense layers), e.g. for
  // activation calibration and layerwise statistics.
  torch::Tensor forward_observed(torch::Tensor x,
                                 const std::function<void(size_t, const torch::Tensor&)>& observe);

  const Plan& plan() const { return plan_; }

  // The modules behind op i of the plan (null where the op has none).
  struct Unit {
    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    torch::nn::Linear linear{nullptr};
  };
  const Unit& unit(size_t op) const { return units_.at(op); }

  // Whether the conv weights are channels-last (the trainer's layout): every
  // conv output is then made channels-last too. LibTorch cannot tell the
  // layout of a one-channel input or of a depthwise weight ([C, 1, k, k]) and
  // would otherwise keep the stem's output, and a depthwise net's every
  // activation, in NCHW (slower BN, pools and convs).
  void set_channels_last(bool on) { channels_last_ = on; }

  // Whether a training forward of a channels-last model runs each conv's
  // BatchNorm and the ReLU after it as one fused kernel (space/bn_relu.h) on
  // the same BatchNorm2d parameters and buffers. On by default; eval mode and
  // NCHW activations always take torch::nn::BatchNorm2d.
  void set_fused_bn_relu(bool on) { fused_bn_relu_ = on; }
  bool fused_bn_relu() const { return fused_bn_relu_; }

  // Op i of the plan on x (conv + BN + ReLU for a conv op).
  torch::Tensor Apply(size_t i, torch::Tensor x);

 private:
  Plan plan_;
  std::vector<Unit> units_;
  bool channels_last_ = false;
  bool fused_bn_relu_ = true;
};
TORCH_MODULE(FactorizeNet);

// Max-pool without padding of a float NCHW tensor for inference, without
// autograd (no indices): the values of torch::max_pool2d, NaN included.
torch::Tensor MaxPoolInference(const torch::Tensor& x, int kernel, int stride);

// Whether MaxPoolTrain takes x: a 4-d float CPU tensor, contiguous in
// channels-last memory format, at least kernel x kernel, and stride == kernel
// (windows that do not overlap).
bool MaxPoolTrainApplies(const torch::Tensor& x, int kernel, int stride);

// Max-pool for training (autograd) under MaxPoolTrainApplies: the values and
// the gradient of torch::max_pool2d(x, kernel, kernel) (the gradient goes to
// the first maximum of a window; NaN propagates), channels-last out. It keeps
// an int32 window position per output rather than LibTorch's int64 index,
// and its backward writes every input gradient in one pass (LibTorch zero
// fills, then scatters).
torch::Tensor MaxPoolTrain(const torch::Tensor& x, int kernel);

}  // namespace fnas::space
