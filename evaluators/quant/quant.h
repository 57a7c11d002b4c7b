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
// min/max are the nudged range: (0 - zp) * scale and (255 - zp) * scale.
struct QParams {
  double scale = 1.0;
  int32_t zero_point = 0;
  double min = 0, max = 255;
};

// Range -> parameters: widen [min, max] to include 0, scale = (max - min)/255,
// zero point = round(-min / scale) clamped to [0, 255], min/max nudged so that
// real 0 is exact. A degenerate range (min = max = 0 after widening) gives
// scale 1, zero point 0: every value quantizes to 0 and nothing divides by 0.
QParams ChooseQParams(double min, double max);

// TFLite Quantize: clamp(round_half_away(x / scale) + zp, 0, 255) computed in
// float as the reference kernel does.
uint8_t QuantizeValue(float x, const QParams& q);
inline float DequantizeValue(int32_t q, const QParams& p) {
  return static_cast<float>(p.scale * (q - p.zero_point));
}
// Bias of a layer: int32, scale s_in * s_w, zero point 0 (round half away).
int32_t QuantizeBias(double b, double scale);

// --- TFLite fixed-point arithmetic (tensorflow/lite/kernels/internal/common.h,
// gemmlowp/fixedpoint) ---

// Double multiplier M -> (int32 Q31 mantissa, exponent) with M ~ q * 2^shift / 2^31.
void QuantizeMultiplier(double m, int32_t* multiplier, int* shift);
// (a * b * 2 + 2^31 rounding) >> 32, round half away from zero; saturates the
// one overflow case a = b = INT32_MIN to INT32_MAX.
int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b);
// x / 2^exponent rounded to nearest, ties away from zero (0 <= exponent <= 31).
int32_t RoundingDivideByPOT(int32_t x, int exponent);
// x * M: left shift (saturated to int32; TFLite leaves overflow undefined),
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
