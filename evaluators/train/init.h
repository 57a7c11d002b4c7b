// Weight initializers of thesis ch. 4 (Eqs. 4.6-4.10, Table 4.1) for the
// conv layers of a FactorizeNet. The stem and the dense layers always get
// glorot_uniform (dense biases 0), as in the thesis; BatchNorm keeps gamma 1,
// beta 0. Fans follow the weight tensor [out, in / groups, k, k], as in
// Keras and PyTorch: fan_in = (in / groups) k^2, fan_out = out k^2.
// Free functions; the generator is the caller's (not thread-safe to share).
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "evaluators/options.h"
#include "space/model.h"

namespace fnas::evaluators {

// The sampling distribution of one layer: U(-bound, bound) or N(0, stddev^2).
struct InitDistribution {
  bool uniform = true;
  double bound = 0;   // uniform: half-width
  double stddev = 0;  // normal
};

// glorot_uniform: bound sqrt(6 / (fan_in + fan_out));  glorot_normal: stddev
// sqrt(2 / (fan_in + fan_out)); he_uniform: bound sqrt(6 / fan_in); he_normal:
// stddev sqrt(2 / fan_in); rand_uniform: bound = scale; rand_normal: stddev =
// scale; mod_glorot_uniform: bound sqrt(scale / (fan_in + fan_out)) (C = scale;
// C = 6 is glorot_uniform). Throws ConfigError for an unknown name.
InitDistribution InitFor(const InitOptions& init, int64_t fan_in, int64_t fan_out);

// Fills `weight` (in place, no grad) from `dist` with `gen`.
void FillWeight(torch::Tensor weight, const InitDistribution& dist, at::Generator& gen);

// Initializes every layer of `model`: convs but the stem with `conv_init`.
void InitializeModel(space::FactorizeNetImpl& model, const InitOptions& conv_init,
                     at::Generator& gen);

}  // namespace fnas::evaluators
