#include "evaluators/quant/export_onnx.h"

#include <onnx/checker.h>

#include "common/error.h"
#include "evaluators/quant/onnx_builder.h"

namespace fnas::evaluators {

namespace {

using onnx_export::GraphBuilder;
using space::Op;
namespace o = ::onnx;

// Scale, zero point initializers of a uint8 tensor; refuses scale 0.
std::pair<std::string, std::string> QuantParams(GraphBuilder& g, const std::string& prefix,
                                                const QParams& q, const std::string& layer) {
  if (!(q.scale > 0.0f)) {
    throw RuntimeError("ONNX export: " + prefix + " of " + layer +
                       " has scale 0 (a zero-width range); ONNX's QLinear operators need a "
                       "positive scale");
  }
  return {g.FloatScalar(prefix + "_scale", q.scale),
          g.Uint8Scalar(prefix + "_zero_point", q.zero_point)};
}

}  // namespace

void ExportOnnxInteger(const IntegerNet& net, const ExportInfo& info, const std::string& path,
                       bool layer_outputs) {
  o::ModelProto model;
  onnx_export::StartModel(
      &model, info,
      "quint8 model of " + info.candidate +
          " in QOperator form: input float32 pixels "
          "0..255 [N,C,H,W], normalized, quantized; outputs the uint8 logits and their "
          "dequantized values (docs/deploy.md)");
  GraphBuilder g(&model, "factorize_nas_quint8");
  const std::string x = onnx_export::PixelsNormalized(g, info, net.layers().front().op);
  const auto [in_s, in_z] = QuantParams(g, "input", net.input(), "the input");
  std::string current = "input_uint8";
  g.Node("QuantizeLinear", "quantize_input", {x, in_s, in_z}, current);
  std::pair<std::string, std::string> cur_q = {in_s, in_z};
  bool as_columns = false;  // after flatten: [N, features, 1, 1]
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const IntegerLayer& L = net.layers()[i];
    const Op& op = L.op;
    const std::string name = op.name;
    const std::string out = name + "_out";
    switch (op.kind) {
      case Op::Kind::kConv:
      case Op::Kind::kDense: {
        const bool dense = op.kind == Op::Kind::kDense;
        const auto [w_s, w_z] = QuantParams(g, name + ".weight", L.weight, name);
        const auto [y_s, y_z] = QuantParams(g, name + ".output", L.output, name);
        const std::vector<int64_t> wdims =
            dense ? std::vector<int64_t>{op.out_c, op.in_c, 1, 1}
                  : std::vector<int64_t>{op.out_c, op.in_c / op.groups, op.kernel, op.kernel};
        const std::string w = g.Uint8(name + ".weight", L.weights, wdims);
        const std::string b = g.Int32(name + ".bias", L.bias, {op.out_c});
        const std::string conv_out = op.relu && L.output.zero_point != 0 ? name + "_acc" : out;
        o::NodeProto* n =
            g.Node("QLinearConv", name,
                   {current, cur_q.first, cur_q.second, w, w_s, w_z, y_s, y_z, b}, conv_out);
        if (dense) {
          GraphBuilder::Ints(n, "kernel_shape", {1, 1});
        } else {
          onnx_export::ConvAttributes(n, op);
        }
        if (conv_out != out) {
          // ReLU is the clamp at the output zero point; with zero point 0 the
          // uint8 saturation already does it.
          g.Node("Clip", name + ".relu", {conv_out, y_z}, out);
        }
        cur_q = {y_s, y_z};
        break;
      }
      case Op::Kind::kMaxPool:
        onnx_export::PoolAttributes(g.Node("MaxPool", name, {current}, out), op);
        break;
      case Op::Kind::kFlatten:
        // NCHW row-major, as torch.flatten; the dense layers run as 1x1 convs.
        g.Node("Reshape", name, {current, g.Int64(name + ".shape", {0, -1, 1, 1}, {4})}, out);
        as_columns = true;
        break;
    }
    current = out;
  }
  if (!as_columns) throw RuntimeError("ONNX export: the network has no flatten/dense head");
  g.Node("Flatten", "logits_flatten", {current}, "logits_uint8");
  g.Node("DequantizeLinear", "dequantize_logits", {"logits_uint8", cur_q.first, cur_q.second},
         "logits");
  onnx_export::IntegerOutputs(g, net, layer_outputs, /*dense_as_columns=*/true);
  onnx_export::WriteModel(model, path);
}

void ExportOnnxFloat(const space::Plan& plan, const std::vector<FloatOpParams>& params,
                     const ExportInfo& info, const std::string& path) {
  if (params.size() != plan.ops.size()) {
    throw RuntimeError("ONNX export: " + std::to_string(plan.ops.size()) + " ops but " +
                       std::to_string(params.size()) + " parameter sets");
  }
  o::ModelProto model;
  onnx_export::StartModel(&model, info,
                          "float32 model of " + info.candidate +
                              " with BatchNorm: input float32 pixels "
                              "0..255 [N,C,H,W], outputs the logits (docs/deploy.md)");
  GraphBuilder g(&model, "factorize_nas_fp32");
  std::string current = onnx_export::PixelsNormalized(g, info, plan.ops.front());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const Op& op = plan.ops[i];
    const FloatOpParams& p = params[i];
    const std::string name = op.name;
    std::string out = name + "_out";
    switch (op.kind) {
      case Op::Kind::kConv: {
        const std::string w = g.Float(name + ".weight", p.weight,
                                      {op.out_c, op.in_c / op.groups, op.kernel, op.kernel});
        o::NodeProto* n =
            p.bias.empty()
                ? g.Node("Conv", name, {current, w}, name + "_conv")
                : g.Node("Conv", name, {current, w, g.Float(name + ".bias", p.bias, {op.out_c})},
                         name + "_conv");
        onnx_export::ConvAttributes(n, op);
        out = name + "_conv";
        if (op.batchnorm) {
          o::NodeProto* bn = g.Node("BatchNormalization", name + ".bn",
                                    {out, g.Float(name + ".bn.weight", p.bn_gamma, {op.out_c}),
                                     g.Float(name + ".bn.bias", p.bn_beta, {op.out_c}),
                                     g.Float(name + ".bn.running_mean", p.bn_mean, {op.out_c}),
                                     g.Float(name + ".bn.running_var", p.bn_var, {op.out_c})},
                                    name + "_bn");
          GraphBuilder::Real(bn, "epsilon", static_cast<float>(p.bn_eps));
          out = name + "_bn";
        }
        break;
      }
      case Op::Kind::kDense: {
        o::NodeProto* n = g.Node("Gemm", name,
                                 {current, g.Float(name + ".weight", p.weight, {op.out_c, op.in_c}),
                                  g.Float(name + ".bias", p.bias, {op.out_c})},
                                 name + "_gemm");
        GraphBuilder::Int(n, "transB", 1);
        out = name + "_gemm";
        break;
      }
      case Op::Kind::kMaxPool:
        onnx_export::PoolAttributes(g.Node("MaxPool", name, {current}, out), op);
        break;
      case Op::Kind::kFlatten:
        GraphBuilder::Int(g.Node("Flatten", name, {current}, out), "axis", 1);
        break;
    }
    if (op.relu) {
      g.Node("Relu", name + ".relu", {out}, name + "_relu");
      out = name + "_relu";
    }
    current = out;
  }
  g.Node("Identity", "logits", {current}, "logits");
  g.Output("logits", o::TensorProto::FLOAT, {-1, plan.output_size});
  onnx_export::WriteModel(model, path);
}

void CheckOnnxModel(const std::string& path) {
  try {
    o::checker::check_model(path);
  } catch (const std::exception& e) {
    throw RuntimeError("ONNX checker refuses " + path + ": " + e.what());
  }
}

}  // namespace fnas::evaluators
