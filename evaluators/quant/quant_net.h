// The integer (quint8) network of one candidate: uint8 activations and
// weights, int32 biases and accumulation, requantization by TFLite's
// fixed-point multiplier, ReLU as a clamp at the output zero point, max-pool
// on uint8. Built from a space::Plan, BN-folded float weights and calibrated
// activation parameters. An IntegerNet is immutable once built: Run may be
// called from several threads at once (it parallelizes over the batch with
// oneTBB inside the caller's arena).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evaluators/quant/quant.h"
#include "space/plan.h"

namespace fnas::evaluators {

// Float parameters of one conv (BN folded) or dense op: weight laid out
// [out][in / groups][k][k] (conv) or [out][in] (dense), bias [out].
struct FloatLayer {
  std::vector<float> weight;
  std::vector<float> bias;
};

// One op of the integer network (same order and shapes as the plan).
struct IntegerLayer {
  space::Op op;
  QParams input, output;         // pool/flatten: output = input
  QParams weight;                // conv/dense only
  std::vector<uint8_t> weights;  // conv/dense: layout of FloatLayer::weight
  std::vector<int32_t> bias;     // conv/dense: scale BiasScale(input, weight)
  double real_multiplier = 0;    // RequantMultiplier(input, weight, output)
  int32_t multiplier = 0;        // QuantizeMultiplier(real_multiplier)
  int shift = 0;
  int32_t act_min = 0, act_max = 255;  // act_min = output zero point after ReLU

  int64_t in_size() const { return int64_t{op.in_c} * op.in_h * op.in_w; }
  int64_t out_size() const { return int64_t{op.out_c} * op.out_h * op.out_w; }
  bool has_weights() const {
    return op.kind == space::Op::Kind::kConv || op.kind == space::Op::Kind::kDense;
  }
};

class IntegerNet {
 public:
  IntegerNet() = default;
  // `layers[i]` holds the folded parameters of plan op i (empty for pool and
  // flatten); `outputs[i]` the calibrated output parameters of op i (ignored
  // for pool and flatten, which keep their input's); `input` those of the
  // normalized image. Throws RuntimeError when a shape does not match.
  IntegerNet(const space::Plan& plan, const QParams& input, const std::vector<FloatLayer>& layers,
             const std::vector<QParams>& outputs);
  // From already quantized layers (e.g. read back from an export).
  IntegerNet(const QParams& input, std::vector<IntegerLayer> layers);

  const QParams& input() const { return input_; }
  const std::vector<IntegerLayer>& layers() const { return layers_; }
  const QParams& output() const { return layers_.back().output; }
  int64_t input_size() const { return layers_.front().in_size(); }
  int64_t output_size() const { return layers_.back().out_size(); }

  // Normalized float images [n][C][H][W] -> uint8 with the input parameters.
  std::vector<uint8_t> QuantizeInput(const float* images, int64_t n) const;

  // Per-op uint8 outputs of a batch, for layerwise statistics: trace[i] is
  // [batch][out_size] for conv and dense ops, empty for the others.
  using Trace = std::vector<std::vector<uint8_t>>;
  // Runs `batch` quantized images [batch][input_size]; returns the uint8
  // logits [batch][output_size].
  std::vector<uint8_t> Run(const uint8_t* images, int64_t batch, Trace* trace = nullptr) const;
  // Dequantized logits.
  std::vector<float> Dequantize(const std::vector<uint8_t>& logits) const;

  // Use the portable kernels even where AVX-512 VNNI is available (tests
  // compare the two).
  void set_portable(bool portable) { portable_ = portable; }
  // Whether Run uses the AVX-512 VNNI kernel on this machine.
  bool uses_vnni() const;

 private:
  void Prepare();  // int16 weight copies for the GEMM
  void RunOne(const uint8_t* image, uint8_t* logits, Trace* trace, int64_t index,
              struct Scratch& scratch) const;

  QParams input_;
  std::vector<IntegerLayer> layers_;
  // Per conv/dense layer: (q_w - z_w) as int16, conv rows padded to an even
  // length [out][k_pad] so that pairs feed the int16 dot product.
  std::vector<std::vector<int16_t>> wq_;
  std::vector<int> kpad_;
  // Stride-1 convs with an even number of input channels per group: weights
  // as channel pairs [out][in_per_group / 2][k * k] for the direct kernel.
  std::vector<std::vector<int32_t>> wpair_;
  // Stride-1 convs with a multiple of 4 input channels per group: weights as
  // int8 quads (q_w - 128, four channels per int32) [out][in_per_group / 4][k * k]
  // for the u8 x s8 direct kernel, and the bias with the zero-point terms that
  // do not depend on the input: b - z_in * sum_k (q_w - z_w).
  std::vector<std::vector<int32_t>> wquad_;
  std::vector<std::vector<int32_t>> qbias_;
  // Depthwise stride-1 convs: per channel, per kernel row, pairs of
  // horizontally adjacent taps (the last one paired with 0 for odd k).
  std::vector<std::vector<int32_t>> wdw_;
  bool portable_ = false;
};

}  // namespace fnas::evaluators
