// The quint8 net in exact integer ONNX operators (export --format onnx-exact).
// Every step is an operation whose result ONNX specifies exactly for integers
// (ConvInteger, MatMulInteger, int32/int64 Add/Sub/Mul, Mod with fmod = 0,
// Less/Greater/Where, Clip, Cast, MaxPool and Flatten on uint8), and every
// integer Div divides an exact multiple, so no runtime's choice of rounding
// enters: the uint8 outputs are our integer path's (and TFLite's) bit for bit.
#include <string>
#include <utility>

#include "common/error.h"
#include "evaluators/quant/export_onnx.h"
#include "evaluators/quant/onnx_builder.h"

namespace fnas::evaluators {

namespace {

using onnx_export::GraphBuilder;
using space::Op;
namespace o = ::onnx;

constexpr int64_t kTwo30 = int64_t{1} << 30;
constexpr int64_t kTwo31 = int64_t{1} << 31;

// Adds the nodes of one layer, each named and producing "<prefix>.<step>".
class Steps {
 public:
  Steps(GraphBuilder& g, std::string prefix) : g_(g), prefix_(std::move(prefix)) {}
  std::string operator()(const std::string& type, const std::string& step,
                         std::initializer_list<std::string> inputs) {
    const std::string name = prefix_ + "." + step;
    g_.Node(type, name, inputs, name);
    return name;
  }
  std::string Cast(const std::string& step, const std::string& input, int32_t to) {
    const std::string name = prefix_ + "." + step;
    GraphBuilder::Int(g_.Node("Cast", name, {input}, name), "to", to);
    return name;
  }
  // x - Mod(x, d) divided by d: floor(x / d) for d > 0 (Mod with fmod = 0
  // takes the divisor's sign, so the remainder is in [0, d) and the division
  // is exact).
  std::string FloorDiv(const std::string& step, const std::string& x, int64_t d,
                       std::string* remainder = nullptr) {
    const std::string rem = (*this)("Mod", step + "_mod", {x, g_.Const64(d)});
    if (remainder) *remainder = rem;
    const std::string multiple = (*this)("Sub", step + "_multiple", {x, rem});
    return (*this)("Div", step, {multiple, g_.Const64(d)});
  }
  GraphBuilder& g() { return g_; }

 private:
  GraphBuilder& g_;
  std::string prefix_;
};

// int32 accumulators `acc` -> uint8 `out` = clamp(MultiplyByQuantizedMultiplier(
// acc, multiplier, shift) + zero_point, lo, hi), TFLite's default
// (double-rounding) build step by step in int64:
//   x = acc * 2^left, wrapped to int32 as the C++ path does;
//   SaturatingRoundingDoublingHighMul(x, multiplier) = trunc((x*m + nudge) / 2^31)
//     with nudge 2^30 for x*m >= 0 and 1 - 2^30 below. For x*m < 0 the sum is
//     negative and truncation is ceil: ceil(s / 2^31) = floor((s + 2^31 - 1) / 2^31),
//     and 1 - 2^30 + 2^31 - 1 = 2^30, so both signs are floor((x*m + 2^30) / 2^31).
//     The saturating case (both operands INT32_MIN) cannot occur: m >= 0.
//   RoundingDivideByPOT(h, right): mask = 2^right - 1, remainder = h & mask
//     (= Mod(h, 2^right)), threshold = (mask >> 1) + (h < 0),
//     result = (h >> right) + (remainder > threshold).
void Requantize(Steps& s, const std::string& acc, int32_t multiplier, int shift, int32_t zp,
                int32_t lo, int32_t hi, const std::string& out) {
  if (multiplier < 0) {
    throw RuntimeError("ONNX export: negative requantization multiplier " +
                       std::to_string(multiplier));
  }
  GraphBuilder& g = s.g();
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  std::string x = s.Cast("acc64", acc, o::TensorProto::INT64);
  if (left > 0) {
    const std::string shifted = s("Mul", "shift_left", {x, g.Const64(int64_t{1} << left)});
    // ((x + 2^31) mod 2^32) - 2^31: the int32 value of x's low 32 bits.
    const std::string offset = s("Add", "wrap_offset", {shifted, g.Const64(kTwo31)});
    const std::string low = s("Mod", "wrap_mod", {offset, g.Const64(2 * kTwo31)});
    x = s("Sub", "wrap", {low, g.Const64(kTwo31)});
  }
  const std::string product = s("Mul", "times_multiplier", {x, g.Const64(multiplier)});
  const std::string nudged = s("Add", "nudge", {product, g.Const64(kTwo30)});
  std::string h = s.FloorDiv("high_mul", nudged, kTwo31);
  if (right > 0) {
    std::string remainder;
    const std::string floor = s.FloorDiv("shift_right", h, int64_t{1} << right, &remainder);
    const int64_t half_mask = ((int64_t{1} << right) - 1) >> 1;
    const std::string negative = s("Less", "negative", {h, g.Const64(0)});
    const std::string threshold =
        s("Where", "threshold", {negative, g.Const64(half_mask + 1), g.Const64(half_mask)});
    const std::string up =
        s.Cast("round_up", s("Greater", "above", {remainder, threshold}), o::TensorProto::INT64);
    h = s("Add", "rounded", {floor, up});
  }
  const std::string with_zp = s("Add", "zero_point", {h, g.Const64(zp)});
  const std::string clamped = s("Clip", "clamp", {with_zp, g.Const64(lo), g.Const64(hi)});
  GraphBuilder::Int(g.Node("Cast", out, {clamped}, out), "to", o::TensorProto::UINT8);
}

// Normalized float32 -> uint8 as TFLite's AffineQuantize (QuantizeValue):
// clamp(round_half_away(x / scale) + zp, 0, 255) with x / scale in float32.
// ONNX's Round goes to even on ties, so ties (fraction exactly 0.5) take
// v + sign(v) / 2 instead; both are exact in float32.
std::string QuantizeInput(GraphBuilder& g, const std::string& x, const QParams& q,
                          const std::string& out = "input_uint8") {
  if (!(q.scale > 0.0f)) {
    throw RuntimeError(
        "ONNX export: the input has scale 0 (every calibration image is 0 after "
        "normalization); the exact graph needs a positive input scale");
  }
  Steps s(g, "quantize_input");
  const std::string v = s("Div", "scaled", {x, g.FloatScalar("input_scale", q.scale)});
  const std::string fraction = s("Sub", "fraction", {v, s("Floor", "floor", {v})});
  const std::string tie = s("Equal", "tie", {fraction, g.ConstFloat(0.5f)});
  const std::string away =
      s("Add", "away", {v, s("Mul", "half_sign", {s("Sign", "sign", {v}), g.ConstFloat(0.5f)})});
  const std::string rounded = s("Where", "rounded", {tie, away, s("Round", "even", {v})});
  const std::string shifted =
      s("Add", "zero_point", {rounded, g.ConstFloat(static_cast<float>(q.zero_point))});
  const std::string clamped =
      s("Clip", "clamp", {shifted, g.ConstFloat(0.0f), g.ConstFloat(255.0f)});
  GraphBuilder::Int(g.Node("Cast", out, {clamped}, out), "to", o::TensorProto::UINT8);
  return out;
}

}  // namespace

void ExportOnnxExact(const IntegerNet& net, const ExportInfo& info, const std::string& path,
                     bool layer_outputs) {
  o::ModelProto model;
  onnx_export::StartModel(
      &model, info,
      "quint8 model of " + info.candidate +
          " in exact integer operators (ConvInteger, MatMulInteger, TFLite's fixed-point "
          "requantization in int64): input float32 pixels 0..255 [N,C,H,W]; outputs the uint8 "
          "logits, bit-exact with factorize-nas's integer path, and their dequantized values "
          "(docs/deploy.md)");
  GraphBuilder g(&model, "factorize_nas_quint8_exact");
  std::string current = QuantizeInput(
      g, onnx_export::PixelsNormalized(g, info, net.layers().front().op), net.input());
  bool flat = false;
  for (const IntegerLayer& L : net.layers()) {
    const Op& op = L.op;
    const std::string name = op.name;
    const std::string out = name + "_out";
    switch (op.kind) {
      case Op::Kind::kConv:
      case Op::Kind::kDense: {
        const bool dense = op.kind == Op::Kind::kDense;
        if (dense != flat) {
          throw RuntimeError(
              "ONNX export: " + name +
              (dense ? " is a dense layer before the flatten" : " is a conv after the flatten"));
        }
        Steps s(g, name);
        const std::string x_zp = g.Uint8Scalar(name + ".input_zero_point", L.input.zero_point);
        const std::string w_zp = g.Uint8Scalar(name + ".weight_zero_point", L.weight.zero_point);
        std::string acc;
        if (dense) {
          // MatMulInteger takes B as [in][out]: our [out][in] transposed.
          std::vector<uint8_t> wt(L.weights.size());
          for (int o = 0; o < op.out_c; ++o) {
            for (int i = 0; i < op.in_c; ++i)
              wt[int64_t{i} * op.out_c + o] = L.weights[int64_t{o} * op.in_c + i];
          }
          const std::string w = g.Uint8(name + ".weight_t", wt, {op.in_c, op.out_c});
          const std::string y = s("MatMulInteger", "matmul", {current, w, x_zp, w_zp});
          acc = s("Add", "acc", {y, g.Int32(name + ".bias", L.bias, {op.out_c})});
        } else {
          const std::string w = g.Uint8(name + ".weight", L.weights,
                                        {op.out_c, op.in_c / op.groups, op.kernel, op.kernel});
          const std::string conv = name + ".conv";
          onnx_export::ConvAttributes(g.Node("ConvInteger", conv, {current, w, x_zp, w_zp}, conv),
                                      op);
          acc = s("Add", "acc", {conv, g.Int32(name + ".bias", L.bias, {op.out_c, 1, 1})});
        }
        Requantize(s, acc, L.multiplier, L.shift, L.output.zero_point, L.act_min, L.act_max, out);
        break;
      }
      case Op::Kind::kMaxPool:
        onnx_export::PoolAttributes(g.Node("MaxPool", name, {current}, out), op);
        break;
      case Op::Kind::kFlatten:
        // NCHW row-major, as torch.flatten and our integer path.
        GraphBuilder::Int(g.Node("Flatten", name, {current}, out), "axis", 1);
        flat = true;
        break;
    }
    current = out;
  }
  if (!flat) throw RuntimeError("ONNX export: the network has no flatten/dense head");
  g.Node("Identity", "logits_codes", {current}, "logits_uint8");
  const QParams& y = net.output();
  g.Node("DequantizeLinear", "dequantize_logits",
         {"logits_uint8", g.FloatScalar("logits_scale", y.scale),
          g.Uint8Scalar("logits_zero_point", y.zero_point)},
         "logits");
  onnx_export::IntegerOutputs(g, net, layer_outputs, /*dense_as_columns=*/false);
  onnx_export::WriteModel(model, path);
}

void ExportOnnxRequantization(int32_t multiplier, int shift, int32_t zero_point, int32_t lo,
                              int32_t hi, const std::string& path) {
  o::ModelProto model;
  onnx_export::StartModel(&model, {},
                          "one requantization of the onnx-exact graph: int32 acc -> uint8 out");
  GraphBuilder g(&model, "requantization");
  g.Input("acc", o::TensorProto::INT32, {-1});
  Steps s(g, "requant");
  Requantize(s, "acc", multiplier, shift, zero_point, lo, hi, "out");
  g.Output("out", o::TensorProto::UINT8, {-1});
  onnx_export::WriteModel(model, path);
}

void ExportOnnxInputQuantization(const QParams& q, const std::string& path) {
  o::ModelProto model;
  onnx_export::StartModel(&model, {},
                          "the onnx-exact graph's input quantization: float x -> uint8 out");
  GraphBuilder g(&model, "input_quantization");
  g.Input("x", o::TensorProto::FLOAT, {-1});
  QuantizeInput(g, "x", q, "out");
  g.Output("out", o::TensorProto::UINT8, {-1});
  onnx_export::WriteModel(model, path);
}

}  // namespace fnas::evaluators
