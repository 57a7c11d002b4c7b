// The plain records that training and quantization produce and the store
// keeps: per-epoch training metrics, quantization metrics, layerwise
// statistics. Value types; no behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fnas::evaluators {

// One training epoch (epochs count from 1).
struct EpochRecord {
  int epoch = 0;
  double train_loss = 0;
  double train_acc = 0;  // fraction in [0, 1]
  double val_acc = 0;    // fp32 accuracy on the validation split
  double lr = 0;         // learning rate used in this epoch
  double seconds = 0;
  double images_per_s = 0;
};

// The relative accuracy decrease of quantization, in percent:
// (acc_fp32 - acc_q) / acc_fp32 * 100, signed (negative when the quantized
// model is the more accurate one: a gain is not shown as a loss); 0 when
// acc_fp32 is 0.
inline double RelativeDecrease(double acc_fp32, double acc_q) {
  return acc_fp32 > 0 ? (acc_fp32 - acc_q) / acc_fp32 * 100 : 0;
}

// Quantization metrics of a model on one split (docs/method.md §6).
struct QuantMetrics {
  int64_t images = 0;
  double acc_fp32 = 0;      // fraction in [0, 1]
  double acc_q = 0;         // quint8 (integer path unless mode = fake)
  double rel_decrease = 0;  // RelativeDecrease(acc_fp32, acc_q): < 0 when quint8 gains
  double qmse = 0;          // mean squared error, fp32 logits vs dequantized quint8 logits
  double qce = 0;           // cross entropy of the quint8 softmax against the fp32 softmax
  double fake_agreement = -1;  // top-1 agreement of fake-quant and integer; < 0: not measured
};

// The quint8 metrics of one calibration method.
struct MethodMetrics {
  std::string method;  // minmax | percentile | mse | entropy
  QuantMetrics metrics;
};

// Wall time of one phase of a quantized evaluation.
struct Phase {
  std::string name;
  double seconds = 0;
};

// Dynamic range and average channel precision of one tensor.
struct RangeStats {
  double min = 0, max = 0;
  double range = 0;              // max - min
  double channel_precision = 0;  // mean over channels of range_channel / range_tensor
};

// Statistics of one quantized op (a conv, or a dense layer) of the plan.
struct LayerStats {
  std::string op;          // plan op name: "stem", "conv_64_1.group", "dense_1", ...
  std::string layer;       // table layer: "conv_64_1"
  RangeStats weights;      // (a) the conv/dense weights as trained
  RangeStats folded;       // (b) the BN-folded weights
  RangeStats activations;  // (c) the output activations as calibrated (clipped) ranges
  double sqnr_db = 0;      // 10 log10(E[x^2] / E[(x - x_q)^2]) of the op's output
};

struct QuantReport {
  QuantMetrics metrics;              // under the primary calibration method
  std::string method;                // the primary method
  std::vector<MethodMetrics> methods;  // every recorded method, the primary first
  std::vector<LayerStats> layers;    // under the primary method
  std::vector<Phase> phases;         // calibration, build, fp32, integer, ...
};

}  // namespace fnas::evaluators
