// The calibration histogram and its four range methods, on hand-made
// histograms whose optimal range is known and against brute force with the
// real quantizer.
#include "evaluators/quant/calibration.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "evaluators/quant/quant_kernels.h"

namespace fnas::evaluators {
namespace {

// Deterministic uniform numbers in [0, 1).
class Lcg {
 public:
  explicit Lcg(uint32_t seed) : x_(seed) {}
  double Next() {
    x_ = x_ * 1664525u + 1013904223u;
    return (x_ >> 8) / double(1 << 24);
  }

 private:
  uint32_t x_;
};

// Laplace(0, 1) samples.
std::vector<float> Laplace(int n, uint32_t seed) {
  Lcg r(seed);
  std::vector<float> v;
  for (int i = 0; i < n; ++i) {
    const double u = r.Next() - 0.5;
    v.push_back(static_cast<float>(-(u < 0 ? -1 : 1) * std::log(1 - 2 * std::abs(u) + 1e-12)));
  }
  return v;
}

// Mean squared error of quantizing `v` with the range [lo, hi], the way the
// integer net does (ChooseQParams, QuantizeValue, dequantize).
double QuantMse(const std::vector<float>& v, double lo, double hi) {
  const QParams q = ChooseQParams(lo, hi);
  double e = 0;
  for (float x : v) {
    const double d = x - DequantizeValue(QuantizeValue(x, q), q);
    e += d * d;
  }
  return e / v.size();
}

// The best range by brute force over a grid of `steps` ends per side.
double BestQuantMse(const std::vector<float>& v, int steps) {
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  double best = 1e300;
  const int lo_steps = *mn < 0 ? steps : 1;
  for (int i = 0; i < lo_steps; ++i) {
    const double lo = *mn < 0 ? *mn * (1.0 - double(i) / steps) : 0.0;
    for (int j = 0; j < steps; ++j) {
      const double hi = *mx * (1.0 - double(j) / steps);
      best = std::min(best, QuantMse(v, lo, hi));
    }
  }
  return best;
}

TEST(CalibrationMethod, NamesRoundTrip) {
  for (const std::string& name : CalibrationMethodNames()) {
    CalibrationMethod m;
    ASSERT_TRUE(ParseCalibrationMethod(name, &m)) << name;
    EXPECT_EQ(CalibrationMethodName(m), name);
  }
  CalibrationMethod m;
  EXPECT_FALSE(ParseCalibrationMethod("kl", &m));
}

TEST(RangeHistogram, MinMaxIsExact) {
  std::vector<float> v = Laplace(5000, 3);
  v.push_back(0.0f);
  RangeHistogram h(256);
  h.Add(v.data(), 2000);
  h.Add(v.data() + 2000, static_cast<int64_t>(v.size()) - 2000);
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  EXPECT_EQ(h.MinMax().lo, *mn);
  EXPECT_EQ(h.MinMax().hi, *mx);
  EXPECT_EQ(h.count(), static_cast<int64_t>(v.size()));
  EXPECT_EQ(h.zeros(), 1);
  EXPECT_EQ(RangeHistogram().MinMax().hi, 0.0);  // empty
}

TEST(RangeHistogram, ExtremesAloneGiveMinMax) {
  RangeHistogram h;
  h.AddExtremes(-0.5, 2.0, 10);
  h.AddExtremes(-1.25, 1.0, 6);
  EXPECT_EQ(h.MinMax().lo, -1.25);
  EXPECT_EQ(h.MinMax().hi, 2.0);
  EXPECT_EQ(h.count(), 16);
  EXPECT_THROW(h.AddExtremes(0.0, std::nan(""), 1), RuntimeError);
  EXPECT_THROW(h.AddExtremes(-INFINITY, 0.0, 1), RuntimeError);
}

TEST(RangeHistogram, GrowsByDoublingAndKeepsThePercentileWithinOneBin) {
  // A skewed set whose range grows batch after batch (the bins double), with
  // exact zeros (a ReLU's) and an outlier the clipping must remove.
  std::vector<float> v;
  Lcg r(12345);
  for (int i = 0; i < 20000; ++i) {
    const double u = r.Next();
    v.push_back(static_cast<float>(i % 7 == 0 ? 0.0 : (u * u * 10 - 2) * (1 + i / 5000)));
  }
  v.push_back(500);
  RangeHistogram h(4096);
  for (size_t b = 0; b < v.size(); b += 1000) {
    h.Add(v.data() + b, static_cast<int64_t>(std::min<size_t>(1000, v.size() - b)));
  }
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  // Resolution: the range in at least bins / 2 bins.
  EXPECT_LE(h.bin_width(), 2 * (*mx - *mn) / (4096 - 2) + 1e-12);
  for (double p : {1.0, 0.1, 5.0}) {
    const Interval exact = PercentileRange(v, p);
    const Interval approx = h.Percentile(p);
    EXPECT_NEAR(approx.lo, exact.lo, h.bin_width()) << p;
    EXPECT_NEAR(approx.hi, exact.hi, h.bin_width()) << p;
  }
  EXPECT_EQ(h.Percentile(0.0).hi, 500.0);
  // Thread-local copies merge into the same counts.
  RangeHistogram a = h.EmptyCopy(), b = h.EmptyCopy();
  a.Add(v.data(), 10000);
  b.Add(v.data() + 10000, static_cast<int64_t>(v.size()) - 10000);
  a.Merge(b);
  EXPECT_EQ(a.count(), h.count());
  EXPECT_EQ(a.Percentile(1.0).hi, h.Percentile(1.0).hi);
  RangeHistogram other(64);
  other.Add(v.data(), 100);
  EXPECT_THROW(a.Merge(other), RuntimeError);
  const float nan = std::nanf("");
  EXPECT_THROW(a.Add(&nan, 1), RuntimeError);
}

TEST(RangeHistogram, MseHandComputedOptimumWithAnOutlier) {
  // 780300 = 255^2 * 12 values uniform on [0, 1) (100 bins of 0.01) and one
  // value at 99.995. With a = 0 and b in [1, 99.99], the error is
  // N (b / 255)^2 / 12 + (99.995 - b)^2 (+ constants), least at
  // b = 99.995 / (N / (255^2 * 12) + 1) = 49.9975.
  std::vector<int64_t> counts(10000, 0);
  for (int k = 0; k < 100; ++k) counts[k] = 7803;
  counts[9999] = 1;
  const RangeHistogram h = RangeHistogram::FromCounts(0.01, 0, counts, 0, 0.0, 99.999);
  const Interval r = h.Mse();
  EXPECT_EQ(r.lo, 0.0);
  EXPECT_NEAR(r.hi, 49.9975, 0.01);
  // Without the outlier no clipping pays: the exact max.
  counts[9999] = 0;
  const RangeHistogram u = RangeHistogram::FromCounts(0.01, 0, counts, 0, 0.0, 0.9999);
  EXPECT_EQ(u.Mse().hi, 0.9999);
}

TEST(RangeHistogram, MseMatchesBruteForceWithTheRealQuantizer) {
  // Two-sided (Laplace) and one-sided with zeros (a ReLU of it): the range
  // chosen from the histogram quantizes the samples within 2 % of the best
  // range found by brute force with ChooseQParams / QuantizeValue.
  std::vector<float> two = Laplace(10000, 7);
  std::vector<float> relu = two;
  for (float& x : relu) x = std::max(x, 0.0f);
  for (const auto* v : {&two, &relu}) {
    RangeHistogram h;
    h.Add(v->data(), static_cast<int64_t>(v->size()));
    const Interval r = h.Mse();
    const double got = QuantMse(*v, r.lo, r.hi);
    const double best = BestQuantMse(*v, 60);
    EXPECT_LE(got, best * 1.02) << "range [" << r.lo << ", " << r.hi << "]";
    EXPECT_LT(r.hi, h.max());  // the tail is clipped
  }
}

TEST(RangeHistogram, EntropyKeepsAnExactlyRepresentableHistogram) {
  // Nonzero values in exactly 255 bins with an alternating shape: at a
  // threshold of 255 bins every bin is its own level, Q = P but for the one
  // outlier count folded into the last bin (KL ~ 1 / N); any wider threshold
  // merges unequal neighbours (KL ~ 1e-3). So T = 255 bins = 2.55.
  std::vector<int64_t> counts(1501, 0);
  for (int k = 0; k < 255; ++k) counts[k] = k % 2 ? 100 : 300;
  counts[1500] = 1;
  const RangeHistogram h = RangeHistogram::FromCounts(0.01, 0, counts, 5000, 0.0, 15.005);
  const Interval r = h.Entropy();
  EXPECT_EQ(r.lo, 0.0);
  EXPECT_NEAR(r.hi, 2.55, 1e-9);
  // A flat histogram loses nothing when merged: KL = 0 at the full range.
  std::vector<int64_t> flat(1000, 50);
  const RangeHistogram f = RangeHistogram::FromCounts(0.01, 0, flat, 0, 0.001, 9.999);
  EXPECT_EQ(f.Entropy().hi, 9.999);
  // Two-sided: |x| in 127 levels. The same shape in 127 bins of |x| on each
  // side (mirrored), one outlier each side: [-T, T] with T = 127 bins = 1.27.
  std::vector<int64_t> mirrored(3002, 0);
  for (int k = 0; k < 127; ++k) {
    mirrored[1501 + k] = mirrored[1500 - k] = k % 2 ? 100 : 300;
  }
  mirrored[1501 + 1500] = mirrored[0] = 1;
  const RangeHistogram m = RangeHistogram::FromCounts(0.01, -1501, mirrored, 0, -15.005, 15.005);
  const Interval s = m.Entropy();
  EXPECT_NEAR(s.hi, 1.27, 1e-9);
  EXPECT_NEAR(s.lo, -1.27, 1e-9);
}

TEST(RangeHistogram, AllZerosAndDegenerateInputs) {
  std::vector<float> z(100, 0.0f);
  RangeHistogram h;
  h.Add(z.data(), 100);
  for (CalibrationMethod m : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                              CalibrationMethod::kMse, CalibrationMethod::kEntropy}) {
    const Interval r = h.Range(m, 1.0);
    EXPECT_EQ(r.lo, 0.0);
    EXPECT_EQ(r.hi, 0.0);
  }
  const float one = 3.0f;
  RangeHistogram s;
  s.Add(&one, 1);
  EXPECT_NEAR(s.Mse().hi, 3.0, 3.0 / 4000);
  EXPECT_EQ(s.Percentile(1.0).hi, 3.0);
}

// The portable kernel, and the AVX-512 one where this CPU has it.
std::vector<bool> Paths() {
  std::vector<bool> p = {false};
  if (kernels::CpuHasAvx512Vnni()) p.push_back(true);
  return p;
}

TEST(ChannelExtremes, MatchesAScalarScanOfEveryChannel) {
  // Planes shorter than, equal to and longer than the 16 vector lanes, with a
  // tail; extremes planted in the tail and at the first position.
  for (const int64_t plane : {1, 7, 16, 49, 784}) {
    for (const bool avx512 : Paths()) {
      const int64_t batch = 3, channels = 5;
      std::vector<float> x(batch * channels * plane);
      uint32_t state = 12345;
      for (float& v : x) {
        state = state * 1664525u + 1013904223u;
        v = static_cast<float>(static_cast<int32_t>(state >> 8) % 20001 - 10000) / 1000.0f;
      }
      x[(1 * channels + 2) * plane + plane - 1] = 50.0f;  // channel 2, last value
      x[(2 * channels + 4) * plane] = -60.0f;             // channel 4, first value
      std::vector<float> lo(channels, 1e30f), hi(channels, -1e30f);
      ASSERT_TRUE(
          kernels::ChannelExtremes(x.data(), batch, channels, plane, lo.data(), hi.data(), avx512));
      for (int64_t c = 0; c < channels; ++c) {
        float l = 1e30f, h = -1e30f;
        for (int64_t b = 0; b < batch; ++b) {
          for (int64_t i = 0; i < plane; ++i) {
            l = std::min(l, x[(b * channels + c) * plane + i]);
            h = std::max(h, x[(b * channels + c) * plane + i]);
          }
        }
        EXPECT_EQ(lo[c], l) << "plane " << plane << " channel " << c;
        EXPECT_EQ(hi[c], h) << "plane " << plane << " channel " << c;
      }
      EXPECT_EQ(hi[2], 50.0f);
      EXPECT_EQ(lo[4], -60.0f);
    }
  }
}

TEST(ChannelExtremes, ReportsNaNAndInfinity) {
  for (const bool avx512 : Paths()) {
    for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
      std::vector<float> x(2 * 3 * 20, 1.0f);
      x[1 * 60 / 2 + 17] = bad;  // in a vector block, not the tail
      std::vector<float> lo(3, INFINITY), hi(3, -INFINITY);
      EXPECT_FALSE(kernels::ChannelExtremes(x.data(), 2, 3, 20, lo.data(), hi.data(), avx512))
          << bad << " avx512 " << avx512;
      x[1 * 60 / 2 + 17] = 1.0f;
      x.back() = bad;  // in the tail
      EXPECT_FALSE(kernels::ChannelExtremes(x.data(), 2, 3, 20, lo.data(), hi.data(), avx512))
          << bad << " avx512 " << avx512;
    }
  }
}

}  // namespace
}  // namespace fnas::evaluators
