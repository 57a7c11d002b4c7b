#include "evaluators/quant/analysis.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <random>

#include "common/crashpoint.h"
#include "common/error.h"
#include "evaluators/quant/folded_net.h"
#include "evaluators/quant/quant_kernels.h"
#include "space/dense.h"

namespace fnas::evaluators {

using space::Op;

namespace {

std::vector<float> ToVector(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// [B, C, ...] -> [C, B * ...] contiguous: the values of each channel together.
torch::Tensor ByChannel(const torch::Tensor& t) {
  return t.detach().transpose(0, 1).reshape({t.size(1), -1}).to(torch::kFloat32).contiguous();
}

// Adds one batch of a tensor [B, C, ...] to its observation: exact
// per-channel min / max, the tensor's histogram (chunks in parallel, one
// local histogram per thread) and, when kept, the channels' histograms.
void Observe(const torch::Tensor& t, HistogramDetail detail, ObservedTensor* o) {
  const torch::Tensor x = t.detach().to(torch::kFloat32);
  // Per-channel extremes in one vectorized pass over the contiguous batch
  // (LibTorch's amin / amax over dims {0, 2, 3} made two strided passes, as
  // long as the forward pass itself).
  const torch::Tensor xc = x.contiguous();
  const int64_t channels = xc.size(1);
  const int64_t plane = channels > 0 && xc.size(0) > 0 ? xc.numel() / (xc.size(0) * channels) : 0;
  std::vector<float> lo_v(channels, std::numeric_limits<float>::infinity());
  std::vector<float> hi_v(channels, -std::numeric_limits<float>::infinity());
  const bool finite =
      kernels::ChannelExtremes(xc.data_ptr<float>(), xc.size(0), channels, plane, lo_v.data(),
                               hi_v.data(), kernels::CpuHasAvx512Vnni());
  const float* lo_a = lo_v.data();
  const float* hi_a = hi_v.data();
  if (o->channels.empty()) {
    o->channels.assign(channels, {std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity()});
  }
  double all_lo = std::numeric_limits<double>::infinity(), all_hi = -all_lo;
  for (int64_t c = 0; c < channels; ++c) {
    o->channels[c].lo = std::min<double>(o->channels[c].lo, lo_a[c]);
    o->channels[c].hi = std::max<double>(o->channels[c].hi, hi_a[c]);
    all_lo = std::min<double>(all_lo, lo_a[c]);
    all_hi = std::max<double>(all_hi, hi_a[c]);
  }
  if (!finite) all_lo = std::numeric_limits<double>::quiet_NaN();  // AddExtremes / Cover throw
  if (detail == HistogramDetail::kExtremes) {
    o->hist.AddExtremes(all_lo, all_hi, x.numel());  // throws when not finite
    return;
  }
  o->hist.Cover(all_lo, all_hi);  // throws when not finite
  // The tensor histogram does not care about the memory order: no copy.
  const torch::Tensor dense = x.is_non_overlapping_and_dense() ? x : x.contiguous();
  const float* data = dense.data_ptr<float>();
  const int64_t n = dense.numel();
  const int64_t chunk = 1 << 16;
  tbb::enumerable_thread_specific<RangeHistogram> local([o] { return o->hist.EmptyCopy(); });
  tbb::parallel_for(int64_t{0}, (n + chunk - 1) / chunk, [&](int64_t k) {
    local.local().Add(data + k * chunk, std::min(chunk, n - k * chunk));
  });
  for (const auto& h : local) o->hist.Merge(h);
  if (o->channel_hists.empty()) return;
  const torch::Tensor c = ByChannel(x);
  const int64_t per = c.size(1);
  const float* cd = c.data_ptr<float>();
  tbb::parallel_for(int64_t{0}, channels,
                    [&](int64_t ch) { o->channel_hists[ch].Add(cd + ch * per, per); });
}

// The chosen range of a tensor and its channel precision (see ChooseRanges).
RangeStats ChosenStats(const ObservedTensor& o, CalibrationMethod method, double percent,
                       Interval* chosen) {
  *chosen = o.hist.Range(method, percent);
  std::vector<Interval> ch;
  if (method == CalibrationMethod::kPercentile && !o.channel_hists.empty()) {
    for (const auto& h : o.channel_hists) ch.push_back(h.Percentile(percent));
  } else {
    for (const Interval& c : o.channels) {
      ch.push_back(
          {std::clamp(c.lo, chosen->lo, chosen->hi), std::clamp(c.hi, chosen->lo, chosen->hi)});
    }
  }
  return MakeRangeStats(*chosen, ch);
}

CalibrationMethod MethodOf(const std::string& name) {
  CalibrationMethod m;
  if (!ParseCalibrationMethod(name, &m)) {
    throw RuntimeError("unknown calibration method '" + name + "'");
  }
  return m;
}

using Clock = std::chrono::steady_clock;

// Wall time per phase name, in order of first use.
class PhaseTimes {
 public:
  void Add(const std::string& name, Clock::time_point since) {
    const double s = std::chrono::duration<double>(Clock::now() - since).count();
    for (Phase& p : phases_) {
      if (p.name == name) {
        p.seconds += s;
        return;
      }
    }
    phases_.push_back({name, s});
  }
  std::vector<Phase>& phases() { return phases_; }

 private:
  std::vector<Phase> phases_;
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
  float deq[256];  // the dequantized value of every code
  for (int c = 0; c < 256; ++c) deq[c] = DequantizeValue(c, q);
  double s = 0, e = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = a[i] - deq[codes[i]];
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

HistogramDetail DetailFor(const std::vector<CalibrationMethod>& methods) {
  HistogramDetail d = HistogramDetail::kExtremes;
  for (CalibrationMethod m : methods) {
    if (m == CalibrationMethod::kPercentile) return HistogramDetail::kTensorAndChannels;
    if (m != CalibrationMethod::kMinMax) d = HistogramDetail::kTensor;
  }
  return d;
}

CalibrationHistograms ObserveActivations(const FoldedNet& net, const torch::Tensor& images,
                                         int batch, HistogramDetail detail) {
  const bool channel_histograms = detail == HistogramDetail::kTensorAndChannels;
  const space::Plan& plan = net.plan();
  const int64_t n = images.size(0);
  if (n == 0) throw RuntimeError("calibration needs at least one image");
  CalibrationHistograms h;
  h.samples = n;
  h.ops.resize(plan.ops.size());
  const auto start = [channel_histograms](ObservedTensor* o, int64_t channels) {
    if (channel_histograms) o->channel_hists.assign(channels, RangeHistogram(1024));
  };
  start(&h.input, images.size(1));
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    if (HasWeights(plan.ops[i])) start(&h.ops[i], plan.ops[i].out_c);
  }
  // Exact extremes do not depend on how the images are batched (histograms
  // do: their bins follow the first batch's range), and the forward with its
  // reorders for the observer and the extremes pass run about 15 % faster on
  // batches that stay in cache.
  const int64_t step = detail == HistogramDetail::kExtremes ? std::min(batch, 64) : batch;
  for (int64_t b = 0; b < n; b += step) {
    const torch::Tensor x = images.slice(0, b, std::min(n, b + step));
    Observe(x, detail, &h.input);
    net.Forward(x, [&](size_t i, const torch::Tensor& out) {
      if (!HasWeights(plan.ops[i])) return;
      try {
        Observe(out, detail, &h.ops[i]);
      } catch (const RuntimeError&) {
        throw RuntimeError("calibration: the output of " + plan.ops[i].name +
                           " is not finite (has the model diverged?)");
      }
    });
  }
  return h;
}

CalibrationHistograms ObserveActivations(const space::FactorizeNet& net,
                                         const torch::Tensor& images, int batch,
                                         HistogramDetail detail) {
  return ObserveActivations(FoldedNet(net->plan(), FoldNet(net)), images, batch, detail);
}

Calibration ChooseRanges(const CalibrationHistograms& h, const space::Plan& plan,
                         CalibrationMethod method, double percent) {
  Calibration c;
  c.samples = h.samples;
  c.method = CalibrationMethodName(method);
  Interval chosen;
  c.input_stats = ChosenStats(h.input, method, percent, &chosen);
  c.input = ChooseQParams(chosen.lo, chosen.hi);
  c.outputs.resize(plan.ops.size());
  c.activations.resize(plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    if (!HasWeights(plan.ops[i])) continue;
    c.activations[i] = ChosenStats(h.ops[i], method, percent, &chosen);
    c.outputs[i] = ChooseQParams(chosen.lo, chosen.hi);
  }
  return c;
}

Calibration Calibrate(const space::FactorizeNet& net, const torch::Tensor& images,
                      CalibrationMethod method, double percent, int batch) {
  const CalibrationHistograms h = ObserveActivations(net, images, batch, DetailFor({method}));
  return ChooseRanges(h, net->plan(), method, percent);
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
  CrashPoint("calibration");
  const CalibrationMethod primary = MethodOf(options.calibration);
  std::vector<CalibrationMethod> others;
  for (const std::string& name : options.record_methods) {
    const CalibrationMethod m = MethodOf(name);
    if (m != primary && std::find(others.begin(), others.end(), m) == others.end()) {
      others.push_back(m);
    }
  }
  std::vector<CalibrationMethod> all = others;
  all.push_back(primary);
  PhaseTimes times;
  auto t = Clock::now();
  const auto idx = SampleIndices(calibration.size(), options.calibration_samples, seed);
  const torch::Tensor sel = torch::tensor(idx, torch::kInt64);
  const torch::Tensor images =
      normalize(calibration.images.index_select(0, sel)).to(torch::kFloat32).contiguous();
  times.Add("sample", t);
  t = Clock::now();
  const std::vector<FloatLayer> folded = FoldNet(net);
  const CalibrationHistograms hist = ObserveActivations(
      FoldedNet(net->plan(), folded), images, std::max(1, options.eval_batch), DetailFor(all));
  times.Add("calibrate", t);
  t = Clock::now();
  const space::Plan& plan = net->plan();
  QuantizedModel m;
  m.calibration = ChooseRanges(hist, plan, primary, options.percentile);
  std::vector<Calibration> other_ranges;
  for (CalibrationMethod o : others) {
    other_ranges.push_back(ChooseRanges(hist, plan, o, options.percentile));
  }
  times.Add("ranges", t);
  t = Clock::now();
  m.net = IntegerNet(plan, m.calibration.input, folded, m.calibration.outputs);
  for (const Calibration& c : other_ranges) {
    m.others.push_back({c.method, IntegerNet(plan, c.input, folded, c.outputs)});
  }
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
  times.Add("build", t);
  m.phases = std::move(times.phases());
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
        x = space::Dense(x, weights_[i], biases_[i]);
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

namespace {

// Running counts of one quantized path against the fp32 one.
struct PathTally {
  int64_t correct = 0;
  std::vector<float> logits;
};

QuantMetrics MetricsOf(const PathTally& q, int64_t correct_fp32, const std::vector<float>& fp32,
                       int64_t n, int classes) {
  QuantMetrics m;
  m.images = n;
  m.acc_fp32 = n ? static_cast<double>(correct_fp32) / n : 0;
  m.acc_q = n ? static_cast<double>(q.correct) / n : 0;
  m.rel_decrease = RelativeDecrease(m.acc_fp32, m.acc_q);
  m.qmse = Qmse(fp32, q.logits);
  m.qce = Qce(fp32, q.logits, classes);
  return m;
}

}  // namespace

QuantReport Evaluate(const QuantizedModel& model, space::FactorizeNet& net, const Split& split,
                     const Normalization& normalize, const QuantOptions& options) {
  torch::NoGradGuard no_grad;
  PhaseTimes times;
  for (const Phase& p : model.phases) times.phases().push_back(p);
  auto t0 = Clock::now();
  const FoldedNet fp32(net->plan(), FoldNet(net));
  times.Add("fp32", t0);
  // The primary method's net first, then the recorded ones.
  std::vector<const IntegerNet*> nets = {&model.net};
  std::vector<std::string> names = {model.calibration.method};
  for (const MethodNet& o : model.others) {
    nets.push_back(&o.net);
    names.push_back(o.method);
  }
  const bool fake = options.mode == "fake";
  std::vector<std::unique_ptr<FakeQuantNet>> fq(nets.size());
  if (fake || options.fake_agreement) {
    for (size_t k = 0; k < nets.size(); ++k) {
      if (fake || k == 0) fq[k] = std::make_unique<FakeQuantNet>(*nets[k]);
    }
  }
  const IntegerNet& qnet = model.net;
  const int64_t n = split.size();
  const int batch = std::max(1, options.eval_batch);
  const int64_t sqnr_limit = options.sqnr_samples > 0 ? options.sqnr_samples : n;
  const int classes = static_cast<int>(qnet.output_size());
  std::vector<float> logits_fp32;
  std::vector<PathTally> tally(nets.size());
  std::vector<double> signal(qnet.layers().size(), 0), noise(qnet.layers().size(), 0);
  int64_t correct_fp32 = 0, agree = 0, sqnr_images = 0;
  const torch::Tensor labels = split.labels.to(torch::kInt64).contiguous();
  const auto lab = labels.accessor<int64_t, 1>();
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    const bool sqnr = b < sqnr_limit;
    auto t = Clock::now();
    const torch::Tensor x = normalize(split.images.slice(0, b, e)).to(torch::kFloat32).contiguous();
    times.Add("normalize", t);
    t = Clock::now();
    IntegerNet::Trace trace;
    std::vector<std::vector<float>> q(nets.size());
    for (size_t k = 0; k < nets.size(); ++k) {
      IntegerNet::Trace* tr = k == 0 && sqnr ? &trace : nullptr;
      if (fake) {
        q[k] = ToVector(fq[k]->Forward(x, tr));
      } else {
        const auto xq = nets[k]->QuantizeInput(x.data_ptr<float>(), e - b);
        q[k] = nets[k]->Dequantize(nets[k]->Run(xq.data(), e - b, tr));
      }
    }
    times.Add(fake ? "fake" : "integer", t);
    t = Clock::now();
    Clock::duration sqnr_time{};
    const auto observe = [&](size_t i, const torch::Tensor& out) {
      const IntegerLayer& L = qnet.layers()[i];
      if (!L.has_weights()) return;
      const auto s0 = Clock::now();
      AccumulateSqnr(out, trace[i], L.output, &signal[i], &noise[i]);
      sqnr_time += Clock::now() - s0;
    };
    const torch::Tensor f =
        sqnr ? fp32.Forward(x, observe) : fp32.Forward(x, FoldedNet::Observer());
    const std::vector<float> fv = ToVector(f);
    times.Add("fp32", t + sqnr_time);
    times.Add("sqnr", Clock::now() - sqnr_time);
    if (sqnr) sqnr_images += e - b;
    if (options.fake_agreement && !fake) {
      t = Clock::now();
      const auto pf = Argmax(ToVector(fq[0]->Forward(x)), classes);
      const auto pi = Argmax(q[0], classes);
      for (size_t i = 0; i < pf.size(); ++i) agree += pf[i] == pi[i];
      times.Add("fake", t);
    }
    t = Clock::now();
    const auto pf = Argmax(fv, classes);
    for (int64_t i = 0; i < e - b; ++i) correct_fp32 += pf[i] == lab[b + i];
    for (size_t k = 0; k < nets.size(); ++k) {
      const auto pq = Argmax(q[k], classes);
      for (int64_t i = 0; i < e - b; ++i) tally[k].correct += pq[i] == lab[b + i];
      tally[k].logits.insert(tally[k].logits.end(), q[k].begin(), q[k].end());
    }
    logits_fp32.insert(logits_fp32.end(), fv.begin(), fv.end());
    times.Add("metrics", t);
  }
  auto t = Clock::now();
  QuantReport r;
  r.method = names[0];
  for (size_t k = 0; k < nets.size(); ++k) {
    r.methods.push_back({names[k], MetricsOf(tally[k], correct_fp32, logits_fp32, n, classes)});
  }
  if (options.fake_agreement) {
    r.methods[0].metrics.fake_agreement = fake ? 1.0 : n ? static_cast<double>(agree) / n : 0;
  }
  r.metrics = r.methods[0].metrics;
  r.layers = model.layers;
  for (size_t k = 0; k < r.layers.size(); ++k) {
    const int i = model.layer_ops[k];
    r.layers[k].sqnr_db = SqnrDb(signal[i], noise[i]);
  }
  times.Add("metrics", t);
  r.phases = std::move(times.phases());
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
