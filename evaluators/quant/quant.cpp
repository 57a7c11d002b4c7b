#include "evaluators/quant/quant.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace fnas::evaluators {

QParams ChooseQParams(double min, double max) {
  if (!(min <= max) || !std::isfinite(min) || !std::isfinite(max)) {
    throw RuntimeError("quantization range [" + std::to_string(min) + ", " + std::to_string(max) +
                       "] is not a finite interval");
  }
  const double rmin = std::min(min, 0.0), rmax = std::max(max, 0.0);
  QParams q;
  if (rmin == rmax) {  // the range is the point {0}
    q.scale = 0.0f;
    q.zero_point = 0;
    q.min = q.max = 0;
    return q;
  }
  const double scale = (rmax - rmin) / 255.0;
  // Of the two affine pairs (rmin, 0) and (rmax, 255), the one whose terms
  // are smaller in magnitude gives the zero point with the smaller error.
  const double from_min = 0.0 - rmin / scale, from_max = 255.0 - rmax / scale;
  const double error_min = std::abs(rmin / scale), error_max = 255.0 + std::abs(rmax / scale);
  const double zp = error_min < error_max ? from_min : from_max;
  q.zero_point = zp < 0 ? 0 : zp > 255 ? 255 : static_cast<int32_t>(std::round(zp));
  q.scale = static_cast<float>(scale);
  q.min = (0 - q.zero_point) * static_cast<double>(q.scale);
  q.max = (255 - q.zero_point) * static_cast<double>(q.scale);
  return q;
}

uint8_t QuantizeValue(float x, const QParams& q) {
  if (q.scale == 0.0f) return static_cast<uint8_t>(std::clamp(q.zero_point, 0, 255));
  const float scaled = x / q.scale;
  // Clamp before converting so that huge values cannot overflow the int.
  const float r = std::round(std::clamp(scaled, -1e6f, 1e6f));
  const int32_t v = static_cast<int32_t>(r) + q.zero_point;
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

int32_t QuantizeBias(float b, float scale) {
  const float inv = scale == 0.0f ? 0.0f : static_cast<float>(1.0 / scale);
  const float r = std::round(b * inv);
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  // TFLite's SafeCast to int32, then the clamp to +-(2^31 - 1).
  if (std::isnan(r)) return 0;
  if (r >= 2147483648.0f) return kMax;
  if (r <= -2147483648.0f) return -kMax;
  return static_cast<int32_t>(r);
}

double RequantMultiplier(const QParams& input, const QParams& weight, const QParams& output) {
  const float product = input.scale * weight.scale;  // float32, as TFLite's params.scale
  if (output.scale == 0.0f) return 0.0;
  return static_cast<double>(product) / static_cast<double>(output.scale);
}

void QuantizeMultiplier(double m, int32_t* multiplier, int* shift) {
  if (m == 0.0) {
    *multiplier = 0;
    *shift = 0;
    return;
  }
  const double q = std::frexp(m, shift);
  int64_t q_fixed = static_cast<int64_t>(std::round(q * (1LL << 31)));
  if (q_fixed == (1LL << 31)) {
    q_fixed /= 2;
    ++*shift;
  }
  if (*shift < -31) {
    *shift = 0;
    q_fixed = 0;
  }
  *multiplier = static_cast<int32_t>(q_fixed);
}

int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  const bool overflow = a == b && a == std::numeric_limits<int32_t>::min();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  const int32_t high = static_cast<int32_t>((ab + nudge) / (1LL << 31));
  return overflow ? std::numeric_limits<int32_t>::max() : high;
}

int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  // x * (1 << left) in int32 as TFLite writes it; computed in uint32 so that an
  // overflow wraps (what TFLite's build does on two's complement hardware)
  // instead of being undefined.
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) * (uint32_t{1} << left));
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(shifted, multiplier), right);
}

Interval PercentileRange(std::vector<float> v, double percent) {
  if (v.empty()) return {};
  const auto at = [&v](double p) {
    const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    std::nth_element(v.begin(), v.begin() + lo, v.end());
    const double a = v[lo];
    if (lo + 1 >= v.size()) return a;
    const double b = *std::min_element(v.begin() + lo + 1, v.end());
    return a + (pos - lo) * (b - a);
  };
  const double lo = at(percent);
  const double hi = at(100.0 - percent);
  return {lo, hi};
}

RangeStats MakeRangeStats(const Interval& tensor, const std::vector<Interval>& channels) {
  RangeStats s;
  s.min = tensor.lo;
  s.max = tensor.hi;
  s.range = tensor.hi - tensor.lo;
  if (s.range <= 0 || channels.empty()) {
    s.channel_precision = 1.0;
    return s;
  }
  double sum = 0;
  for (const Interval& c : channels) sum += (c.hi - c.lo) / s.range;
  s.channel_precision = sum / static_cast<double>(channels.size());
  return s;
}

RangeStats WeightStats(const std::vector<float>& w, int channels) {
  const size_t per = channels > 0 ? w.size() / channels : 0;
  Interval all{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  std::vector<Interval> ch(channels);
  for (int c = 0; c < channels; ++c) {
    const auto [lo, hi] = std::minmax_element(w.begin() + c * per, w.begin() + (c + 1) * per);
    ch[c] = {per ? *lo : 0.0, per ? *hi : 0.0};
    all.lo = std::min(all.lo, ch[c].lo);
    all.hi = std::max(all.hi, ch[c].hi);
  }
  if (channels == 0) all = {0, 0};
  return MakeRangeStats(all, ch);
}

double Qmse(const std::vector<float>& fp32, const std::vector<float>& quant) {
  if (fp32.size() != quant.size()) throw RuntimeError("Qmse: logits of different sizes");
  if (fp32.empty()) return 0;
  double sum = 0;
  for (size_t i = 0; i < fp32.size(); ++i) {
    const double d = static_cast<double>(fp32[i]) - quant[i];
    sum += d * d;
  }
  return sum / static_cast<double>(fp32.size());
}

namespace {
// log softmax of one row, in double.
std::vector<double> LogSoftmax(const float* x, int n) {
  double m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
  double s = 0;
  for (int i = 0; i < n; ++i) s += std::exp(x[i] - m);
  const double lse = m + std::log(s);
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) out[i] = x[i] - lse;
  return out;
}
}  // namespace

double Qce(const std::vector<float>& fp32, const std::vector<float>& quant, int classes) {
  if (fp32.size() != quant.size() || classes <= 0 || fp32.size() % classes != 0) {
    throw RuntimeError("Qce: logits of different or ragged sizes");
  }
  const size_t rows = fp32.size() / classes;
  if (rows == 0) return 0;
  double total = 0;
  for (size_t r = 0; r < rows; ++r) {
    const auto p = LogSoftmax(&fp32[r * classes], classes);
    const auto q = LogSoftmax(&quant[r * classes], classes);
    for (int c = 0; c < classes; ++c) total -= std::exp(p[c]) * q[c];
  }
  return total / static_cast<double>(rows);
}

std::vector<int> Argmax(const std::vector<float>& logits, int classes) {
  std::vector<int> out(logits.size() / classes);
  for (size_t r = 0; r < out.size(); ++r) {
    const float* row = &logits[r * classes];
    out[r] = static_cast<int>(std::max_element(row, row + classes) - row);
  }
  return out;
}

double SqnrDb(double signal, double noise) {
  if (noise <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

}  // namespace fnas::evaluators
