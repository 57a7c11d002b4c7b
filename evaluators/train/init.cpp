#include "evaluators/train/init.h"

#include <cmath>

#include "common/error.h"

namespace fnas::evaluators {

InitDistribution InitFor(const InitOptions& init, int64_t fan_in, int64_t fan_out) {
  const double in = static_cast<double>(fan_in), sum = static_cast<double>(fan_in + fan_out);
  InitDistribution d;
  const std::string& n = init.name;
  if (n == "glorot_uniform") {
    d.bound = std::sqrt(6.0 / sum);
  } else if (n == "glorot_normal") {
    d.uniform = false;
    d.stddev = std::sqrt(2.0 / sum);
  } else if (n == "he_uniform") {
    d.bound = std::sqrt(6.0 / in);
  } else if (n == "he_normal") {
    d.uniform = false;
    d.stddev = std::sqrt(2.0 / in);
  } else if (n == "rand_uniform") {
    d.bound = init.scale;
  } else if (n == "rand_normal") {
    d.uniform = false;
    d.stddev = init.scale;
  } else if (n == "mod_glorot_uniform") {
    d.bound = std::sqrt(init.scale / sum);
  } else {
    throw ConfigError("training.init = '" + n + "': unknown initializer");
  }
  return d;
}

void FillWeight(torch::Tensor weight, const InitDistribution& dist, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  if (dist.uniform) {
    weight.uniform_(-dist.bound, dist.bound, gen);
  } else {
    weight.normal_(0.0, dist.stddev, gen);
  }
}

void InitializeModel(space::FactorizeNetImpl& model, const InitOptions& conv_init,
                     at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const InitOptions glorot;  // glorot_uniform
  const space::Plan& plan = model.plan();
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const space::Op& op = plan.ops[i];
    const auto& u = model.unit(i);
    if (op.kind == space::Op::Kind::kConv) {
      const int64_t k2 = static_cast<int64_t>(op.kernel) * op.kernel;
      const int64_t fan_in = k2 * (op.in_c / op.groups), fan_out = k2 * op.out_c;
      const InitOptions& init = op.role == space::Op::Role::kStem ? glorot : conv_init;
      FillWeight(u.conv->weight, InitFor(init, fan_in, fan_out), gen);
      if (u.bn) {
        u.bn->weight.fill_(1.0);
        u.bn->bias.zero_();
        u.bn->running_mean.zero_();
        u.bn->running_var.fill_(1.0);
      }
    } else if (op.kind == space::Op::Kind::kDense) {
      FillWeight(u.linear->weight, InitFor(glorot, op.in_c, op.out_c), gen);
      u.linear->bias.zero_();
    }
  }
}

}  // namespace fnas::evaluators
