// quint8 primitives against hand-computed cases.
#include "evaluators/quant/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace fnas::evaluators {
namespace {

constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

TEST(ChooseQParams, SymmetricRangeRoundsZeroPointHalfAway) {
  const QParams q = ChooseQParams(-1.0, 1.0);
  EXPECT_EQ(q.scale, static_cast<float>(2.0 / 255));  // stored as float32
  EXPECT_EQ(q.zero_point, 128);                       // 127.5 rounds away from zero
  EXPECT_DOUBLE_EQ(q.min, -128 * static_cast<double>(q.scale));
  EXPECT_DOUBLE_EQ(q.max, 127 * static_cast<double>(q.scale));
}

TEST(ChooseQParams, ScaleIsTheFloat32OfTheDoubleQuotient) {
  // scale = 1.3 / 255 = 0.005098039215686275 in double, 0.0050980392843484879 in float32;
  // the zero point comes from the double: 0.3 / scale = 58.846 -> 59.
  const QParams q = ChooseQParams(-0.3, 1.0);
  EXPECT_EQ(q.scale, 0.0050980392843484879f);
  EXPECT_NE(static_cast<double>(q.scale), 1.3 / 255);
  EXPECT_EQ(q.zero_point, 59);
  EXPECT_DOUBLE_EQ(q.min, -59 * 0.0050980392843484879);
  EXPECT_DOUBLE_EQ(q.max, 196 * 0.0050980392843484879);
  EXPECT_EQ(QuantizeValue(0.0f, q), 59);
  EXPECT_EQ(DequantizeValue(59, q), 0.0f);
}

TEST(ChooseQParams, RangesThatExcludeZeroAreWidened) {
  const QParams pos = ChooseQParams(2.0, 5.0);  // -> [0, 5]
  EXPECT_EQ(pos.scale, static_cast<float>(5.0 / 255));
  EXPECT_EQ(pos.zero_point, 0);
  EXPECT_DOUBLE_EQ(pos.min, 0.0);
  // -> [-3, 0]: the two pairs' terms are equal (|-3 / s| = 255 = 255 + |0 / s|), so
  // TFLite takes the zero point from (max, 255): exactly 255.
  const QParams neg = ChooseQParams(-3.0, -1.0);
  EXPECT_EQ(neg.scale, static_cast<float>(3.0 / 255));
  EXPECT_EQ(neg.zero_point, 255);
  EXPECT_DOUBLE_EQ(neg.max, 0.0);
}

TEST(ChooseQParams, ZeroWidthRangeGivesScaleZeroAsTflite) {
  const QParams q = ChooseQParams(0.0, 0.0);
  EXPECT_EQ(q.scale, 0.0f);
  EXPECT_EQ(q.zero_point, 0);
  EXPECT_EQ(q.min, 0.0);
  EXPECT_EQ(q.max, 0.0);
  // Every value of the range {0} (and anything else) quantizes to the zero point.
  EXPECT_EQ(QuantizeValue(0.0f, q), 0);
  EXPECT_EQ(QuantizeValue(3.0f, q), 0);
  EXPECT_EQ(DequantizeValue(0, q), 0.0f);
  // A bias of scale s_in * 0 is 0, as TFLite's inverse scale of 0 makes it.
  EXPECT_EQ(QuantizeBias(0.7f, BiasScale(ChooseQParams(-1, 1), q)), 0);
  // An output of scale 0 gets multiplier 0: every output is the zero point.
  EXPECT_EQ(RequantMultiplier(ChooseQParams(-1, 1), ChooseQParams(-1, 1), q), 0.0);
  // min = max != 0 widens to [0, v]: not degenerate.
  const QParams w = ChooseQParams(0.51, 0.51);
  EXPECT_EQ(w.scale, static_cast<float>(0.51 / 255));
  EXPECT_EQ(w.zero_point, 0);
  EXPECT_EQ(QuantizeValue(0.51f, w), 255);
  EXPECT_THROW(ChooseQParams(1.0, 0.0), Error);
  EXPECT_THROW(ChooseQParams(0.0, std::nan("")), Error);
}

TEST(QuantizeValue, RoundsHalfAwayAndClamps) {
  QParams q;
  q.scale = 0.5f;
  q.zero_point = 10;
  EXPECT_EQ(QuantizeValue(1.25f, q), 13);  // 2.5 -> 3
  EXPECT_EQ(QuantizeValue(-1.25f, q), 7);  // -2.5 -> -3
  EXPECT_EQ(QuantizeValue(1.2f, q), 12);   // 2.4 -> 2
  EXPECT_EQ(QuantizeValue(1000.f, q), 255);
  EXPECT_EQ(QuantizeValue(-6.f, q), 0);  // -12 + 10 -> clamp
  EXPECT_EQ(QuantizeValue(1e30f, q), 255);
  EXPECT_FLOAT_EQ(DequantizeValue(13, q), 1.5f);
}

TEST(QuantizeBias, MultipliesByTheFloat32InverseScale) {
  EXPECT_EQ(QuantizeBias(0.75f, 0.5f), 2);  // 1.5 -> 2
  EXPECT_EQ(QuantizeBias(-0.75f, 0.5f), -2);
  // 0.1f = 0.100000001490116; 1 / 0.1f = 9.99999985 rounds to 10.0f in float32, so
  // 0.25f * 10.0f = 2.5 -> 3, where the double quotient 0.25 / 0.1f = 2.49999996 -> 2.
  EXPECT_EQ(QuantizeBias(0.25f, 0.1f), 3);
  // Saturation to +-(2^31 - 1), both signs.
  EXPECT_EQ(QuantizeBias(3e9f, 1.0f), kMax);
  EXPECT_EQ(QuantizeBias(-3e9f, 1.0f), -kMax);
  EXPECT_EQ(QuantizeBias(5.0f, 0.0f), 0);
}

TEST(BiasScale, IsTheFloat32Product) {
  QParams a, b;
  a.scale = b.scale = 0.1f;
  // 0.1f * 0.1f = 0.0100000002980232... in exact arithmetic, 0x3c23d70b in float32.
  const float s = BiasScale(a, b);
  uint32_t bits;
  std::memcpy(&bits, &s, 4);
  EXPECT_EQ(bits, 0x3c23d70bu);
}

TEST(RequantMultiplier, FloatProductThenDoubleDivision) {
  // s_in = s_w = 1 + 2^-12: the exact product 1 + 2^-11 + 2^-24 is a tie in float32
  // (ulp 2^-23 at 1) and rounds to even, 1 + 2^-11. With s_out = 1 the multiplier is
  // 1 + 2^-11 = 0.5 (1 + 2^-11) * 2^1 -> mantissa 2^30 + 2^19 = 1074266112, shift 1;
  // the double product would give 2^30 + 2^19 + 2^6 = 1074266176.
  QParams in, w, out;
  in.scale = w.scale = 1.0f + 1.0f / 4096;
  out.scale = 1.0f;
  const double m = RequantMultiplier(in, w, out);
  EXPECT_EQ(m, 1.0 + 1.0 / 2048);
  int32_t q;
  int shift;
  QuantizeMultiplier(m, &q, &shift);
  EXPECT_EQ(q, 1074266112);
  EXPECT_EQ(shift, 1);
  // The division is in double: 1 / 3 is not rounded to float32.
  in.scale = w.scale = 1.0f;
  out.scale = 3.0f;
  EXPECT_EQ(RequantMultiplier(in, w, out), 1.0 / 3.0);
}

TEST(QuantizeMultiplier, MantissaAndShift) {
  int32_t m;
  int s;
  QuantizeMultiplier(0.5, &m, &s);
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(s, 0);
  QuantizeMultiplier(0.75, &m, &s);
  EXPECT_EQ(m, 1610612736);  // 0.75 * 2^31
  EXPECT_EQ(s, 0);
  QuantizeMultiplier(0.1, &m, &s);  // 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4
  EXPECT_EQ(m, 1717986918);
  EXPECT_EQ(s, -3);
  QuantizeMultiplier(2.0, &m, &s);  // 0.5 * 2^2
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(s, 2);
  QuantizeMultiplier(1.0 - 1e-12, &m, &s);  // mantissa rounds to 2^31: halved, shift + 1
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(s, 1);
  QuantizeMultiplier(0.0, &m, &s);
  EXPECT_EQ(m, 0);
  EXPECT_EQ(s, 0);
  QuantizeMultiplier(1e-12, &m, &s);  // below 2^-31: flushed to zero
  EXPECT_EQ(m, 0);
  EXPECT_EQ(s, 0);
}

TEST(SaturatingRoundingDoublingHighMul, SignsTiesAndSaturation) {
  // a * b * 2 / 2^32 = a * b / 2^31.
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1 << 30, 1 << 30), 1 << 29);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-(1 << 30), 1 << 30), -(1 << 29));
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1, 1 << 30), 1);  // 0.5 -> 1
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(3, 1 << 30), 2);  // 1.5 -> 2
  // gemmlowp's nudge for negative products: -0.5 -> 0 and -1.5 -> -1.
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-1, 1 << 30), 0);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-3, 1 << 30), -1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-5, 1 << 29), -1);  // -1.25 -> -1
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kMax, kMax), 2147483646);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kMin, kMin), kMax);  // the one overflow
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kMin, kMax), -2147483647);
}

TEST(RoundingDivideByPOT, TiesAwayFromZero) {
  EXPECT_EQ(RoundingDivideByPOT(5, 1), 3);    // 2.5
  EXPECT_EQ(RoundingDivideByPOT(-5, 1), -3);  // -2.5
  EXPECT_EQ(RoundingDivideByPOT(4, 1), 2);
  EXPECT_EQ(RoundingDivideByPOT(6, 2), 2);    // 1.5
  EXPECT_EQ(RoundingDivideByPOT(-6, 2), -2);  // -1.5
  EXPECT_EQ(RoundingDivideByPOT(7, 2), 2);    // 1.75
  EXPECT_EQ(RoundingDivideByPOT(-7, 2), -2);
  EXPECT_EQ(RoundingDivideByPOT(5, 2), 1);  // 1.25
  EXPECT_EQ(RoundingDivideByPOT(-5, 2), -1);
  EXPECT_EQ(RoundingDivideByPOT(-123, 0), -123);
  EXPECT_EQ(RoundingDivideByPOT(kMin, 31), -1);
  EXPECT_EQ(RoundingDivideByPOT(kMax, 31), 1);
  EXPECT_EQ(RoundingDivideByPOT(1 << 29, 31), 0);  // 0.25
  EXPECT_EQ(RoundingDivideByPOT(1 << 30, 31), 1);  // 0.5
  EXPECT_EQ(RoundingDivideByPOT(-(1 << 30), 31), -1);
}

TEST(MultiplyByQuantizedMultiplier, MatchesRealMultiplication) {
  int32_t m;
  int s;
  QuantizeMultiplier(0.1, &m, &s);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(1000, m, s), 100);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(1004, m, s), 100);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(1005, m, s), 101);  // 100.5
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-1005, m, s), -101);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(0, m, s), 0);
  // M = 2: left shift by 2 then times 0.5.
  EXPECT_EQ(MultiplyByQuantizedMultiplier(3, 1 << 30, 2), 6);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-3, 1 << 30, 2), -6);
  // The left shift is TFLite's plain int32 multiply, wrapping: 2^30 * 4 = 2^32 -> 0,
  // and 3 * 2^29 * 2 = 3 * 2^30 -> -2^30, times 0.5 -> -2^29.
  EXPECT_EQ(MultiplyByQuantizedMultiplier(1 << 30, 1 << 30, 2), 0);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(3 << 29, 1 << 30, 1), -(1 << 29));
}

TEST(PercentileRange, LinearInterpolationLikeNumpy) {
  // 0..100: the 1st / 99th percentiles are 1 and 99.
  std::vector<float> v;
  for (int i = 100; i >= 0; --i) v.push_back(static_cast<float>(i));
  Interval r = PercentileRange(v, 1.0);
  EXPECT_DOUBLE_EQ(r.lo, 1.0);
  EXPECT_DOUBLE_EQ(r.hi, 99.0);
  // 0..10 and an outlier 1000 (12 values): position 0.1 * 11 = 1.1 between 1 and 2,
  // 0.9 * 11 = 9.9 between 9 and 10, so the outlier is clipped away.
  std::vector<float> w = {1000, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  r = PercentileRange(w, 10.0);
  EXPECT_NEAR(r.lo, 1.1, 1e-9);
  EXPECT_NEAR(r.hi, 9.9, 1e-9);
  r = PercentileRange(w, 0.0);
  EXPECT_DOUBLE_EQ(r.lo, 0.0);
  EXPECT_DOUBLE_EQ(r.hi, 1000.0);
  r = PercentileRange({}, 1.0);
  EXPECT_EQ(r.lo, 0.0);
}

TEST(RangeStats, AverageChannelPrecision) {
  // Two channels [-1, 1] and [0, 0.5]: tensor range 2, precision (2/2 + 0.5/2) / 2.
  const std::vector<float> w = {-1, 0.5f, 1, 0, 0.5f, 0.25f};
  const RangeStats s = WeightStats(w, 2);
  EXPECT_DOUBLE_EQ(s.min, -1);
  EXPECT_DOUBLE_EQ(s.max, 1);
  EXPECT_DOUBLE_EQ(s.range, 2);
  EXPECT_DOUBLE_EQ(s.channel_precision, 0.625);
  const RangeStats flat = MakeRangeStats({0, 0}, {{0, 0}});
  EXPECT_DOUBLE_EQ(flat.channel_precision, 1.0);
}

TEST(Metrics, QmseAndQceOnFixedLogits) {
  const std::vector<float> fp = {0, 0, std::log(3.0f), 0};
  const std::vector<float> q = {0, 0, 0, 0};
  // ((log 3)^2) / 4.
  EXPECT_NEAR(Qmse(fp, q), std::log(3.0) * std::log(3.0) / 4, 1e-6);
  // Row 1: p = q = (1/2, 1/2): H = log 2. Row 2: p = (3/4, 1/4), q uniform: H = log 2.
  EXPECT_NEAR(Qce(fp, q, 2), std::log(2.0), 1e-6);
  // Against itself: the entropy of p. Row 2: -(3/4 log 3/4 + 1/4 log 1/4).
  const double h2 = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  EXPECT_NEAR(Qce(fp, fp, 2), (std::log(2.0) + h2) / 2, 1e-6);
  EXPECT_EQ(Qmse(fp, fp), 0.0);
  EXPECT_EQ(Argmax(fp, 2), (std::vector<int>{0, 0}));
  EXPECT_NEAR(SqnrDb(100, 1), 20.0, 1e-12);
  EXPECT_TRUE(std::isinf(SqnrDb(1, 0)));
}

}  // namespace
}  // namespace fnas::evaluators
