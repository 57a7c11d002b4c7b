// The trained net's fp32 inference with every BatchNorm folded into its conv
// (FoldNet's float weights: conv with the folded bias, then ReLU in place;
// dense layers as they are). It computes the eval-mode module's function up to
// float rounding (tests/evaluators/quant/folded_net_test.cpp bounds the
// difference) at a fraction of its cost: no BatchNorm pass, no autograd
// bookkeeping (torch::InferenceMode), the activations kept in oneDNN's blocked
// layout between convs (reordered to NCHW only for an observer). The quantized evaluation runs its
// fp32 passes on it (calibration, accuracy, reference logits, SQNR reference): the activations it
// calibrates on are those of the folded float graph, as TFLite's converter calibrates them.
//
// Holds its own tensors (copies of the folded weights); immutable once built,
// but like any LibTorch computation a Forward must not share its input
// tensor with another thread's in-place use.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "evaluators/quant/quant_net.h"
#include "space/model.h"
#include "space/plan.h"

namespace fnas::evaluators {

class FoldedNet {
 public:
  // `layers[i]`: the folded parameters of plan op i (FoldNet), empty for pool
  // and flatten. Throws RuntimeError when a size does not match the plan.
  FoldedNet(const space::Plan& plan, const std::vector<FloatLayer>& layers);

  // Normalized float images [N][C][H][W] -> logits [N][classes]; calls
  // `observe(op, output)` after every op of the plan (after ReLU), as
  // FactorizeNet::forward_observed does, when it is set.
  using Observer = std::function<void(size_t, const torch::Tensor&)>;
  torch::Tensor Forward(const torch::Tensor& images, const Observer& observe = nullptr) const;

  const space::Plan& plan() const { return plan_; }

 private:
  space::Plan plan_;
  std::vector<torch::Tensor> weights_, biases_;  // per op; undefined for pool / flatten
  bool blocked_ = false;  // oneDNN tensors between convs (every parameter finite)
};

}  // namespace fnas::evaluators
