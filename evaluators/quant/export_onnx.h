// ONNX exports of a candidate (docs/deploy.md), written with the ONNX
// library's protobuf classes (Debian's libonnx-dev):
// - the quint8 integer net in ONNX's QOperator form: QuantizeLinear ->
//   QLinearConv (uint8 weights, int32 bias) for every conv and group conv ->
//   MaxPool on uint8 -> Reshape to [N, C*H*W, 1, 1] -> each dense layer as a
//   1x1 QLinearConv -> outputs "logits_uint8" (the codes) and "logits"
//   (DequantizeLinear); the interchange form, but runtimes requantize it
//   their own way (ONNX Runtime: one float multiply, round half to even);
// - the same net in exact integer operators ("onnx-exact"): ConvInteger /
//   MatMulInteger with zero points, int32 bias, and TFLite's fixed-point
//   requantization written out in int64 Mul/Add/Div/Mod/Where, so that any
//   runtime implementing ONNX's integer semantics computes our integer path's
//   (and TFLite's) uint8 values bit for bit;
// - the trained float model: Conv -> BatchNormalization -> Relu, MaxPool,
//   Flatten, Gemm.
// Both take "pixels", float32 [N][C][H][W] raw pixel values 0..255, and apply
// the dataset's normalization (p / 255 - mean) / std as Div/Sub/Div nodes,
// the float32 operations of the training code in the same order. Opset 13.
// Free functions, thread-safe for distinct paths.
#pragma once

#include <string>
#include <vector>

#include "evaluators/quant/export.h"
#include "evaluators/quant/quant_net.h"
#include "space/plan.h"

namespace fnas::evaluators {

// The float parameters of one plan op for the fp32 export: conv weight
// [out][in / groups][k][k] and optional bias, its BatchNorm (running
// statistics), or dense weight [out][in] and bias. Empty for pool/flatten.
struct FloatOpParams {
  std::vector<float> weight, bias;
  std::vector<float> bn_gamma, bn_beta, bn_mean, bn_var;  // conv with BatchNorm
  double bn_eps = 1e-5;
};

constexpr int kOnnxOpset = 13;

// Writes the QOperator model of `net` to `path`. With `layer_outputs`, every
// layer's uint8 output ("input_uint8", "<op name>_out") is a graph output too,
// to compare runtimes layer by layer. Throws RuntimeError naming the path on
// I/O failure, and naming the layer when a scale is 0 (a zero-width range,
// which ONNX's QLinear operators cannot express).
void ExportOnnxInteger(const IntegerNet& net, const ExportInfo& info, const std::string& path,
                       bool layer_outputs = false);

// Writes the exact integer-operator model of `net` to `path` (outputs and
// `layer_outputs` as ExportOnnxInteger; docs/deploy.md shows the graph of
// one layer). Zero scales are exact here (multiplier 0), except the input's:
// throws RuntimeError when the input scale is 0, and naming the path on I/O
// failure.
void ExportOnnxExact(const IntegerNet& net, const ExportInfo& info, const std::string& path,
                     bool layer_outputs = false);

// Writes a model of one requantization, the subgraph ExportOnnxExact gives
// every conv and dense layer: input "acc" int32 [N] (accumulators with bias)
// -> output "out" uint8 [N] = clamp(MultiplyByQuantizedMultiplier(acc,
// multiplier, shift) + zero_point, lo, hi). For tests that run it in a
// runtime against the C++ function. Throws RuntimeError when multiplier < 0.
void ExportOnnxRequantization(int32_t multiplier, int shift, int32_t zero_point, int32_t lo,
                              int32_t hi, const std::string& path);

// Writes a model of the exact graph's input quantization: input "x" float32
// [N] (normalized values) -> output "out" uint8 [N] = QuantizeValue(x, q).
// For tests; throws RuntimeError when q.scale is 0.
void ExportOnnxInputQuantization(const QParams& q, const std::string& path);

// Writes the float model of `plan` with the parameters of each op to `path`.
void ExportOnnxFloat(const space::Plan& plan, const std::vector<FloatOpParams>& params,
                     const ExportInfo& info, const std::string& path);

// Runs the ONNX library's checker (onnx::checker::check_model) on a written
// file; throws RuntimeError with its message.
void CheckOnnxModel(const std::string& path);

}  // namespace fnas::evaluators
