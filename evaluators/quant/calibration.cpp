#include "evaluators/quant/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace fnas::evaluators {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t KeyOf(double x, double width) { return static_cast<int64_t>(std::floor(x / width)); }

}  // namespace

const std::vector<std::string>& CalibrationMethodNames() {
  static const std::vector<std::string> names = {"minmax", "percentile", "mse", "entropy"};
  return names;
}

bool ParseCalibrationMethod(const std::string& name, CalibrationMethod* method) {
  const auto& names = CalibrationMethodNames();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return false;
  *method = static_cast<CalibrationMethod>(it - names.begin());
  return true;
}

std::string CalibrationMethodName(CalibrationMethod method) {
  return CalibrationMethodNames().at(static_cast<size_t>(method));
}

RangeHistogram::RangeHistogram(int bins)
    : bins_(std::max(bins, 16) & ~1), min_(kInf), max_(-kInf) {}

RangeHistogram RangeHistogram::FromCounts(double width, int64_t first_key,
                                          std::vector<int64_t> counts, int64_t zeros, double min,
                                          double max) {
  RangeHistogram h(static_cast<int>(counts.size() + (counts.size() & 1)));
  h.width_ = width;
  h.first_key_ = first_key;
  h.counts_ = std::move(counts);
  h.counts_.resize(h.bins_, 0);
  h.zeros_ = zeros;
  h.count_ = zeros;
  for (int64_t c : h.counts_) h.count_ += c;
  h.min_ = min;
  h.max_ = max;
  return h;
}

void RangeHistogram::Rebin(double width, int64_t first_key) {
  const int64_t ratio = static_cast<int64_t>(std::llround(width / width_));
  std::vector<int64_t> counts(bins_, 0);
  for (int i = 0; i < bins_; ++i) {
    if (counts_[i] == 0) continue;
    const int64_t key = FloorDiv(first_key_ + i, ratio) - first_key;
    counts[std::clamp<int64_t>(key, 0, bins_ - 1)] += counts_[i];
  }
  counts_ = std::move(counts);
  width_ = width;
  first_key_ = first_key;
}

void RangeHistogram::Cover(double lo, double hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    throw RuntimeError("calibration: a value is not finite (has the model diverged?)");
  }
  if (lo > hi || (lo == 0 && hi == 0)) return;
  if (width_ == 0) {
    double span = hi - lo;
    if (span <= 0) span = std::abs(hi);
    width_ = span / (bins_ - 2);
    first_key_ = KeyOf(lo, width_);
    counts_.assign(bins_, 0);
  }
  for (;;) {
    int64_t need_lo = KeyOf(lo, width_), need_hi = KeyOf(hi, width_);
    if (need_lo >= first_key_ && need_hi < first_key_ + bins_) return;
    int64_t used_lo = need_lo, used_hi = need_hi;
    for (int i = 0; i < bins_; ++i) {
      if (counts_[i] == 0) continue;
      used_lo = std::min(used_lo, first_key_ + i);
      used_hi = std::max(used_hi, first_key_ + i);
    }
    if (used_hi - used_lo < bins_) {
      // Fits at this width: move the window, leaving room on both sides.
      const int64_t slack = (bins_ - (used_hi - used_lo + 1)) / 2;
      Rebin(width_, used_lo - slack);
      return;
    }
    int64_t occupied_lo = used_hi;
    for (int i = 0; i < bins_; ++i) {
      if (counts_[i] != 0) {
        occupied_lo = first_key_ + i;
        break;
      }
    }
    Rebin(width_ * 2, FloorDiv(occupied_lo, 2));
  }
}

void RangeHistogram::Add(const float* values, int64_t n) {
  if (n <= 0) return;
  float lo = values[0], hi = values[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  Cover(lo, hi);  // throws on NaN / inf
  min_ = std::min<double>(min_, lo);
  max_ = std::max<double>(max_, hi);
  count_ += n;
  if (width_ == 0) {  // every value is 0
    zeros_ += n;
    return;
  }
  const double inv = 1.0 / width_;
  const double base = static_cast<double>(first_key_);
  const int64_t last = bins_ - 1;
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float x = values[i];
    if (x == 0.0f) {
      ++zeros;
      continue;
    }
    const double t = x * inv - base;  // >= 0 up to rounding: truncation is floor
    int64_t b = t > 0 ? static_cast<int64_t>(t) : 0;
    ++counts_[b > last ? last : b];
  }
  zeros_ += zeros;
}

RangeHistogram RangeHistogram::EmptyCopy() const {
  RangeHistogram h(bins_);
  h.width_ = width_;
  h.first_key_ = first_key_;
  h.counts_.assign(counts_.size(), 0);
  return h;
}

void RangeHistogram::Merge(const RangeHistogram& other) {
  if (other.width_ != 0 &&
      (other.width_ != width_ || other.first_key_ != first_key_ || other.bins_ != bins_)) {
    if (width_ == 0 && count_ == zeros_) {
      width_ = other.width_;
      first_key_ = other.first_key_;
      bins_ = other.bins_;
      counts_.assign(bins_, 0);
    } else {
      throw RuntimeError("RangeHistogram::Merge: histograms with different bins");
    }
  }
  for (size_t i = 0; i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
  zeros_ += other.zeros_;
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void RangeHistogram::AddExtremes(double lo, double hi, int64_t n) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    throw RuntimeError("calibration: a value is not finite (has the model diverged?)");
  }
  if (n <= 0) return;
  min_ = std::min(min_, lo);
  max_ = std::max(max_, hi);
  count_ += n;
}

Interval RangeHistogram::MinMax() const {
  if (count_ == 0) return {};
  return {min_, max_};
}

double RangeHistogram::OrderStatistic(int64_t k) const {
  // Order: the bins of negative keys, the zeros, the bins of keys >= 0.
  int64_t before = 0;
  bool zeros_done = false;
  for (size_t i = 0; i < counts_.size(); ++i) {
    const int64_t key = first_key_ + static_cast<int64_t>(i);
    if (!zeros_done && key >= 0) {
      if (k < before + zeros_) return 0.0;
      before += zeros_;
      zeros_done = true;
    }
    const int64_t c = counts_[i];
    if (c != 0 && k < before + c) {
      const double frac = (k - before + 0.5) / static_cast<double>(c);
      return std::clamp((key + frac) * width_, min_, max_);
    }
    before += c;
  }
  if (!zeros_done && k < before + zeros_) return 0.0;
  return max_;
}

double RangeHistogram::Quantile(double rank) const {
  const int64_t lo = static_cast<int64_t>(std::floor(rank));
  const double a = OrderStatistic(lo);
  if (lo + 1 >= count_) return a;
  return a + (rank - lo) * (OrderStatistic(lo + 1) - a);
}

Interval RangeHistogram::Percentile(double percent) const {
  if (count_ == 0) return {};
  if (percent <= 0) return {min_, max_};
  const double n1 = static_cast<double>(count_ - 1);
  return {Quantile(percent / 100.0 * n1), Quantile((100.0 - percent) / 100.0 * n1)};
}

Interval RangeHistogram::Mse() const {
  if (count_ == 0) return {};
  if (width_ == 0) return {min_, max_};
  // Nonzero bins [first, last]; the bins of negative keys end at `zero`.
  int first = -1, last = -1;
  for (int i = 0; i < bins_; ++i) {
    if (counts_[i] == 0) continue;
    if (first < 0) first = i;
    last = i;
  }
  if (first < 0) return {min_, max_};
  const int zero = static_cast<int>(std::clamp<int64_t>(-first_key_, first, last + 1));
  // Prefix sums over bins [first, last + 1) of n, n c, n c^2 (c = bin centre).
  const int m = last - first + 1;
  std::vector<double> N(m + 1, 0), S(m + 1, 0), Q(m + 1, 0);
  for (int j = 0; j < m; ++j) {
    const double n = static_cast<double>(counts_[first + j]);
    const double c = std::clamp((first_key_ + first + j + 0.5) * width_, min_, max_);
    N[j + 1] = N[j] + n;
    S[j + 1] = S[j] + n * c;
    Q[j + 1] = Q[j] + n * c * c;
  }
  const double within = width_ * width_ / 12.0;
  // Squared error of the bins [from, to) (relative indices) clipped to x.
  const auto clipped = [&](int from, int to, double x) {
    const double n = N[to] - N[from], s = S[to] - S[from], q = Q[to] - Q[from];
    return q - 2 * x * s + x * x * n + n * within;
  };
  const double total = N[m];
  // Lower ends: edge before relative bin i for i in [0, zero - first]; i = 0 is the exact min.
  // Upper ends: edge after relative bin j - 1 for j in [zero - first, m]; j = m is the exact max.
  const int z = zero - first;
  double best = kInf;
  Interval range{min_, max_};
  for (int i = 0; i <= z; ++i) {
    const double a = i == 0 ? std::min(min_, 0.0) : (first_key_ + first + i) * width_;
    const double below = i == 0 ? 0.0 : clipped(0, i, a);
    for (int j = std::max(z, i); j <= m; ++j) {
      const double b = j == m ? std::max(max_, 0.0) : (first_key_ + first + j) * width_;
      const double above = j == m ? 0.0 : clipped(j, m, b);
      const double step = (std::max(b, 0.0) - std::min(a, 0.0)) / 255.0;
      const double inside = total - N[i] - (N[m] - N[j]);
      const double e = below + above + inside * step * step / 12.0;
      if (e < best) {
        best = e;
        range = {i == 0 ? min_ : a, j == m ? max_ : b};
      }
    }
  }
  return range;
}

Interval RangeHistogram::Entropy() const {
  if (count_ == 0) return {};
  if (width_ == 0) return {min_, max_};
  const bool two_sided = min_ < 0 && max_ > 0;
  const int levels = two_sided ? 127 : 255;
  // |x| histogram: key k >= 0 stays k, key k < 0 becomes -k - 1 (exact).
  std::vector<double> h;
  for (int i = 0; i < bins_; ++i) {
    if (counts_[i] == 0) continue;
    const int64_t key = first_key_ + i;
    const int64_t a = key >= 0 ? key : -key - 1;
    if (a >= static_cast<int64_t>(h.size())) h.resize(a + 1, 0.0);
    h[a] += static_cast<double>(counts_[i]);
  }
  double width = width_;
  while (h.size() > 2048) {  // merge pairs: exact, 0 stays an edge
    std::vector<double> g((h.size() + 1) / 2, 0.0);
    for (size_t k = 0; k < h.size(); ++k) g[k / 2] += h[k];
    h = std::move(g);
    width *= 2;
  }
  const int n = static_cast<int>(h.size());
  const auto with_threshold = [&](double t) -> Interval {
    return {std::max(min_, -t), std::min(max_, t)};
  };
  if (n <= levels) return {min_, max_};
  std::vector<double> suffix(n + 1, 0.0);
  for (int k = n - 1; k >= 0; --k) suffix[k] = suffix[k + 1] + h[k];
  const double total = suffix[0];
  const int stride = std::max(1, (n - levels) / 512);
  double best = kInf;
  int best_i = n;
  std::vector<double> q(n);
  for (int i = levels;; i += stride) {
    if (i > n) i = n;
    // Q: bins [0, i) merged into `levels` levels, spread over their nonzero bins.
    const double kept = total - suffix[i];
    for (int l = 0; l < levels; ++l) {
      const int s = static_cast<int>(int64_t{l} * i / levels);
      const int e = static_cast<int>(int64_t{l + 1} * i / levels);
      double sum = 0;
      int nonzero = 0;
      for (int k = s; k < e; ++k) {
        sum += h[k];
        nonzero += h[k] > 0;
      }
      for (int k = s; k < e; ++k) q[k] = h[k] > 0 ? sum / nonzero : 0.0;
    }
    double kl = 0;
    for (int k = 0; k < i; ++k) {
      const double p = (k == i - 1 ? h[k] + suffix[i] : h[k]) / total;
      if (p <= 0) continue;
      const double qk = kept > 0 ? q[k] / kept : 0.0;
      kl += p * std::log(p / (qk > 0 ? qk : 1e-4));  // smoothing of an empty bin
    }
    if (kl < best) {
      best = kl;
      best_i = i;
    }
    if (i == n) break;
  }
  return with_threshold(best_i * width);
}

Interval RangeHistogram::Range(CalibrationMethod method, double percent) const {
  switch (method) {
    case CalibrationMethod::kMinMax:
      return MinMax();
    case CalibrationMethod::kPercentile:
      return Percentile(percent);
    case CalibrationMethod::kMse:
      return Mse();
    case CalibrationMethod::kEntropy:
      return Entropy();
  }
  return MinMax();
}

}  // namespace fnas::evaluators
