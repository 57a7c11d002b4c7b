// Calibration: how the range of an activation tensor is chosen from the
// values it took on calibration images. One streaming histogram per tensor
// feeds every method, so a study can record its metrics under several methods
// from one fp32 pass:
//   minmax      the exact min / max (TFLite's converter with a representative
//               dataset);
//   percentile  top / bottom p % clipping (the FactorizeNet paper: p = 1);
//   mse         the range minimizing the expected squared quantization error
//               (rounding inside, clipping outside), as PyTorch's
//               HistogramObserver;
//   entropy     the threshold minimizing the KL divergence between the
//               histogram and its quantized version, as TensorRT's INT8
//               entropy calibrator.
// Pure value types and functions: safe to use from any thread on distinct
// objects.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evaluators/quant/quant.h"

namespace fnas::evaluators {

enum class CalibrationMethod { kMinMax, kPercentile, kMse, kEntropy };

// "minmax" | "percentile" | "mse" | "entropy". Returns false on another name.
bool ParseCalibrationMethod(const std::string& name, CalibrationMethod* method);
std::string CalibrationMethodName(CalibrationMethod method);
// The four names, in the order above (for error messages and docs).
const std::vector<std::string>& CalibrationMethodNames();

// A histogram over a range that grows with the data. Bin k covers
// [k w, (k + 1) w): 0 is always a bin edge, so values exactly 0 (the zeros of
// a ReLU, exactly representable under every range) are counted apart, and a
// histogram of |x| is an exact fold. When a value falls outside the bins, the
// width w doubles (pairs of bins merge, which is exact) until it fits: a
// histogram of `bins` bins always resolves its data's range in at least
// bins / 2 bins. The exact min and max are kept beside the bins.
// Not thread-safe: give each thread an EmptyCopy (after Cover) and Merge.
class RangeHistogram {
 public:
  explicit RangeHistogram(int bins = 4096);

  // Grows the bins so that every value in [lo, hi] falls inside.
  void Cover(double lo, double hi);
  // Counts n values (Cover is called with their min / max first).
  void Add(const float* values, int64_t n);
  // Counts n values of which only the extremes lo / hi are known: min, max
  // and count() follow, the bins do not (enough for MinMax, not for the
  // other methods). Throws RuntimeError when lo or hi is not finite.
  void AddExtremes(double lo, double hi, int64_t n);
  // A histogram with these bins and no counts; Add on it does not grow it as
  // long as the values are inside what this one covers.
  RangeHistogram EmptyCopy() const;
  // Adds the counts of a histogram with the same bins (throws otherwise).
  void Merge(const RangeHistogram& other);

  // For tests and tools: a histogram with the given bins. counts[i] is bin
  // first_key + i; `zeros` values exactly 0; min / max the exact extremes.
  static RangeHistogram FromCounts(double width, int64_t first_key, std::vector<int64_t> counts,
                                   int64_t zeros, double min, double max);

  int64_t count() const { return count_; }
  int64_t zeros() const { return zeros_; }
  double min() const { return min_; }
  double max() const { return max_; }
  double bin_width() const { return width_; }

  // The range each method chooses (before ChooseQParams widens it to 0).
  // Empty histogram: {0, 0}.
  Interval MinMax() const;
  // Linear interpolation between estimated order statistics, as
  // numpy.percentile; the j-th of the c values of a bin is placed at
  // (j + 0.5) / c of it, so the error is at most one bin.
  Interval Percentile(double percent) const;
  // Minimizes E = sum over values of the squared error, with the values of a
  // bin at its centre: inside [a, b] the rounding error (b - a)^2 / 255^2 / 12
  // each, outside the clipping error (x - a)^2 or (x - b)^2 (+ w^2 / 12). The
  // ends run over every bin edge (the outermost ones are the exact min / max),
  // a <= 0 <= b; zeros cost nothing.
  Interval Mse() const;
  // TensorRT's entropy calibration on |x| (the nonzero values; a ReLU output
  // is one-sided): for each candidate threshold T (a bin edge, at least
  // `levels` bins), the distribution P of the bins below T (values above T
  // added to the last one) against Q, P's bins merged into `levels` levels and
  // spread back over their nonzero bins; the T of least KL(P || Q). levels =
  // 255 for a one-sided tensor (uint8 codes above the zero point), 127 for a
  // two-sided one, whose range is then [-T, T] within [min, max]. The
  // histogram is first merged to at most 2048 bins, and at most 512
  // thresholds are tried (evenly spaced).
  Interval Entropy() const;
  // The range of `method`; `percent` is used by kPercentile only.
  Interval Range(CalibrationMethod method, double percent) const;

 private:
  double OrderStatistic(int64_t k) const;
  double Quantile(double rank) const;
  void Rebin(double width, int64_t first_key);  // bins of `width` (a power-of-2 multiple)

  int bins_;
  double width_ = 0;       // 0 until a nonzero value was seen
  int64_t first_key_ = 0;  // key of counts_[0]
  std::vector<int64_t> counts_;
  int64_t zeros_ = 0;
  int64_t count_ = 0;
  double min_, max_;
};

}  // namespace fnas::evaluators
