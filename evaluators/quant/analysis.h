// Post-training quint8 quantization of a trained FactorizeNet and its
// analysis (docs/method.md §5-6): BN folding, activation calibration with percentile
// clipping, the integer network, the fake-quant simulation, the metrics
// (fp32 / quint8 accuracy, relative decrease, QMSE, QCE) and the layerwise
// statistics (dynamic range, average channel precision, SQNR).
//
// Thread safety: no global state. Distinct models may be analysed from
// several threads at once; one model must not be used by two threads at once
// (it is a torch module). Calibration samples are drawn with a local
// generator seeded by the caller.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "evaluators/options.h"
#include "evaluators/quant/quant_net.h"
#include "evaluators/records.h"
#include "evaluators/train/split.h"
#include "space/model.h"

namespace fnas::evaluators {

// Folds BatchNorm (running statistics, eval mode) into the conv before it, per
// output channel: w' = g w / sqrt(var + eps), b' = beta + (b - mean) g / sqrt(var + eps).
FloatLayer FoldConvBatchNorm(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn);
// Every op of the net: convs folded, dense layers as they are, empty for pool/flatten.
std::vector<FloatLayer> FoldNet(const space::FactorizeNet& net);

// Activation ranges of the input and of every conv/dense output.
struct Calibration {
  int64_t samples = 0;
  QParams input;
  RangeStats input_stats;
  std::vector<QParams> outputs;         // per plan op (default for pool/flatten)
  std::vector<RangeStats> activations;  // per plan op: clipped range + channel precision
};
// Runs the fp32 net (eval mode) on `images` (normalized float) twice: exact
// min/max per tensor and channel, then histograms for the top/bottom
// `percent` clipping (error at most range / 8192 per tensor, range / 1024
// per channel).
Calibration Calibrate(space::FactorizeNet& net, const torch::Tensor& images, double percent,
                      int batch);

// Indices of `n` distinct random images of `split` (all of them if n >= size),
// drawn with a local mt19937_64(seed).
std::vector<int64_t> SampleIndices(int64_t size, int64_t n, uint64_t seed);

// A quantized model: the integer net and the statistics that do not need
// the evaluation split.
struct QuantizedModel {
  IntegerNet net;
  Calibration calibration;
  std::vector<LayerStats> layers;  // one per conv/dense op; sqnr_db filled by Evaluate
  std::vector<int> layer_ops;      // plan op index of layers[i]
};
// Folds, calibrates on `calibration_samples` random images of `calibration`
// and builds the integer net.
QuantizedModel QuantizeModel(space::FactorizeNet& net, const Split& calibration,
                             const Normalization& normalize, const QuantOptions& options,
                             uint64_t seed);

// The quantization simulated in float with the integer net's parameters:
// quantize-dequantize of the input, of the weights and biases and of every
// conv/dense output (ReLU as the clamp at the zero point), max-pool on the
// simulated values. Holds its own tensors; not thread-safe (torch).
class FakeQuantNet {
 public:
  explicit FakeQuantNet(const IntegerNet& net);
  // Normalized float images -> dequantized logits; `trace` as IntegerNet::Run
  // (the simulated uint8 codes of every conv/dense output).
  torch::Tensor Forward(const torch::Tensor& images, IntegerNet::Trace* trace = nullptr) const;

 private:
  const IntegerNet& net_;
  std::vector<torch::Tensor> weights_, biases_;
};

// Metrics and SQNR of a quantized model on a split; mode = options.mode
// (integer or fake). SQNR compares every conv/dense output of the quantized
// path with the fp32 net's.
QuantReport Evaluate(const QuantizedModel& model, space::FactorizeNet& net, const Split& split,
                     const Normalization& normalize, const QuantOptions& options);

// QuantizeModel + Evaluate; calibration from `calibration`, metrics on `split`.
QuantReport AnalyseModel(space::FactorizeNet& net, const Split& calibration, const Split& split,
                         const Normalization& normalize, const QuantOptions& options,
                         uint64_t seed);

// Fraction of images on which the fake-quant and the integer path give the
// same top-1 class.
double FakeIntegerAgreement(const IntegerNet& net, const torch::Tensor& images, int batch);

}  // namespace fnas::evaluators
