// AnalyseModel on a loaded Dataset: kept apart from analysis.cpp so that the
// quantization code links without the dataset loader.
#include "evaluators/quant/analysis.h"

namespace fnas::evaluators {

QuantReport AnalyseModel(space::FactorizeNet& net, const Dataset& data, const Split& split,
                         const QuantOptions& options, uint64_t seed) {
  const Normalizer normalize = [&data](const torch::Tensor& u8) { return data.Normalize(u8); };
  return AnalyseModel(net, data.train, split, normalize, options, seed);
}

}  // namespace fnas::evaluators
