// The float parameters of a trained FactorizeNet, op by op, for the fp32
// ONNX export (evaluators/quant/export_onnx.h). Reads the torch module; call
// it from the thread that owns the model.
#pragma once

#include <vector>

#include "evaluators/quant/export_onnx.h"
#include "space/model.h"

namespace fnas::evaluators {

// One entry per plan op: conv weight (and bias if any) with its BatchNorm's
// running statistics, dense weight and bias; empty for pool and flatten.
std::vector<FloatOpParams> FloatNetParams(const space::FactorizeNet& net);

}  // namespace fnas::evaluators
