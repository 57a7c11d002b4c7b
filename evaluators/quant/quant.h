// quint8 post-training quantization primitives, faithful to TensorFlow 1.x /
// TFLite uint8 (per-tensor, asymmetric): quantization parameters with nudging,
// the fixed-point requantization of TFLite's reference kernels, percentile
// clipping and the statistics of the layerwise analysis. Pure functions and
// value types, no global state: safe to call from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "evaluators/records.h"

namespace fnas::evaluators {

// Scale and zero point of one uint8 tensor: real = scale * (q - zero_point).
// The scale is float32 as in a TFLite flatbuffer, so every product and
// quotient below rounds where TFLite's does. min/max are the nudged range:
// (0 - zp) * scale and (255 - zp) * scale.
struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  double min = 0, max = 255;
};

// Range -> parameters as TFLite's ChooseQuantizationParams<uint8_t>
// (tensorflow/lite/kernels/internal/quantization_util.h): widen [min, max] to
// include 0, scale = (max - min) / 255 in double, zero point from whichever of
// (min, 0) and (max, 255) adds the smaller terms, rounded half away from zero
// and clamped to [0, 255]; the scale is then stored as float32. A range of
// zero width (min = max = 0 after widening) gives scale 0, zero point 0.
// Throws RuntimeError on a reversed or non-finite range.
QParams ChooseQParams(double min, double max);

// TFLite AffineQuantize (reference/quantize.h): clamp(round_half_away(x /
// scale) + zp, 0, 255) with x / scale in float32. Scale 0 (a zero-width
// range, where TFLite divides by 0) gives the zero point.
uint8_t QuantizeValue(float x, const QParams& q);
// TFLite Dequantize (reference/dequantize.h): float(double(scale) * (q - zp)).
inline float DequantizeValue(int32_t q, const QParams& p) {
  return static_cast<float>(static_cast<double>(p.scale) * (q - p.zero_point));
}
// Scale of a layer's int32 bias: float(s_in) * float(s_w) in float32, as TFLite's
// SymmetricPerLayerBiasQuantize (tensorflow/lite/tools/optimize/quantization_utils.cc).
inline float BiasScale(const QParams& input, const QParams& weight) {
  return input.scale * weight.scale;
}
// Bias as SymmetricPerLayerBiasQuantize: inv = float(1.0 / scale) (0 for scale
// 0), round_half_away(b * inv) in float32, clamped to [-(2^31 - 1), 2^31 - 1].
int32_t QuantizeBias(float b, float scale);
// A layer's real multiplier as TFLite's GetQuantizedConvolutionMultipler
// (tensorflow/lite/kernels/kernel_util.cc): the product float(s_in) * float(s_w)
// in float32, then divided by s_out in double. An output scale of 0 (every
// output is real 0; TFLite aborts) gives 0.
double RequantMultiplier(const QParams& input, const QParams& weight, const QParams& output);

// --- TFLite fixed-point arithmetic (tensorflow/lite/kernels/internal/common.h,
// gemmlowp/fixedpoint) ---

// Double multiplier M -> (int32 Q31 mantissa, exponent) with M ~ q * 2^shift / 2^31.
void QuantizeMultiplier(double m, int32_t* multiplier, int* shift);
// (a * b + nudge) / 2^31 truncated toward zero, nudge = 2^30 when a * b >= 0
// and 1 - 2^30 below: the same as floor((a * b + 2^30) / 2^31), i.e. a * b / 2^31
// rounded half toward +infinity (-0.5 gives 0). Saturates the one overflow
// case a = b = INT32_MIN to INT32_MAX.
int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b);
// x / 2^exponent rounded to nearest, ties away from zero (0 <= exponent <= 31).
int32_t RoundingDivideByPOT(int32_t x, int exponent);
// x * M as TFLite's MultiplyByQuantizedMultiplier (internal/common.h, the
// default double-rounding build, not TFLITE_SINGLE_ROUNDING): x * 2^left as a
// plain int32 multiply (wrapping on overflow, which TFLite leaves undefined),
// high multiply, rounding right shift.
int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift);

// --- percentile clipping ---

// The p-th and (100 - p)-th percentiles of `values` (linear interpolation
// between order statistics, as numpy.percentile). Empty input gives {0, 0}.
struct Interval {
  double lo = 0, hi = 0;
};
Interval PercentileRange(std::vector<float> values, double percent);

// (RangeHistogram in calibration.h estimates it from a histogram.)

// --- layerwise statistics and metrics ---

// RangeStats of a tensor from its overall range and its per-channel ranges:
// channel_precision = mean_c (hi_c - lo_c) / (hi - lo); 1 when the tensor
// range is 0 (every channel is as wide as the tensor).
RangeStats MakeRangeStats(const Interval& tensor, const std::vector<Interval>& channels);
// Min/max of a weight tensor laid out [channels][per_channel] and of each channel.
RangeStats WeightStats(const std::vector<float>& w, int channels);

// Mean squared error between fp32 and dequantized quint8 logits.
double Qmse(const std::vector<float>& fp32, const std::vector<float>& quant);
// Mean over images of -sum_c softmax(fp32)_c * log softmax(quant)_c; logits
// are [images][classes].
double Qce(const std::vector<float>& fp32, const std::vector<float>& quant, int classes);
// Index of the largest of each row of [rows][classes] (first on ties).
std::vector<int> Argmax(const std::vector<float>& logits, int classes);
// 10 log10(signal / noise) in dB from sums of x^2 and (x - x_q)^2; +inf when
// the noise is 0.
double SqnrDb(double signal, double noise);

}  // namespace fnas::evaluators
