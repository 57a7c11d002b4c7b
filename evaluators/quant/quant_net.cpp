#include "evaluators/quant/quant_net.h"

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <limits>

#include "common/error.h"
#include "evaluators/quant/quant_kernels.h"

namespace fnas::evaluators {

using space::Op;

struct Scratch {
  std::vector<uint8_t> a, b;    // ping-pong activations of one image
  std::vector<int16_t> col;     // im2col of one group, pairs interleaved
  std::vector<int32_t> acc;     // int32 accumulators of one group
  std::vector<int16_t> padded;  // zero-padded int16 input of a conv (q - z_in)
  std::vector<int16_t> zeros;   // a zero row (odd K)
  std::vector<int32_t> xpair;   // zero-padded input as channel pairs (direct kernel)
  std::vector<int16_t> plane;   // one zero-padded int16 input plane (depthwise kernel)
  std::vector<uint32_t> xquad;  // input as channel quads, padded with z_in (quad kernel)
  std::vector<int32_t> sums;    // window sums of the inputs of one group (quad kernel)
  std::vector<int32_t> ones;    // int8 weights of 1 (the window sums)
};

namespace {

int64_t RoundUpEven(int64_t k) { return (k + 1) & ~int64_t{1}; }

int32_t Pack(int16_t lo, int16_t hi) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(lo)) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
}

// Whether a conv is depthwise with "same" stride-1 output (depthwise kernel).
bool UsesDepthwise(const Op& op) {
  return op.kind == Op::Kind::kConv && op.stride == 1 && op.groups == op.in_c &&
         op.groups == op.out_c && op.out_h == op.in_h + 2 * op.pad - op.kernel + 1 &&
         op.out_w == op.in_w + 2 * op.pad - op.kernel + 1;
}

// Whether a conv runs on the direct channel-pair kernel (AVX-512 only).
bool UsesDirect(const Op& op) {
  return op.kind == Op::Kind::kConv && op.stride == 1 && (op.in_c / op.groups) % 2 == 0 &&
         op.out_h == op.in_h + 2 * op.pad - op.kernel + 1 &&
         op.out_w == op.in_w + 2 * op.pad - op.kernel + 1;
}

// Whether a conv runs on the direct u8 x s8 channel-quad kernel (AVX-512
// only).
bool UsesQuads(const Op& op) { return UsesDirect(op) && (op.in_c / op.groups) % 4 == 0; }

// The im2col, GEMM and requantization kernels are in quant_kernels.cpp.
// Generic im2col of group g (any stride), pairs of k interleaved per pixel.
void Im2ColGeneric(const IntegerLayer& L, int g, const uint8_t* in, int64_t kp, int16_t* col) {
  const Op& op = L.op;
  const int ks = op.kernel, cin_g = op.in_c / op.groups;
  const int H = op.in_h, W = op.in_w, OH = op.out_h, OW = op.out_w;
  const int64_t P = int64_t{OH} * OW, K = int64_t{cin_g} * ks * ks;
  const int16_t zin = static_cast<int16_t>(L.input.zero_point);
  for (int c = 0; c < cin_g; ++c) {
    const uint8_t* plane = in + int64_t{g * cin_g + c} * H * W;
    for (int ky = 0; ky < ks; ++ky) {
      for (int kx = 0; kx < ks; ++kx) {
        const int64_t k = (int64_t{c} * ks + ky) * ks + kx;
        int16_t* dst = col + (k / 2) * P * 2 + (k & 1);
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
            // Zero padding is real 0, i.e. q - z_in = 0.
            d[2 * ox] = (ix >= 0 && ix < W) ? static_cast<int16_t>(row[ix] - zin) : 0;
          }
        }
      }
    }
  }
  if (kp != K) {  // odd K: the last pair's second slot is 0
    int16_t* dst = col + (K / 2) * P * 2 + 1;
    for (int64_t p = 0; p < P; ++p) dst[2 * p] = 0;
  }
}

// Stride-1 im2col from the zero-padded int16 input `xs` [in_c][Hp][Wp]
// (q - z_in, borders 0): every row of the column matrix is a contiguous run
// of xs, so rows are interleaved in pairs without branches.
void Im2ColStride1(const IntegerLayer& L, int g, const int16_t* xs, const int16_t* zeros,
                   int64_t kp, bool avx512, int16_t* col) {
  const Op& op = L.op;
  const int ks = op.kernel, cin_g = op.in_c / op.groups;
  const int Hp = op.in_h + 2 * op.pad, Wp = op.in_w + 2 * op.pad;
  const int OH = op.out_h, OW = op.out_w;
  const int64_t P = int64_t{OH} * OW, K = int64_t{cin_g} * ks * ks;
  const bool whole_plane = ks == 1 && op.pad == 0;  // 1x1: a row is the whole plane
  const auto row = [&](int64_t k, int oy) -> const int16_t* {
    if (k >= K) return zeros;
    const int64_t c = k / (ks * ks), ky = (k / ks) % ks, kx = k % ks;
    return xs + ((g * cin_g + c) * Hp + oy + ky) * Wp + kx;
  };
  for (int64_t kk = 0; kk < kp / 2; ++kk) {
    int16_t* dst = col + kk * P * 2;
    if (whole_plane) {
      kernels::InterleavePairs(row(2 * kk, 0), row(2 * kk + 1, 0), P, dst, avx512);
      continue;
    }
    for (int oy = 0; oy < OH; ++oy) {
      kernels::InterleavePairs(row(2 * kk, oy), row(2 * kk + 1, oy), OW, dst + int64_t{oy} * OW * 2,
                               avx512);
    }
  }
}

// Requantizes one group's accumulators, cout_g channels of out_h rows of
// out_w values Wp apart (the padded width), into its uint8 output channels.
void RequantizeGroup(const IntegerLayer& L, const int32_t* acc, int cout_g, int Wp, uint8_t* out) {
  const Op& op = L.op;
  if (Wp == op.out_w) {
    kernels::RequantizeRow(acc, int64_t{cout_g} * op.out_h * Wp, L.multiplier, L.shift,
                           L.output.zero_point, L.act_min, L.act_max, out, true);
  } else {
    kernels::RequantizeRows(acc, int64_t{cout_g} * op.out_h, op.out_w, Wp, L.multiplier, L.shift,
                            L.output.zero_point, L.act_min, L.act_max, out, op.out_w, true);
  }
}

// Stride-1 conv without im2col: the zero-padded input as int32 channel pairs
// [in_c / 2][Hp * Wp + slack]; output position q = oy * Wp + ox over the
// padded width (the Wp - OW extra columns are computed and dropped), so that
// every tap (ky, kx) reads a contiguous run at offset ky * Wp + kx.
void ConvDirect(const IntegerLayer& L, const int32_t* wpair, const uint8_t* in, uint8_t* out,
                Scratch& s) {
  const Op& op = L.op;
  const int ks = op.kernel, groups = op.groups;
  const int cin_g = op.in_c / groups, cout_g = op.out_c / groups, pairs = cin_g / 2;
  const int Hp = op.in_h + 2 * op.pad, Wp = op.in_w + 2 * op.pad;
  const int64_t plane = int64_t{Hp} * Wp + ks, Q = int64_t{op.out_h} * Wp;
  const int16_t zin = static_cast<int16_t>(L.input.zero_point);
  s.xpair.assign((op.in_c / 2) * plane, 0);
  for (int cc = 0; cc < op.in_c / 2; ++cc) {
    const uint8_t* a = in + int64_t{2 * cc} * op.in_h * op.in_w;
    const uint8_t* b = a + int64_t{op.in_h} * op.in_w;
    if (op.pad == 0) {  // rows are contiguous in the padded layout too
      kernels::PackPairs(a, b, int64_t{op.in_h} * op.in_w, zin, s.xpair.data() + cc * plane, true);
      continue;
    }
    for (int y = 0; y < op.in_h; ++y) {
      int32_t* d = s.xpair.data() + cc * plane + int64_t{y + op.pad} * Wp + op.pad;
      const int64_t r = int64_t{y} * op.in_w;
      kernels::PackPairs(a + r, b + r, op.in_w, zin, d, true);
    }
  }
  int64_t offsets[64];
  for (int ky = 0; ky < ks; ++ky) {
    for (int kx = 0; kx < ks; ++kx) offsets[ky * ks + kx] = int64_t{ky} * Wp + kx;
  }
  const int taps = ks * ks;
  s.acc.resize(int64_t{cout_g} * Q);
  const int64_t P = int64_t{op.out_h} * op.out_w;
  for (int g = 0; g < groups; ++g) {
    for (int o = 0; o < cout_g; ++o) std::fill_n(s.acc.data() + o * Q, Q, L.bias[g * cout_g + o]);
    kernels::DirectConvPairs(wpair + int64_t{g} * cout_g * pairs * taps, cout_g, pairs, taps,
                             offsets, s.xpair.data() + int64_t{g} * pairs * plane, plane, Q,
                             s.acc.data());
    RequantizeGroup(L, s.acc.data(), cout_g, Wp, out + int64_t{g} * cout_g * P);
  }
}

// ConvDirect with u8 x s8 products over channel quads (vpdpbusd: twice the
// MACs per instruction of the int16 pairs). The padded input holds the raw
// codes q (borders z_in, so that q - z_in is 0 there) and the weights
// q_w - 128 (int8); per output position q and channel o:
//   sum (x - z_in)(q_w - z_w) = sum x (q_w - 128) + (128 - z_w) S(q) - z_in sum (q_w - z_w),
// where S(q) is the sum of the inputs over the window (the same kernel with
// weights of 1) and the last term is folded into the bias (qbias). Every
// term is an exact integer, so the accumulators equal ConvDirect's.
void ConvQuads(const IntegerLayer& L, const int32_t* wquad, const int32_t* qbias, const uint8_t* in,
               uint8_t* out, Scratch& s) {
  const Op& op = L.op;
  const int ks = op.kernel, groups = op.groups, taps = ks * ks;
  const int cin_g = op.in_c / groups, cout_g = op.out_c / groups, quads = cin_g / 4;
  const int Hp = op.in_h + 2 * op.pad, Wp = op.in_w + 2 * op.pad;
  const int64_t plane = int64_t{Hp} * Wp + ks, Q = int64_t{op.out_h} * Wp;
  const int64_t HW = int64_t{op.in_h} * op.in_w;
  const uint32_t zin = static_cast<uint32_t>(L.input.zero_point) * 0x01010101u;
  s.xquad.assign((op.in_c / 4) * plane, zin);
  for (int cq = 0; cq < op.in_c / 4; ++cq) {
    const uint8_t* a = in + int64_t{4 * cq} * HW;
    uint32_t* dst = s.xquad.data() + cq * plane;
    if (op.pad == 0) {
      kernels::PackQuads(a, a + HW, a + 2 * HW, a + 3 * HW, HW, dst, true);
      continue;
    }
    for (int y = 0; y < op.in_h; ++y) {
      const int64_t r = int64_t{y} * op.in_w;
      kernels::PackQuads(a + r, a + HW + r, a + 2 * HW + r, a + 3 * HW + r, op.in_w,
                         dst + int64_t{y + op.pad} * Wp + op.pad, true);
    }
  }
  int64_t offsets[64];
  for (int ky = 0; ky < ks; ++ky) {
    for (int kx = 0; kx < ks; ++kx) offsets[ky * ks + kx] = int64_t{ky} * Wp + kx;
  }
  const int32_t cw = 128 - L.weight.zero_point;
  s.acc.resize(int64_t{cout_g} * Q);
  s.sums.resize(Q);
  s.ones.assign(int64_t{quads} * taps, 0x01010101);
  const int64_t P = int64_t{op.out_h} * op.out_w;
  for (int g = 0; g < groups; ++g) {
    const uint32_t* xg = s.xquad.data() + int64_t{g} * quads * plane;
    std::fill_n(s.sums.data(), Q, 0);
    if (cw != 0) {
      kernels::DirectConvQuads(s.ones.data(), 1, quads, taps, offsets, xg, plane, Q, s.sums.data());
    }
    for (int o = 0; o < cout_g; ++o) {
      int32_t* row = s.acc.data() + o * Q;
      const int32_t b = qbias[g * cout_g + o];
      kernels::AffineRow(s.sums.data(), Q, b, cw, row, true);
    }
    kernels::DirectConvQuads(wquad + int64_t{g} * cout_g * quads * taps, cout_g, quads, taps,
                             offsets, xg, plane, Q, s.acc.data());
    RequantizeGroup(L, s.acc.data(), cout_g, Wp, out + int64_t{g} * cout_g * P);
  }
}

// Depthwise stride-1 conv, channel by channel: the zero-padded plane X
// (q - z_in, int16) becomes sp[q] = (X[q], X[q + 1]) so that one pair of
// weights covers taps (ky, kx) and (ky, kx + 1); positions over the padded
// width as in ConvDirect.
void ConvDepthwise(const IntegerLayer& L, const int32_t* wdw, const uint8_t* in, uint8_t* out,
                   Scratch& s) {
  const Op& op = L.op;
  const int ks = op.kernel, half = (ks + 1) / 2;
  const int Hp = op.in_h + 2 * op.pad, Wp = op.in_w + 2 * op.pad;
  const int64_t size = int64_t{Hp} * Wp + ks + 1, Q = int64_t{op.out_h} * Wp;
  const int64_t P = int64_t{op.out_h} * op.out_w;
  const int16_t zin = static_cast<int16_t>(L.input.zero_point);
  int64_t offsets[64];
  for (int ky = 0; ky < ks; ++ky) {
    for (int j = 0; j < half; ++j) offsets[ky * half + j] = int64_t{ky} * Wp + 2 * j;
  }
  s.plane.assign(size, 0);
  s.xpair.resize(size);
  s.acc.resize(Q);
  for (int c = 0; c < op.in_c; ++c) {
    const uint8_t* src = in + int64_t{c} * op.in_h * op.in_w;
    for (int y = 0; y < op.in_h; ++y) {
      int16_t* d = s.plane.data() + int64_t{y + op.pad} * Wp + op.pad;
      for (int x = 0; x < op.in_w; ++x) d[x] = static_cast<int16_t>(src[y * op.in_w + x] - zin);
    }
    for (int64_t q = 0; q + 1 < size; ++q) s.xpair[q] = Pack(s.plane[q], s.plane[q + 1]);
    s.xpair[size - 1] = 0;
    std::fill_n(s.acc.data(), Q, L.bias[c]);
    kernels::DepthwisePairs(wdw + int64_t{c} * ks * half, offsets, ks * half, s.xpair.data(), Q,
                            s.acc.data());
    kernels::RequantizeRows(s.acc.data(), op.out_h, op.out_w, Wp, L.multiplier, L.shift,
                            L.output.zero_point, L.act_min, L.act_max, out + c * P, op.out_w, true);
  }
}

void Conv(const IntegerLayer& L, const int16_t* wq, int64_t kp, bool avx512, const uint8_t* in,
          uint8_t* out, Scratch& s) {
  const Op& op = L.op;
  const int groups = op.groups, cout_g = op.out_c / groups;
  const int64_t P = int64_t{op.out_h} * op.out_w;
  s.col.resize(kp * P);
  s.acc.resize(int64_t{cout_g} * P);
  const bool fast = avx512 && op.stride == 1;
  if (fast) {
    // Zero-padded int16 copy of the input, q - z_in.
    const int Hp = op.in_h + 2 * op.pad, Wp = op.in_w + 2 * op.pad;
    s.padded.assign(int64_t{op.in_c} * Hp * Wp, 0);
    const int16_t zin = static_cast<int16_t>(L.input.zero_point);
    for (int c = 0; c < op.in_c; ++c) {
      for (int y = 0; y < op.in_h; ++y) {
        const uint8_t* src = in + (int64_t{c} * op.in_h + y) * op.in_w;
        int16_t* dst = s.padded.data() + (int64_t{c} * Hp + y + op.pad) * Wp + op.pad;
        for (int x = 0; x < op.in_w; ++x) dst[x] = static_cast<int16_t>(src[x] - zin);
      }
    }
    s.zeros.assign(std::max<int64_t>(P, 1), 0);
  }
  for (int g = 0; g < groups; ++g) {
    if (fast) {
      Im2ColStride1(L, g, s.padded.data(), s.zeros.data(), kp, avx512, s.col.data());
    } else {
      Im2ColGeneric(L, g, in, kp, s.col.data());
    }
    for (int o = 0; o < cout_g; ++o) {
      std::fill_n(s.acc.data() + o * P, P, L.bias[g * cout_g + o]);
    }
    kernels::Gemm(wq + int64_t{g} * cout_g * kp, cout_g, kp, s.col.data(), P, s.acc.data(), avx512);
    kernels::RequantizeRow(s.acc.data(), int64_t{cout_g} * P, L.multiplier, L.shift,
                           L.output.zero_point, L.act_min, L.act_max, out + int64_t{g} * cout_g * P,
                           avx512);
  }
}

void Dense(const IntegerLayer& L, const int16_t* wq, int64_t kp, bool avx512, const uint8_t* in,
           uint8_t* out, Scratch& s) {
  const int64_t n = L.op.in_c;
  s.col.assign(kp, 0);
  for (int64_t i = 0; i < n; ++i) s.col[i] = static_cast<int16_t>(in[i] - L.input.zero_point);
  s.acc.resize(L.op.out_c);
  for (int o = 0; o < L.op.out_c; ++o) {
    s.acc[o] = kernels::Dot(wq + o * kp, s.col.data(), kp, avx512) + L.bias[o];
  }
  kernels::RequantizeRow(s.acc.data(), L.op.out_c, L.multiplier, L.shift, L.output.zero_point,
                         L.act_min, L.act_max, out, avx512);
}

void MaxPool(const IntegerLayer& L, const uint8_t* in, uint8_t* out) {
  const Op& op = L.op;
  if (op.kernel == 2 && op.stride == 2 && 2 * op.out_h <= op.in_h && 2 * op.out_w <= op.in_w) {
    // The macroarchitecture's pool (floor of odd sizes), without bounds checks.
    for (int c = 0; c < op.out_c; ++c) {
      for (int oy = 0; oy < op.out_h; ++oy) {
        const uint8_t* r0 = in + (int64_t{c} * op.in_h + 2 * oy) * op.in_w;
        const uint8_t* r1 = r0 + op.in_w;
        uint8_t* d = out + (int64_t{c} * op.out_h + oy) * op.out_w;
        for (int ox = 0; ox < op.out_w; ++ox) {
          d[ox] =
              std::max(std::max(r0[2 * ox], r0[2 * ox + 1]), std::max(r1[2 * ox], r1[2 * ox + 1]));
        }
      }
    }
    return;
  }
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
      const float bias_scale = BiasScale(L.input, L.weight);
      L.bias.resize(op.out_c);
      for (int o = 0; o < op.out_c; ++o) L.bias[o] = QuantizeBias(f.bias[o], bias_scale);
      L.output = outputs[i];
      L.real_multiplier = RequantMultiplier(L.input, L.weight, L.output);
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
  wpair_.assign(layers_.size(), {});
  wdw_.assign(layers_.size(), {});
  wquad_.assign(layers_.size(), {});
  qbias_.assign(layers_.size(), {});
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
    if (UsesDepthwise(L.op) && L.op.kernel <= 8) {
      const int ks = L.op.kernel, half = (ks + 1) / 2;
      std::vector<int32_t>& wd = wdw_[i];
      wd.resize(size_t(L.op.out_c) * ks * half);
      for (int o = 0; o < L.op.out_c; ++o) {
        for (int ky = 0; ky < ks; ++ky) {
          for (int j = 0; j < half; ++j) {
            const int kx = 2 * j;
            const int16_t a = w[o * kpad_[i] + ky * ks + kx];
            const int16_t b = kx + 1 < ks ? w[o * kpad_[i] + ky * ks + kx + 1] : 0;
            wd[(int64_t{o} * ks + ky) * half + j] = Pack(a, b);
          }
        }
      }
    }
    if (UsesQuads(L.op) && L.op.kernel * L.op.kernel <= 64) {
      const int taps = L.op.kernel * L.op.kernel, quads = static_cast<int>(k / taps / 4);
      std::vector<int32_t>& wq = wquad_[i];
      wq.resize(size_t(L.op.out_c) * quads * taps);
      qbias_[i].resize(L.op.out_c);
      for (int o = 0; o < L.op.out_c; ++o) {
        const uint8_t* row = L.weights.data() + o * k;
        for (int cq = 0; cq < quads; ++cq) {
          for (int t = 0; t < taps; ++t) {
            uint32_t quad = 0;
            for (int j = 0; j < 4; ++j) {
              const uint8_t s8 = static_cast<uint8_t>(row[(4 * cq + j) * taps + t] - 128);
              quad |= uint32_t{s8} << (8 * j);
            }
            wq[(int64_t{o} * quads + cq) * taps + t] = static_cast<int32_t>(quad);
          }
        }
        int64_t sum = 0;
        for (int64_t j = 0; j < k; ++j) sum += row[j] - L.weight.zero_point;
        qbias_[i][o] = static_cast<int32_t>(L.bias[o] - int64_t{L.input.zero_point} * sum);
      }
    }
    if (UsesDirect(L.op) && L.op.kernel * L.op.kernel <= 64) {
      const int taps = L.op.kernel * L.op.kernel, pairs = static_cast<int>(k / taps / 2);
      std::vector<int32_t>& wp = wpair_[i];
      wp.resize(size_t(L.op.out_c) * pairs * taps);
      for (int o = 0; o < L.op.out_c; ++o) {
        for (int cc = 0; cc < pairs; ++cc) {
          for (int t = 0; t < taps; ++t) {
            wp[(int64_t{o} * pairs + cc) * taps + t] = Pack(
                w[o * kpad_[i] + (2 * cc) * taps + t], w[o * kpad_[i] + (2 * cc + 1) * taps + t]);
          }
        }
      }
    }
  }
}

bool IntegerNet::uses_vnni() const { return kernels::CpuHasAvx512Vnni() && !portable_; }

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
        if (vnni && !wdw_[i].empty()) {
          ConvDepthwise(L, wdw_[i].data(), s.a.data(), s.b.data(), s);
        } else if (vnni && !wquad_[i].empty()) {
          ConvQuads(L, wquad_[i].data(), qbias_[i].data(), s.a.data(), s.b.data(), s);
        } else if (vnni && !wpair_[i].empty()) {
          ConvDirect(L, wpair_[i].data(), s.a.data(), s.b.data(), s);
        } else {
          Conv(L, wq_[i].data(), kpad_[i], vnni, s.a.data(), s.b.data(), s);
        }
        break;
      case Op::Kind::kDense:
        Dense(L, wq_[i].data(), kpad_[i], vnni, s.a.data(), s.b.data(), s);
        break;
      case Op::Kind::kMaxPool:
        MaxPool(L, s.a.data(), s.b.data());
        break;
      case Op::Kind::kFlatten:
        std::copy_n(s.a.data(), L.out_size(), s.b.data());
        break;
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
