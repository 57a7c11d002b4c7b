#include "space/model.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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

bool MaxPoolTrainApplies(const torch::Tensor& x, int kernel, int stride) {
  return kernel >= 1 && kernel <= 15 && stride == kernel && x.defined() && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat32 && x.dim() == 4 && x.size(2) >= kernel &&
         x.size(3) >= kernel && x.numel() > 0 && x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

namespace {

// One window position over C channels: v replaces the running maximum o
// (and `at` its position p) where greater, or NaN.
inline void TakeAt(const float* __restrict v, int32_t at, float* __restrict o,
                   int32_t* __restrict p, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const bool take = v[c] > o[c] || std::isnan(v[c]);
    o[c] = take ? v[c] : o[c];
    p[c] = take ? at : p[c];
  }
}

// Over [N, H, W, C] data: out[n, oy, ox, c] and the window position
// (ky * k + kx) of its maximum, the first one (a later value replaces it only
// when greater, or NaN).
void PoolForward(const float* x, float* out, int32_t* pos, int64_t N, int64_t H, int64_t W,
                 int64_t C, int k) {
  const int64_t OH = H / k, OW = W / k;
  at::parallel_for(0, N * OH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / OH, oy = row % OH;
      for (int64_t ox = 0; ox < OW; ++ox) {
        float* o = out + (row * OW + ox) * C;
        int32_t* p = pos + (row * OW + ox) * C;
        for (int ky = 0; ky < k; ++ky) {
          for (int kx = 0; kx < k; ++kx) {
            const float* v = x + ((n * H + oy * k + ky) * W + ox * k + kx) * C;
            const int32_t at = ky * k + kx;
            if (at == 0) {
              std::copy(v, v + C, o);
              std::fill(p, p + C, 0);
              continue;
            }
            TakeAt(v, at, o, p, C);
          }
        }
      }
    }
  });
}

// One window position's gradient over C channels: dy where the maximum was
// at `at`, 0 elsewhere.
inline void PassAt(const float* __restrict dy, const int32_t* __restrict pos, int32_t at,
                   float* __restrict d, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const float g = dy[c];  // loaded unconditionally: the loop vectorizes
    d[c] = pos[c] == at ? g : 0.0f;
  }
}

// dx over [N, H, W, C]: dy where the window's maximum was, 0 elsewhere
// (rows and columns past the last whole window included).
void PoolBackward(const float* dy, const int32_t* pos, float* dx, int64_t N, int64_t H, int64_t W,
                  int64_t C, int k) {
  const int64_t OH = H / k, OW = W / k;
  at::parallel_for(0, N * H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / H, y = row % H, oy = y / k, ky = y % k;
      float* d = dx + row * W * C;
      if (oy >= OH) {
        std::fill(d, d + W * C, 0.0f);
        continue;
      }
      const int64_t o = (n * OH + oy) * OW * C;
      for (int64_t ox = 0; ox < OW; ++ox) {
        for (int kx = 0; kx < k; ++kx, d += C) {
          PassAt(dy + o + ox * C, pos + o + ox * C, static_cast<int32_t>(ky * k + kx), d, C);
        }
      }
      std::fill(d, d + (W - OW * k) * C, 0.0f);
    }
  });
}

class MaxPoolFunction : public torch::autograd::Function<MaxPoolFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               int64_t kernel) {
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int k = static_cast<int>(kernel);
    torch::Tensor out =
        torch::empty({N, C, H / k, W / k}, x.options(), torch::MemoryFormat::ChannelsLast);
    torch::Tensor pos = torch::empty({N, H / k, W / k, C}, x.options().dtype(torch::kInt32));
    PoolForward(x.data_ptr<float>(), out.data_ptr<float>(), pos.data_ptr<int32_t>(), N, H, W, C, k);
    ctx->saved_data["pos"] = pos;
    ctx->saved_data["kernel"] = kernel;
    ctx->saved_data["shape"] = x.sizes();
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor pos = ctx->saved_data["pos"].toTensor();
    const auto shape = ctx->saved_data["shape"].toIntVector();
    const int k = static_cast<int>(ctx->saved_data["kernel"].toInt());
    const torch::Tensor dy = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor dx = torch::empty(shape, dy.options(), torch::MemoryFormat::ChannelsLast);
    PoolBackward(dy.data_ptr<float>(), pos.data_ptr<int32_t>(), dx.data_ptr<float>(), shape[0],
                 shape[2], shape[3], shape[1], k);
    return {dx, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor MaxPoolTrain(const torch::Tensor& x, int kernel) {
  TORCH_CHECK(MaxPoolTrainApplies(x, kernel, kernel),
              "MaxPoolTrain: needs a channels-last float CPU input of at least ", kernel, "x",
              kernel, "; got ", x.sizes());
  return MaxPoolFunction::apply(x, static_cast<int64_t>(kernel));
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
      if (torch::GradMode::is_enabled() && x.requires_grad() &&
          MaxPoolTrainApplies(x, op.kernel, op.stride)) {
        return MaxPoolTrain(x, op.kernel);
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
