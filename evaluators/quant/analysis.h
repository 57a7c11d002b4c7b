// Post-training quint8 quantization of a trained FactorizeNet and its
// analysis (docs/method.md §5-6): BN folding, activation calibration (one fp32
// pass into histograms, ranges by any method of calibration.h), the integer
// network, the fake-quant simulation, the metrics
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
#include "evaluators/quant/calibration.h"
#include "evaluators/quant/folded_net.h"
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

// The histograms of one fp32 pass over calibration images: the network input
// and every conv/dense output. The ranges of every method come from them.
struct ObservedTensor {
  RangeHistogram hist;
  std::vector<Interval> channels;             // exact per-channel min / max
  std::vector<RangeHistogram> channel_hists;  // per channel, when asked for
};
struct CalibrationHistograms {
  int64_t samples = 0;
  ObservedTensor input;
  std::vector<ObservedTensor> ops;  // per plan op (empty for pool / flatten)
};
// What a calibration pass records of each tensor besides its exact
// per-channel min / max: minmax needs nothing more; mse and entropy the
// tensor's histogram; percentile also one histogram per channel (its channel
// precision).
enum class HistogramDetail { kExtremes, kTensor, kTensorAndChannels };
// The detail that `methods` need (the most any of them needs).
HistogramDetail DetailFor(const std::vector<CalibrationMethod>& methods);

// Runs the fp32 net once over `images` (normalized float) in batches,
// recording `detail`: BN folded (FoldedNet), so the ranges are those of the
// folded float graph that is quantized. Throws RuntimeError when an
// activation is not finite.
CalibrationHistograms ObserveActivations(const FoldedNet& net, const torch::Tensor& images,
                                         int batch, HistogramDetail detail);
// The same on FoldNet(net).
CalibrationHistograms ObserveActivations(const space::FactorizeNet& net,
                                         const torch::Tensor& images, int batch,
                                         HistogramDetail detail);

// Activation ranges of the input and of every conv/dense output under one
// method.
struct Calibration {
  int64_t samples = 0;
  std::string method;
  QParams input;
  RangeStats input_stats;
  std::vector<QParams> outputs;         // per plan op (default for pool/flatten)
  std::vector<RangeStats> activations;  // per plan op: chosen range + channel precision
};
// The ranges `method` chooses. Channel precision: per-channel percentile
// ranges for kPercentile (when the histograms have them), otherwise each
// channel's min / max clipped to the tensor's chosen range.
Calibration ChooseRanges(const CalibrationHistograms& h, const space::Plan& plan,
                         CalibrationMethod method, double percent);
// ObserveActivations + ChooseRanges.
Calibration Calibrate(const space::FactorizeNet& net, const torch::Tensor& images,
                      CalibrationMethod method, double percent, int batch);

// Indices of `n` distinct random images of `split` (all of them if n >= size),
// drawn with a local mt19937_64(seed).
std::vector<int64_t> SampleIndices(int64_t size, int64_t n, uint64_t seed);

// The integer net of one calibration method.
struct MethodNet {
  std::string method;
  IntegerNet net;
};

// A quantized model: the integer net and the statistics that do not need
// the evaluation split.
struct QuantizedModel {
  IntegerNet net;  // under the primary method (options.calibration)
  Calibration calibration;
  std::vector<MethodNet> others;   // options.record_methods, from the same histograms
  std::vector<LayerStats> layers;  // one per conv/dense op; sqnr_db filled by Evaluate
  std::vector<int> layer_ops;      // plan op index of layers[i]
  std::vector<Phase> phases;       // sample, calibrate, ranges, build
};
// Folds, calibrates on `calibration_samples` random images of `calibration`
// (one fp32 pass) and builds the integer net of the primary method and of
// every recorded one. Throws RuntimeError on an unknown method name
// (config/ validates them first).
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

// Metrics and SQNR of a quantized model on a split, in one pass over it: per
// batch one fp32 forward of `net` with BN folded (FoldedNet: accuracy, the
// reference logits and the SQNR reference) and one quantized forward per
// method (mode = options.mode, integer or fake). SQNR compares every
// conv/dense output of the primary quantized path with the fp32 net's on the
// first options.sqnr_samples images (whole batches; 0 = all).
// options.fake_agreement adds the fake-quant path's top-1 agreement with the
// integer one. report.phases: the model's phases, then fp32 (the folding
// first), normalize, integer, sqnr, fake, metrics.
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
