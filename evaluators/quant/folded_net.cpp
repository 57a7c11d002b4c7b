#include "evaluators/quant/folded_net.h"

#include <cmath>
#include <string>

#include "common/error.h"
#include "space/dense.h"

namespace fnas::evaluators {

using space::Op;

FoldedNet::FoldedNet(const space::Plan& plan, const std::vector<FloatLayer>& layers) : plan_(plan) {
  if (layers.size() != plan.ops.size()) {
    throw RuntimeError("FoldedNet: " + std::to_string(plan.ops.size()) + " ops but " +
                       std::to_string(layers.size()) + " layers");
  }
  torch::InferenceMode inference;
  // oneDNN's ReLU turns NaN into 0, LibTorch's keeps it: a net with a
  // non-finite parameter (diverged) runs on LibTorch's NCHW ops, so that its
  // NaN reaches the calibration's finiteness check and the logits.
  blocked_ = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn();
  for (const FloatLayer& f : layers) {
    for (const std::vector<float>* v : {&f.weight, &f.bias}) {
      for (float a : *v) blocked_ = blocked_ && std::isfinite(a);
    }
  }
  weights_.resize(plan.ops.size());
  biases_.resize(plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const Op& op = plan.ops[i];
    if (op.kind != Op::Kind::kConv && op.kind != Op::Kind::kDense) continue;
    const FloatLayer& f = layers[i];
    const int64_t in = op.kind == Op::Kind::kConv ? op.in_c / op.groups : op.in_c;
    const int64_t k = op.kind == Op::Kind::kConv ? op.kernel : 1;
    if (static_cast<int64_t>(f.weight.size()) != op.out_c * in * k * k ||
        static_cast<int64_t>(f.bias.size()) != op.out_c) {
      throw RuntimeError("FoldedNet: op " + op.name + " expects " +
                         std::to_string(op.out_c * in * k * k) + " weights and " +
                         std::to_string(op.out_c) + " biases, got " +
                         std::to_string(f.weight.size()) + " and " + std::to_string(f.bias.size()));
    }
    weights_[i] = op.kind == Op::Kind::kDense ? torch::tensor(f.weight).view({op.out_c, in})
                                              : torch::tensor(f.weight).view({op.out_c, in, k, k});

    biases_[i] = torch::tensor(f.bias);
  }
}

torch::Tensor FoldedNet::Forward(const torch::Tensor& images, const Observer& observe) const {
  torch::InferenceMode inference;
  // oneDNN's blocked layout from the first conv to the flatten: LibTorch's
  // conv2d on NCHW tensors reorders every conv's input into it and its output
  // back, which cost as much as the convolutions (DNNL_VERBOSE). Observed
  // outputs are reordered to NCHW for the observer only.
  const bool mkl = blocked_;
  torch::Tensor x = images.to(torch::kFloat32).contiguous();
  if (mkl) x = x.to_mkldnn();
  for (size_t i = 0; i < plan_.ops.size(); ++i) {
    const Op& op = plan_.ops[i];
    switch (op.kind) {
      case Op::Kind::kConv:
        x = mkl ? torch::mkldnn_convolution(x, weights_[i], biases_[i], {op.pad, op.pad},
                                            {op.stride, op.stride}, {1, 1}, op.groups)
                : torch::conv2d(x, weights_[i], biases_[i], op.stride, op.pad, 1, op.groups);
        if (op.relu) x.relu_();
        break;
      case Op::Kind::kMaxPool:
        x = x.is_mkldnn() || x.size(2) < op.kernel || x.size(3) < op.kernel
                ? torch::max_pool2d(x, op.kernel, op.stride)  // oneDNN's, or LibTorch's error
                : space::MaxPoolInference(x, op.kernel, op.stride);
        break;
      case Op::Kind::kFlatten:
        if (x.is_mkldnn()) x = x.to_dense();
        x = x.flatten(1);
        break;
      case Op::Kind::kDense: {
        x = space::Dense(x, weights_[i], biases_[i]);  // oneDNN's GEMM, as FactorizeNet
        if (op.relu) x.relu_();
        break;
      }
    }
    if (observe) observe(i, x.is_mkldnn() ? x.to_dense() : x);
  }
  return x.is_mkldnn() ? x.to_dense() : x;
}

}  // namespace fnas::evaluators
