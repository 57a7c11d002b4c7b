#include "evaluators/quant_net.h"

#include <immintrin.h>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace fnas::evaluators {

using space::Op;

struct Scratch {
  std::vector<uint8_t> a, b;   // ping-pong activations of one image
  std::vector<int16_t> col;    // im2col of one group, pairs interleaved
  std::vector<int32_t> acc;    // int32 accumulators of one group
};

namespace {

int64_t RoundUpEven(int64_t k) { return (k + 1) & ~int64_t{1}; }

bool CpuHasVnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

// acc[o][p] += sum_k w[o][k] * col[k][p] for o < cout, p < P; w is [cout][kp],
// col is [kp / 2][P][2] (pairs of k interleaved per pixel).
void GemmPortable(const int16_t* w, int cout, int64_t kp, const int16_t* col, int64_t P,
                  int32_t* acc) {
  for (int o = 0; o < cout; ++o) {
    int32_t* a = acc + o * P;
    const int16_t* wr = w + o * kp;
    for (int64_t kk = 0; kk < kp / 2; ++kk) {
      const int32_t w0 = wr[2 * kk], w1 = wr[2 * kk + 1];
      const int16_t* c = col + kk * P * 2;
      for (int64_t p = 0; p < P; ++p) a[p] += w0 * c[2 * p] + w1 * c[2 * p + 1];
    }
  }
}

// The same with AVX-512 VNNI: a block of NO output channels x 64 pixels lives
// in 4 * NO zmm accumulators; each step multiplies a pair of k of 16 pixels by
// a broadcast pair of weights (vpdpwssd: 32 int16 MACs into 16 int32).
template <int NO>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void VnniBlock(
    const int16_t* w, int64_t kp, const int16_t* col, int64_t P, int64_t p0, int32_t* acc) {
  __mmask16 m[4];
  for (int v = 0; v < 4; ++v) {
    const int64_t left = P - (p0 + 16 * v);
    m[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
  }
  __m512i a[NO][4];
  for (int o = 0; o < NO; ++o) {
    for (int v = 0; v < 4; ++v) a[o][v] = _mm512_maskz_loadu_epi32(m[v], acc + o * P + p0 + 16 * v);
  }
  const int32_t* w32[NO];
  for (int o = 0; o < NO; ++o) w32[o] = reinterpret_cast<const int32_t*>(w + o * kp);
  const int32_t* c32 = reinterpret_cast<const int32_t*>(col);
  for (int64_t kk = 0; kk < kp / 2; ++kk) {
    const int32_t* c = c32 + kk * P + p0;
    __m512i cv[4];
    for (int v = 0; v < 4; ++v) cv[v] = _mm512_maskz_loadu_epi32(m[v], c + 16 * v);
    for (int o = 0; o < NO; ++o) {
      const __m512i wb = _mm512_set1_epi32(w32[o][kk]);
      for (int v = 0; v < 4; ++v) a[o][v] = _mm512_dpwssd_epi32(a[o][v], cv[v], wb);
    }
  }
  for (int o = 0; o < NO; ++o) {
    for (int v = 0; v < 4; ++v) _mm512_mask_storeu_epi32(acc + o * P + p0 + 16 * v, m[v], a[o][v]);
  }
}

void GemmVnni(const int16_t* w, int cout, int64_t kp, const int16_t* col, int64_t P,
              int32_t* acc) {
  for (int64_t p0 = 0; p0 < P; p0 += 64) {
    int o = 0;
    for (; o + 4 <= cout; o += 4) VnniBlock<4>(w + o * kp, kp, col, P, p0, acc + o * P);
    switch (cout - o) {
      case 3: VnniBlock<3>(w + o * kp, kp, col, P, p0, acc + o * P); break;
      case 2: VnniBlock<2>(w + o * kp, kp, col, P, p0, acc + o * P); break;
      case 1: VnniBlock<1>(w + o * kp, kp, col, P, p0, acc + o * P); break;
      default: break;
    }
  }
}

int32_t DotPortable(const int16_t* w, const int16_t* x, int64_t n) {
  int32_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<int32_t>(w[i]) * x[i];
  return s;
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t DotVnni(const int16_t* w,
                                                                          const int16_t* x,
                                                                          int64_t n) {
  __m512i s = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s = _mm512_dpwssd_epi32(s, _mm512_loadu_si512(w + i), _mm512_loadu_si512(x + i));
  }
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, s);
  int32_t r = 0;
  for (int l = 0; l < 16; ++l) r += lanes[l];
  for (; i < n; ++i) r += static_cast<int32_t>(w[i]) * x[i];
  return r;
}

uint8_t Requantize(int32_t acc, const IntegerLayer& L) {
  int32_t v = MultiplyByQuantizedMultiplier(acc, L.multiplier, L.shift) + L.output.zero_point;
  return static_cast<uint8_t>(std::clamp(v, L.act_min, L.act_max));
}

void Conv(const IntegerLayer& L, const int16_t* wq, int64_t kp, bool vnni, const uint8_t* in,
          uint8_t* out, Scratch& s) {
  const Op& op = L.op;
  const int ks = op.kernel, groups = op.groups;
  const int cin_g = op.in_c / groups, cout_g = op.out_c / groups;
  const int H = op.in_h, W = op.in_w, OH = op.out_h, OW = op.out_w;
  const int64_t P = int64_t{OH} * OW, K = int64_t{cin_g} * ks * ks;
  const int16_t zin = static_cast<int16_t>(L.input.zero_point);
  s.col.resize(kp * P);
  s.acc.resize(int64_t{cout_g} * P);
  for (int g = 0; g < groups; ++g) {
    // im2col: row k = (c, ky, kx); zero padding is real 0, i.e. q - z_in = 0.
    for (int c = 0; c < cin_g; ++c) {
      const uint8_t* plane = in + int64_t{g * cin_g + c} * H * W;
      for (int ky = 0; ky < ks; ++ky) {
        for (int kx = 0; kx < ks; ++kx) {
          const int64_t k = (int64_t{c} * ks + ky) * ks + kx;
          int16_t* dst = s.col.data() + (k / 2) * P * 2 + (k & 1);
          for (int oy = 0; oy < OH; ++oy) {
            const int iy = oy * op.stride - op.pad + ky;
            int16_t* d = dst + int64_t{oy} * OW * 2;
            if (iy < 0 || iy >= H) {
              for (int ox = 0; ox < OW; ++ox) d[2 * ox] = 0;
              continue;
            }
            const uint8_t* row = plane + int64_t{iy} * W;
            for (int ox = 0; ox < OW; ++ox) {
              const int ix = ox * op.stride - op.pad + kx;
              d[2 * ox] = (ix >= 0 && ix < W) ? static_cast<int16_t>(row[ix] - zin) : 0;
            }
          }
        }
      }
    }
    if (kp != K) {  // odd K: the last pair's second slot is 0
      int16_t* dst = s.col.data() + (K / 2) * P * 2 + 1;
      for (int64_t p = 0; p < P; ++p) dst[2 * p] = 0;
    }
    for (int o = 0; o < cout_g; ++o) {
      std::fill_n(s.acc.data() + o * P, P, L.bias[g * cout_g + o]);
    }
    const int16_t* wg = wq + int64_t{g} * cout_g * kp;
    if (vnni) {
      GemmVnni(wg, cout_g, kp, s.col.data(), P, s.acc.data());
    } else {
      GemmPortable(wg, cout_g, kp, s.col.data(), P, s.acc.data());
    }
    uint8_t* og = out + int64_t{g} * cout_g * P;
    for (int64_t i = 0; i < int64_t{cout_g} * P; ++i) og[i] = Requantize(s.acc[i], L);
  }
}

void Dense(const IntegerLayer& L, const int16_t* wq, int64_t kp, bool vnni, const uint8_t* in,
           uint8_t* out, Scratch& s) {
  const int64_t n = L.op.in_c;
  s.col.assign(kp, 0);
  for (int64_t i = 0; i < n; ++i) s.col[i] = static_cast<int16_t>(in[i] - L.input.zero_point);
  for (int o = 0; o < L.op.out_c; ++o) {
    const int16_t* w = wq + o * kp;
    const int32_t dot = vnni ? DotVnni(w, s.col.data(), kp) : DotPortable(w, s.col.data(), kp);
    out[o] = Requantize(dot + L.bias[o], L);
  }
}

void MaxPool(const IntegerLayer& L, const uint8_t* in, uint8_t* out) {
  const Op& op = L.op;
  for (int c = 0; c < op.out_c; ++c) {
    const uint8_t* plane = in + int64_t{c} * op.in_h * op.in_w;
    for (int oy = 0; oy < op.out_h; ++oy) {
      for (int ox = 0; ox < op.out_w; ++ox) {
        uint8_t m = 0;
        for (int ky = 0; ky < op.kernel; ++ky) {
          const int iy = oy * op.stride + ky;
          if (iy >= op.in_h) continue;
          for (int kx = 0; kx < op.kernel; ++kx) {
            const int ix = ox * op.stride + kx;
            if (ix < op.in_w) m = std::max(m, plane[int64_t{iy} * op.in_w + ix]);
          }
        }
        out[(int64_t{c} * op.out_h + oy) * op.out_w + ox] = m;
      }
    }
  }
}

}  // namespace

IntegerNet::IntegerNet(const space::Plan& plan, const QParams& input,
                       const std::vector<FloatLayer>& layers, const std::vector<QParams>& outputs)
    : input_(input) {
  if (layers.size() != plan.ops.size() || outputs.size() != plan.ops.size()) {
    throw RuntimeError("IntegerNet: " + std::to_string(plan.ops.size()) + " ops but " +
                       std::to_string(layers.size()) + " layers and " +
                       std::to_string(outputs.size()) + " output parameters");
  }
  QParams current = input;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    IntegerLayer L;
    L.op = plan.ops[i];
    L.input = current;
    L.output = current;
    if (L.has_weights()) {
      const Op& op = L.op;
      const size_t wsize = op.kind == Op::Kind::kConv
                               ? size_t(op.out_c) * (op.in_c / op.groups) * op.kernel * op.kernel
                               : size_t(op.out_c) * op.in_c;
      const FloatLayer& f = layers[i];
      if (f.weight.size() != wsize || f.bias.size() != size_t(op.out_c)) {
        throw RuntimeError("IntegerNet: op " + op.name + " expects " + std::to_string(wsize) +
                           " weights and " + std::to_string(op.out_c) + " biases, got " +
                           std::to_string(f.weight.size()) + " and " +
                           std::to_string(f.bias.size()));
      }
      const auto [lo, hi] = std::minmax_element(f.weight.begin(), f.weight.end());
      L.weight = ChooseQParams(*lo, *hi);
      L.weights.resize(wsize);
      for (size_t k = 0; k < wsize; ++k) L.weights[k] = QuantizeValue(f.weight[k], L.weight);
      const double bias_scale = L.input.scale * L.weight.scale;
      L.bias.resize(op.out_c);
      for (int o = 0; o < op.out_c; ++o) L.bias[o] = QuantizeBias(f.bias[o], bias_scale);
      L.output = outputs[i];
      L.real_multiplier = bias_scale / L.output.scale;
      QuantizeMultiplier(L.real_multiplier, &L.multiplier, &L.shift);
      L.act_min = op.relu ? L.output.zero_point : 0;
      L.act_max = 255;
    }
    current = L.output;
    layers_.push_back(std::move(L));
  }
  Prepare();
}

IntegerNet::IntegerNet(const QParams& input, std::vector<IntegerLayer> layers)
    : input_(input), layers_(std::move(layers)) {
  if (layers_.empty()) throw RuntimeError("IntegerNet: no layers");
  Prepare();
}

void IntegerNet::Prepare() {
  wq_.assign(layers_.size(), {});
  kpad_.assign(layers_.size(), 0);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const IntegerLayer& L = layers_[i];
    if (!L.has_weights()) continue;
    const int64_t k = L.op.out_c > 0 ? int64_t(L.weights.size()) / L.op.out_c : 0;
    kpad_[i] = static_cast<int>(RoundUpEven(k));
    std::vector<int16_t>& w = wq_[i];
    w.assign(size_t(L.op.out_c) * kpad_[i], 0);
    for (int o = 0; o < L.op.out_c; ++o) {
      for (int64_t j = 0; j < k; ++j) {
        w[o * kpad_[i] + j] = static_cast<int16_t>(L.weights[o * k + j] - L.weight.zero_point);
      }
    }
  }
}

bool IntegerNet::uses_vnni() const {
  static const bool has = CpuHasVnni();
  return has && !portable_;
}

std::vector<uint8_t> IntegerNet::QuantizeInput(const float* images, int64_t n) const {
  std::vector<uint8_t> out(n * input_size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = QuantizeValue(images[i], input_);
  return out;
}

void IntegerNet::RunOne(const uint8_t* image, uint8_t* logits, Trace* trace, int64_t index,
                        Scratch& s) const {
  const bool vnni = uses_vnni();
  int64_t largest = input_size();
  for (const IntegerLayer& L : layers_) largest = std::max(largest, L.out_size());
  s.a.resize(largest);
  s.b.resize(largest);
  std::copy_n(image, input_size(), s.a.data());
  for (size_t i = 0; i < layers_.size(); ++i) {
    const IntegerLayer& L = layers_[i];
    switch (L.op.kind) {
      case Op::Kind::kConv:
        Conv(L, wq_[i].data(), kpad_[i], vnni, s.a.data(), s.b.data(), s);
        break;
      case Op::Kind::kDense:
        Dense(L, wq_[i].data(), kpad_[i], vnni, s.a.data(), s.b.data(), s);
        break;
      case Op::Kind::kMaxPool: MaxPool(L, s.a.data(), s.b.data()); break;
      case Op::Kind::kFlatten: std::copy_n(s.a.data(), L.out_size(), s.b.data()); break;
    }
    std::swap(s.a, s.b);
    if (trace && L.has_weights()) {
      std::copy_n(s.a.data(), L.out_size(), (*trace)[i].data() + index * L.out_size());
    }
  }
  std::copy_n(s.a.data(), output_size(), logits);
}

std::vector<uint8_t> IntegerNet::Run(const uint8_t* images, int64_t batch, Trace* trace) const {
  std::vector<uint8_t> logits(batch * output_size());
  if (trace) {
    trace->assign(layers_.size(), {});
    for (size_t i = 0; i < layers_.size(); ++i) {
      if (layers_[i].has_weights()) (*trace)[i].resize(batch * layers_[i].out_size());
    }
  }
  tbb::enumerable_thread_specific<Scratch> scratch;
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, batch), [&](const auto& r) {
    Scratch& s = scratch.local();
    for (int64_t b = r.begin(); b < r.end(); ++b) {
      RunOne(images + b * input_size(), logits.data() + b * output_size(), trace, b, s);
    }
  });
  return logits;
}

std::vector<float> IntegerNet::Dequantize(const std::vector<uint8_t>& logits) const {
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = DequantizeValue(logits[i], output());
  return out;
}

}  // namespace fnas::evaluators
