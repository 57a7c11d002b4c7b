#include "evaluators/quant/float_params.h"

namespace fnas::evaluators {

namespace {

std::vector<float> Values(const torch::Tensor& t) {
  if (!t.defined()) return {};
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

std::vector<FloatOpParams> FloatNetParams(const space::FactorizeNet& net) {
  const space::Plan& plan = net->plan();
  std::vector<FloatOpParams> out(plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const auto& u = net->unit(i);
    FloatOpParams& p = out[i];
    if (u.conv) {
      p.weight = Values(u.conv->weight);
      p.bias = Values(u.conv->bias);
    }
    if (u.bn) {
      p.bn_gamma = Values(u.bn->weight);
      p.bn_beta = Values(u.bn->bias);
      p.bn_mean = Values(u.bn->running_mean);
      p.bn_var = Values(u.bn->running_var);
      p.bn_eps = u.bn->options.eps();
    }
    if (u.linear) {
      p.weight = Values(u.linear->weight);
      p.bias = Values(u.linear->bias);
    }
  }
  return out;
}

}  // namespace fnas::evaluators
