#include "evaluators/quant/analysis.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <random>

#include "common/error.h"

namespace fnas::evaluators {

using space::Op;

namespace {

std::vector<float> ToVector(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Puts a module in eval mode and restores its mode on scope exit.
class EvalMode {
 public:
  explicit EvalMode(space::FactorizeNet& net) : net_(net), was_training_(net->is_training()) {
    net_->eval();
  }
  ~EvalMode() { net_->train(was_training_); }

 private:
  space::FactorizeNet& net_;
  bool was_training_;
};

// [B, C, ...] -> [C, B * ...] contiguous: the values of each channel together.
torch::Tensor ByChannel(const torch::Tensor& t) {
  return t.detach().transpose(0, 1).reshape({t.size(1), -1}).to(torch::kFloat32).contiguous();
}

// Range observer of one tensor (the input or an op output), over batches.
struct Observer {
  Interval all{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  std::vector<Interval> channels;
  std::unique_ptr<PercentileHistogram> hist;
  std::vector<PercentileHistogram> channel_hists;

  void ObserveMinMax(const torch::Tensor& t) {
    const torch::Tensor c = ByChannel(t);
    const auto lo = std::get<0>(c.min(1)), hi = std::get<0>(c.max(1));
    const auto lo_a = lo.accessor<float, 1>(), hi_a = hi.accessor<float, 1>();
    if (channels.empty()) {
      channels.assign(c.size(0), {std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity()});
    }
    for (int64_t i = 0; i < c.size(0); ++i) {
      channels[i].lo = std::min<double>(channels[i].lo, lo_a[i]);
      channels[i].hi = std::max<double>(channels[i].hi, hi_a[i]);
      all.lo = std::min(all.lo, channels[i].lo);
      all.hi = std::max(all.hi, channels[i].hi);
    }
  }

  void StartHistograms() {
    hist = std::make_unique<PercentileHistogram>(all.lo, all.hi, 8192);
    for (const Interval& c : channels) channel_hists.emplace_back(c.lo, c.hi, 1024);
  }

  void ObserveHistogram(const torch::Tensor& t) {
    const torch::Tensor c = ByChannel(t);
    const int64_t n = c.size(1);
    const float* data = c.data_ptr<float>();
    tbb::enumerable_thread_specific<PercentileHistogram> local(all.lo, all.hi, 8192);
    tbb::parallel_for(int64_t{0}, c.size(0), [&](int64_t ch) {
      channel_hists[ch].Add(data + ch * n, n);
      local.local().Add(data + ch * n, n);
    });
    for (const auto& h : local) hist->Merge(h);
  }

  RangeStats Stats(double percent, Interval* clipped) const {
    *clipped = hist->Range(percent);
    std::vector<Interval> ch;
    for (const auto& h : channel_hists) ch.push_back(h.Range(percent));
    return MakeRangeStats(*clipped, ch);
  }
};

bool HasWeights(const Op& op) { return op.kind == Op::Kind::kConv || op.kind == Op::Kind::kDense; }

// x / s rounded half away from zero, plus z, clamped; as QuantizeValue.
torch::Tensor QuantCodes(const torch::Tensor& x, const QParams& q, int32_t lo, int32_t hi) {
  if (q.scale == 0.0f) return torch::full_like(x, std::clamp(q.zero_point, lo, hi));
  const torch::Tensor s = (x / static_cast<float>(q.scale)).clamp(-1e6, 1e6);
  const torch::Tensor r = torch::sign(s) * torch::floor(torch::abs(s) + 0.5);
  return (r + q.zero_point).clamp(lo, hi);
}

torch::Tensor FromCodes(const torch::Tensor& codes, const QParams& q) {
  return (codes - q.zero_point) * static_cast<float>(q.scale);
}

// Adds sum x^2 and sum (x - deq(code))^2 over one batch of one op.
void AccumulateSqnr(const torch::Tensor& fp32, const std::vector<uint8_t>& codes, const QParams& q,
                    double* signal, double* noise) {
  const torch::Tensor x = fp32.detach().to(torch::kFloat32).contiguous();
  const float* a = x.data_ptr<float>();
  const int64_t n = x.numel();
  if (static_cast<int64_t>(codes.size()) != n) throw RuntimeError("SQNR: trace size mismatch");
  double s = 0, e = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = a[i] - DequantizeValue(codes[i], q);
    s += static_cast<double>(a[i]) * a[i];
    e += d * d;
  }
  *signal += s;
  *noise += e;
}

}  // namespace

FloatLayer FoldConvBatchNorm(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = conv->weight.detach().to(torch::kFloat64);
  const int64_t out = w.size(0);
  const torch::Tensor inv =
      bn->weight.detach().to(torch::kFloat64) /
      torch::sqrt(bn->running_var.detach().to(torch::kFloat64) + bn->options.eps());
  torch::Tensor b = -bn->running_mean.detach().to(torch::kFloat64);
  if (conv->bias.defined() && conv->bias.numel() == out)
    b = b + conv->bias.detach().to(torch::kFloat64);
  const torch::Tensor w_fold = w * inv.view({out, 1, 1, 1});
  const torch::Tensor b_fold = bn->bias.detach().to(torch::kFloat64) + b * inv;
  return {ToVector(w_fold), ToVector(b_fold)};
}

std::vector<FloatLayer> FoldNet(const space::FactorizeNet& net) {
  const space::Plan& plan = net->plan();
  std::vector<FloatLayer> out(plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const auto& u = net->unit(i);
    if (plan.ops[i].kind == Op::Kind::kConv) {
      out[i] = FoldConvBatchNorm(u.conv, u.bn);
    } else if (plan.ops[i].kind == Op::Kind::kDense) {
      out[i] = {ToVector(u.linear->weight), ToVector(u.linear->bias)};
    }
  }
  return out;
}

Calibration Calibrate(space::FactorizeNet& net, const torch::Tensor& images, double percent,
                      int batch) {
  torch::NoGradGuard no_grad;
  EvalMode eval(net);
  const space::Plan& plan = net->plan();
  const int64_t n = images.size(0);
  if (n == 0) throw RuntimeError("calibration needs at least one image");
  Observer input;
  std::vector<Observer> ops(plan.ops.size());
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) {
      for (size_t i = 0; i < ops.size(); ++i) {
        if (HasWeights(plan.ops[i]) &&
            !(std::isfinite(ops[i].all.lo) && std::isfinite(ops[i].all.hi))) {
          throw RuntimeError("calibration: the output of " + plan.ops[i].name +
                             " is not finite (has the model diverged?)");
        }
      }
      input.StartHistograms();
      for (size_t i = 0; i < ops.size(); ++i) {
        if (HasWeights(plan.ops[i])) ops[i].StartHistograms();
      }
    }
    for (int64_t b = 0; b < n; b += batch) {
      const torch::Tensor x = images.slice(0, b, std::min(n, b + batch));
      pass == 0 ? input.ObserveMinMax(x) : input.ObserveHistogram(x);
      net->forward_observed(x, [&](size_t i, const torch::Tensor& out) {
        if (!HasWeights(plan.ops[i])) return;
        pass == 0 ? ops[i].ObserveMinMax(out) : ops[i].ObserveHistogram(out);
      });
    }
  }
  Calibration c;
  c.samples = n;
  Interval clipped;
  c.input_stats = input.Stats(percent, &clipped);
  c.input = ChooseQParams(clipped.lo, clipped.hi);
  c.outputs.resize(plan.ops.size());
  c.activations.resize(plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    if (!HasWeights(plan.ops[i])) continue;
    c.activations[i] = ops[i].Stats(percent, &clipped);
    c.outputs[i] = ChooseQParams(clipped.lo, clipped.hi);
  }
  return c;
}

std::vector<int64_t> SampleIndices(int64_t size, int64_t n, uint64_t seed) {
  std::vector<int64_t> idx(size);
  std::iota(idx.begin(), idx.end(), 0);
  n = std::min(n, size);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, size - 1);
    std::swap(idx[i], idx[pick(rng)]);
  }
  idx.resize(n);
  return idx;
}

QuantizedModel QuantizeModel(space::FactorizeNet& net, const Split& calibration,
                             const Normalization& normalize, const QuantOptions& options,
                             uint64_t seed) {
  if (calibration.size() == 0) throw RuntimeError("quantization: the calibration split is empty");
  const auto idx = SampleIndices(calibration.size(), options.calibration_samples, seed);
  const torch::Tensor sel = torch::tensor(idx, torch::kInt64);
  const torch::Tensor images =
      normalize(calibration.images.index_select(0, sel)).to(torch::kFloat32).contiguous();
  QuantizedModel m;
  m.calibration = Calibrate(net, images, options.percentile, std::max(1, options.eval_batch));
  const std::vector<FloatLayer> folded = FoldNet(net);
  m.net = IntegerNet(net->plan(), m.calibration.input, folded, m.calibration.outputs);
  const space::Plan& plan = net->plan();
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const Op& op = plan.ops[i];
    if (!HasWeights(op)) continue;
    LayerStats s;
    s.op = op.name;
    s.layer = op.layer;
    const auto& u = net->unit(i);
    const torch::Tensor raw = op.kind == Op::Kind::kConv ? u.conv->weight : u.linear->weight;
    s.weights = WeightStats(ToVector(raw), op.out_c);
    s.folded = WeightStats(folded[i].weight, op.out_c);
    s.activations = m.calibration.activations[i];
    m.layers.push_back(s);
    m.layer_ops.push_back(static_cast<int>(i));
  }
  return m;
}

FakeQuantNet::FakeQuantNet(const IntegerNet& net) : net_(net) {
  for (const IntegerLayer& L : net.layers()) {
    if (!L.has_weights()) {
      weights_.emplace_back();
      biases_.emplace_back();
      continue;
    }
    std::vector<float> w(L.weights.size()), b(L.bias.size());
    for (size_t k = 0; k < w.size(); ++k) w[k] = DequantizeValue(L.weights[k], L.weight);
    const double bias_scale = BiasScale(L.input, L.weight);
    for (size_t k = 0; k < b.size(); ++k) b[k] = static_cast<float>(L.bias[k] * bias_scale);
    torch::Tensor wt = torch::tensor(w);
    if (L.op.kind == Op::Kind::kConv) {
      wt = wt.view({L.op.out_c, L.op.in_c / L.op.groups, L.op.kernel, L.op.kernel});
    } else {
      wt = wt.view({L.op.out_c, L.op.in_c});
    }
    weights_.push_back(wt);
    biases_.push_back(torch::tensor(b));
  }
}

torch::Tensor FakeQuantNet::Forward(const torch::Tensor& images, IntegerNet::Trace* trace) const {
  torch::NoGradGuard no_grad;
  const auto& layers = net_.layers();
  const int64_t batch = images.size(0);
  if (trace) trace->assign(layers.size(), {});
  torch::Tensor x =
      FromCodes(QuantCodes(images.to(torch::kFloat32), net_.input(), 0, 255), net_.input());
  for (size_t i = 0; i < layers.size(); ++i) {
    const IntegerLayer& L = layers[i];
    const Op& op = L.op;
    switch (op.kind) {
      case Op::Kind::kConv:
        x = torch::conv2d(x, weights_[i], biases_[i], op.stride, op.pad, 1, op.groups);
        break;
      case Op::Kind::kDense:
        x = torch::linear(x, weights_[i], biases_[i]);
        break;
      case Op::Kind::kMaxPool:
        x = torch::max_pool2d(x, op.kernel, op.stride);
        break;
      case Op::Kind::kFlatten:
        x = x.flatten(1);
        break;
    }
    if (L.has_weights()) {
      const torch::Tensor codes = QuantCodes(x, L.output, L.act_min, L.act_max);
      x = FromCodes(codes, L.output);
      if (trace) {
        const torch::Tensor c = codes.to(torch::kUInt8).contiguous();
        (*trace)[i].assign(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + batch * L.out_size());
      }
    }
  }
  return x;
}

QuantReport Evaluate(const QuantizedModel& model, space::FactorizeNet& net, const Split& split,
                     const Normalization& normalize, const QuantOptions& options) {
  torch::NoGradGuard no_grad;
  EvalMode eval(net);
  const IntegerNet& qnet = model.net;
  const bool fake = options.mode == "fake";
  std::unique_ptr<FakeQuantNet> fq;
  if (fake) fq = std::make_unique<FakeQuantNet>(qnet);
  const int64_t n = split.size();
  const int batch = std::max(1, options.eval_batch);
  const int classes = static_cast<int>(qnet.output_size());
  std::vector<float> logits_fp32, logits_q;
  std::vector<double> signal(qnet.layers().size(), 0), noise(qnet.layers().size(), 0);
  int64_t correct_fp32 = 0, correct_q = 0;
  const torch::Tensor labels = split.labels.to(torch::kInt64).contiguous();
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    const torch::Tensor x = normalize(split.images.slice(0, b, e)).to(torch::kFloat32).contiguous();
    IntegerNet::Trace trace;
    std::vector<float> q;
    if (fake) {
      q = ToVector(fq->Forward(x, &trace));
    } else {
      const auto xq = qnet.QuantizeInput(x.data_ptr<float>(), e - b);
      q = qnet.Dequantize(qnet.Run(xq.data(), e - b, &trace));
    }
    const torch::Tensor f = net->forward_observed(x, [&](size_t i, const torch::Tensor& out) {
      const IntegerLayer& L = qnet.layers()[i];
      if (L.has_weights()) AccumulateSqnr(out, trace[i], L.output, &signal[i], &noise[i]);
    });
    const std::vector<float> fv = ToVector(f);
    const auto pf = Argmax(fv, classes), pq = Argmax(q, classes);
    const auto lab = labels.accessor<int64_t, 1>();
    for (int64_t i = 0; i < e - b; ++i) {
      correct_fp32 += pf[i] == lab[b + i];
      correct_q += pq[i] == lab[b + i];
    }
    logits_fp32.insert(logits_fp32.end(), fv.begin(), fv.end());
    logits_q.insert(logits_q.end(), q.begin(), q.end());
  }
  QuantReport r;
  QuantMetrics& m = r.metrics;
  m.images = n;
  m.acc_fp32 = n ? static_cast<double>(correct_fp32) / n : 0;
  m.acc_q = n ? static_cast<double>(correct_q) / n : 0;
  m.rel_decrease = m.acc_fp32 > 0 ? std::abs(m.acc_fp32 - m.acc_q) / m.acc_fp32 * 100 : 0;
  m.qmse = Qmse(logits_fp32, logits_q);
  m.qce = Qce(logits_fp32, logits_q, classes);
  r.layers = model.layers;
  for (size_t k = 0; k < r.layers.size(); ++k) {
    const int i = model.layer_ops[k];
    r.layers[k].sqnr_db = SqnrDb(signal[i], noise[i]);
  }
  return r;
}

QuantReport AnalyseModel(space::FactorizeNet& net, const Split& calibration, const Split& split,
                         const Normalization& normalize, const QuantOptions& options,
                         uint64_t seed) {
  const QuantizedModel model = QuantizeModel(net, calibration, normalize, options, seed);
  return Evaluate(model, net, split, normalize, options);
}

double FakeIntegerAgreement(const IntegerNet& net, const torch::Tensor& images, int batch) {
  const FakeQuantNet fq(net);
  const int64_t n = images.size(0);
  const int classes = static_cast<int>(net.output_size());
  int64_t same = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    const torch::Tensor x = images.slice(0, b, e).to(torch::kFloat32).contiguous();
    const auto xq = net.QuantizeInput(x.data_ptr<float>(), e - b);
    const auto pi = Argmax(net.Dequantize(net.Run(xq.data(), e - b)), classes);
    const auto pf = Argmax(ToVector(fq.Forward(x)), classes);
    for (size_t i = 0; i < pi.size(); ++i) same += pi[i] == pf[i];
  }
  return n ? static_cast<double>(same) / n : 0;
}

}  // namespace fnas::evaluators
