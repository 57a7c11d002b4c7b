#include "space/model.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <map>

#include "space/bn_relu.h"
#include "space/dense.h"

namespace fnas::space {

namespace {
// Child names inside a table layer's module.
std::pair<std::string, std::string> ChildNames(Op::Role role) {
  switch (role) {
    case Op::Role::kGroup:
      return {"group", "group_bn"};
    case Op::Role::kPoint:
      return {"point", "point_bn"};
    default:
      return {"conv", "bn"};
  }
}
// A value replaces the running maximum when it is greater or NaN, as in
// LibTorch's max-pool kernel (so NaN propagates and ties keep the first).
inline float TakeMax(float m, float v) { return (v > m || std::isnan(v)) ? v : m; }

}  // namespace

// LibTorch's NCHW max_pool2d also computes the index of every maximum (for
// its backward), which made the two pools a fifth of an evaluation's fp32
// pass; this loop is 10-30x faster and gives the same values.
torch::Tensor MaxPoolInference(const torch::Tensor& in, int kernel, int stride) {
  const torch::Tensor x = in.contiguous();
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = (H - kernel) / stride + 1, OW = (W - kernel) / stride + 1;
  torch::Tensor out = torch::empty({x.size(0), x.size(1), OH, OW}, x.options());
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t oy = 0; oy < OH; ++oy) {
        const float* r = src + (p * H + oy * stride) * W;
        float* d = dst + (p * OH + oy) * OW;
        if (kernel == 2 && stride == 2) {  // the macroarchitecture's pool, vectorized
          for (int64_t ox = 0; ox < OW; ++ox) {
            float m = r[2 * ox];
            m = TakeMax(m, r[2 * ox + 1]);
            m = TakeMax(m, r[W + 2 * ox]);
            d[ox] = TakeMax(m, r[W + 2 * ox + 1]);
          }
          continue;
        }
        for (int64_t ox = 0; ox < OW; ++ox) {
          float m = -std::numeric_limits<float>::infinity();
          for (int ky = 0; ky < kernel; ++ky) {
            for (int kx = 0; kx < kernel; ++kx) m = TakeMax(m, r[ky * W + ox * stride + kx]);
          }
          d[ox] = m;
        }
      }
    }
  });
  return out;
}

FactorizeNetImpl::FactorizeNetImpl(Plan plan) : plan_(std::move(plan)) {
  units_.resize(plan_.ops.size());
  std::map<std::string, std::shared_ptr<torch::nn::Module>> layers;
  for (size_t i = 0; i < plan_.ops.size(); ++i) {
    const Op& op = plan_.ops[i];
    Unit& u = units_[i];
    if (op.kind == Op::Kind::kConv) {
      auto& holder = layers[op.layer];
      if (!holder) {
        holder = std::make_shared<torch::nn::Module>();
        register_module(op.layer, holder);
      }
      auto [conv_name, bn_name] = ChildNames(op.role);
      u.conv = holder->register_module(
          conv_name, torch::nn::Conv2d(torch::nn::Conv2dOptions(op.in_c, op.out_c, op.kernel)
                                           .stride(op.stride)
                                           .padding(op.pad)
                                           .groups(op.groups)
                                           .bias(false)));
      u.bn = holder->register_module(
          bn_name, torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(op.out_c)
                                              .eps(plan_.macro.bn_eps)
                                              .momentum(plan_.macro.bn_momentum)));
    } else if (op.kind == Op::Kind::kDense) {
      u.linear = register_module(op.name, torch::nn::Linear(op.in_c, op.out_c));
    }
  }
}

torch::Tensor FactorizeNetImpl::Apply(size_t i, torch::Tensor x) {
  const Op& op = plan_.ops[i];
  Unit& u = units_[i];
  switch (op.kind) {
    case Op::Kind::kConv:
      x = u.conv->forward(x);
      if (channels_last_ && !x.is_contiguous(torch::MemoryFormat::ChannelsLast)) {
        x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      }
      if (fused_bn_relu_ && channels_last_ && FusedBnReluApplies(*u.bn, x)) {
        return BatchNormReluTrain(*u.bn, x, op.relu);
      }
      x = u.bn->forward(x);
      return op.relu ? torch::relu(x) : x;
    case Op::Kind::kMaxPool:
      if (!(torch::GradMode::is_enabled() && x.requires_grad()) && x.device().is_cpu() &&
          x.scalar_type() == torch::kFloat32 && x.dim() == 4 && x.size(2) >= op.kernel &&
          x.size(3) >= op.kernel) {
        return MaxPoolInference(x, op.kernel, op.stride);
      }
      return torch::max_pool2d(x, op.kernel, op.stride);
    case Op::Kind::kFlatten:
      return x.flatten(1);
    case Op::Kind::kDense:
      // oneDNN's GEMM (space/dense.h), not the reference BLAS of Debian's LibTorch.
      x = Dense(x, u.linear->weight, u.linear->bias);
      return op.relu ? torch::relu(x) : x;
  }
  return x;
}

torch::Tensor FactorizeNetImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < plan_.ops.size(); ++i) x = Apply(i, x);
  return x;
}

torch::Tensor FactorizeNetImpl::forward_observed(
    torch::Tensor x, const std::function<void(size_t, const torch::Tensor&)>& observe) {
  for (size_t i = 0; i < plan_.ops.size(); ++i) {
    x = Apply(i, x);
    observe(i, x);
  }
  return x;
}

}  // namespace fnas::space
