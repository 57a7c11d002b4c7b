#include "space/bn_relu.h"

#include <ATen/Parallel.h>
#include <immintrin.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace fnas::space {

namespace {

// Rows per chunk of the statistics passes: fixed by the channel count alone
// (never by the thread count), so the sums are taken in the same order
// whatever the number of threads. About 64 KiB of floats, an L2-sized chunk.
constexpr int64_t kChunkElems = 1 << 14;
int64_t ChunkRows(int64_t channels) { return std::max<int64_t>(1, kChunkElems / channels); }

// A per-channel mean as two floats, hi + lo: (x - hi) - lo keeps the
// difference accurate where |mean| is large against the standard deviation
// (x * scale + shift, LibTorch's form, loses digits there).
struct SplitMean {
  const float* hi;
  const float* lo;
};

// The forward's per-channel constants as the backward takes them: the mean
// split as the forward used it, and, when the forward applied the ReLU, its
// scale and beta, from which the backward recomputes where the output was
// positive (so the output need not be kept for it, nor read again).
struct ForwardConsts {
  SplitMean mean;
  bool relu;
  const float* scale;
  const float* beta;
};

// The passes over [rows, C] row-major (NHWC) data. Statistics are written
// (not added) to per-chunk outputs; elementwise passes cover [0, rows).
struct Kernels {
  // s[c] = sum_r (x[r,c] - k[c]), q[c] = sum_r (x[r,c] - k[c])^2, in double.
  void (*stats)(const float* x, int64_t rows, int64_t C, const float* k, double* s, double* q);
  // y = (x - mean[c]) * scale[c] + beta[c], then max(0, y) when relu (NaN stays NaN).
  void (*normalize)(const float* x, float* y, int64_t rows, int64_t C, SplitMean mean,
                    const float* scale, const float* beta, bool relu);
  // With g = dy, or, after a ReLU, dy where the forward's output was
  // positive and 0 elsewhere (its output recomputed from x as `normalize`
  // computes it): sg[c] = sum_r g, sgx[c] = sum_r g * (x - mean[c]), in double.
  void (*backward_stats)(const float* dy, const float* x, int64_t rows, int64_t C,
                         const double* mean, ForwardConsts fwd, double* sg, double* sgx);
  // dx = (g - b[c] - (x - fwd.mean[c]) * k[c]) * a[c].
  void (*dx)(const float* dy, const float* x, float* dx, int64_t rows, int64_t C, ForwardConsts fwd,
             const float* a, const float* b, const float* k);
};

// ---- portable kernels (the compiler vectorizes the inner loops over channels)

void StatsPortable(const float* x, int64_t rows, int64_t C, const float* k, double* s, double* q) {
  std::fill(s, s + C, 0.0);
  std::fill(q, q + C, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(p[c]) - static_cast<double>(k[c]);
      s[c] += d;
      q[c] += d * d;
    }
  }
}

// The BatchNorm output before the ReLU: one expression for the forward and
// for the backward's mask, so both take the same decisions.
inline float Affine(float x, SplitMean mean, const float* scale, const float* beta, int64_t c) {
  return ((x - mean.hi[c]) - mean.lo[c]) * scale[c] + beta[c];
}

void NormalizePortable(const float* x, float* y, int64_t rows, int64_t C, SplitMean mean,
                       const float* scale, const float* beta, bool relu) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * C;
    float* o = y + r * C;
    if (relu) {
      for (int64_t c = 0; c < C; ++c) {
        const float v = Affine(p[c], mean, scale, beta, c);
        o[c] = v < 0.0f ? 0.0f : v;
      }
    } else {
      for (int64_t c = 0; c < C; ++c) o[c] = Affine(p[c], mean, scale, beta, c);
    }
  }
}

// dy where the forward's ReLU passed it (its output > 0, so not NaN), else 0.
inline float Passed(float dy, float x, const ForwardConsts& fwd, int64_t c) {
  return !fwd.relu || Affine(x, fwd.mean, fwd.scale, fwd.beta, c) > 0.0f ? dy : 0.0f;
}

void BackwardStatsPortable(const float* dy, const float* x, int64_t rows, int64_t C,
                           const double* mean, ForwardConsts fwd, double* sg, double* sgx) {
  std::fill(sg, sg + C, 0.0);
  std::fill(sgx, sgx + C, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * C;
    const float* p = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const double gv = Passed(g[c], p[c], fwd, c);
      sg[c] += gv;
      sgx[c] += gv * (static_cast<double>(p[c]) - mean[c]);
    }
  }
}

void DxPortable(const float* dy, const float* x, float* dx, int64_t rows, int64_t C,
                ForwardConsts fwd, const float* a, const float* b, const float* k) {
  const SplitMean mean = fwd.mean;
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * C;
    const float* p = x + r * C;
    float* d = dx + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const float gv = Passed(g[c], p[c], fwd, c);
      d[c] = (gv - b[c] - ((p[c] - mean.hi[c]) - mean.lo[c]) * k[c]) * a[c];
    }
  }
}

constexpr Kernels kPortable{StatsPortable, NormalizePortable, BackwardStatsPortable, DxPortable};

// ---- AVX-512 kernels: 16 channels a vector, the last block masked. When C
// divides 16 (C = 1, 2, 4, 8: the narrow nets' first layers) the data are
// walked as one flat array with the per-channel constants tiled over the 16
// lanes, so no lane idles.

#define FNAS_AVX512 __attribute__((target("avx512f")))

FNAS_AVX512 inline __mmask16 LaneMask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}
// Lanes 0-7 and 8-15 of v as doubles. (The zero-masked forms: GCC 12 warns
// about the undefined vectors inside the plain ones.)
FNAS_AVX512 inline __m512d Lo(__m512 v) {
  return _mm512_maskz_cvtps_pd(
      0xFF, _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), 0)));
}
FNAS_AVX512 inline __m512d Hi(__m512 v) {
  return _mm512_maskz_cvtps_pd(
      0xFF, _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), 1)));
}

// Per-channel constants tiled over the 16 lanes of a flat walk: lane l is
// channel l % C.
template <typename T>
void Tile(const T* src, int64_t C, T* dst) {
  for (int64_t l = 0; l < 16; ++l) dst[l] = src[l % C];
}
// Folds flat lane sums into per-channel sums.
void Fold(const double* lanes, int64_t C, double* out) {
  for (int64_t c = 0; c < C; ++c) {
    out[c] = 0.0;
    for (int64_t l = c; l < 16; l += C) out[c] += lanes[l];
  }
}

// Folds the lane sums of a flat walk, 16 doubles in two registers, into
// per-channel sums.
FNAS_AVX512 inline void FoldPair(__m512d lo, __m512d hi, int64_t C, double* out) {
  alignas(64) double lanes[16];
  _mm512_store_pd(lanes, lo);
  _mm512_store_pd(lanes + 8, hi);
  Fold(lanes, C, out);
}
// Stores the sums of channels c0.. (the lanes `m` keeps) of a channel block.
FNAS_AVX512 inline void StorePair(__m512d lo, __m512d hi, __mmask16 m, double* out) {
  _mm512_mask_storeu_pd(out, static_cast<__mmask8>(m), lo);
  _mm512_mask_storeu_pd(out + 8, static_cast<__mmask8>(m >> 8), hi);
}

// s += d, q += d * d for d = v - k, in double.
FNAS_AVX512 inline void StatsBlock(__m512 v, __m512d klo, __m512d khi, __m512d& slo, __m512d& shi,
                                   __m512d& qlo, __m512d& qhi) {
  const __m512d dlo = _mm512_sub_pd(Lo(v), klo), dhi = _mm512_sub_pd(Hi(v), khi);
  slo = _mm512_add_pd(slo, dlo);
  shi = _mm512_add_pd(shi, dhi);
  qlo = _mm512_fmadd_pd(dlo, dlo, qlo);
  qhi = _mm512_fmadd_pd(dhi, dhi, qhi);
}

FNAS_AVX512 void StatsAvx512(const float* x, int64_t rows, int64_t C, const float* k, double* s,
                             double* q) {
  __m512d slo = _mm512_setzero_pd(), shi = slo, qlo = slo, qhi = slo;
  if (16 % C == 0) {  // flat: lane sums, folded per channel at the end
    alignas(64) float kt[16];
    Tile(k, C, kt);
    const __m512 kv = _mm512_load_ps(kt);
    const __m512d klo = Lo(kv), khi = Hi(kv);
    const int64_t n = rows * C;
    for (int64_t i = 0; i < n; i += 16) {  // idle lanes read k: d = 0
      StatsBlock(_mm512_mask_loadu_ps(kv, LaneMask(n - i), x + i), klo, khi, slo, shi, qlo, qhi);
    }
    FoldPair(slo, shi, C, s);
    FoldPair(qlo, qhi, C, q);
    return;
  }
  for (int64_t c0 = 0; c0 < C; c0 += 16) {  // one channel block at a time, over all rows
    const __mmask16 m = LaneMask(C - c0);
    const __m512 kv = _mm512_maskz_loadu_ps(m, k + c0);
    const __m512d klo = Lo(kv), khi = Hi(kv);
    slo = shi = qlo = qhi = _mm512_setzero_pd();
    const float* p = x + c0;
    for (int64_t r = 0; r < rows; ++r, p += C) {
      StatsBlock(_mm512_maskz_loadu_ps(m, p), klo, khi, slo, shi, qlo, qhi);
    }
    StorePair(slo, shi, m, s + c0);
    StorePair(qlo, qhi, m, q + c0);
  }
}

FNAS_AVX512 inline void NormalizeBlock(const float* x, float* y, __mmask16 m, __m512 mh, __m512 ml,
                                       __m512 sc, __m512 be, bool relu) {
  const __m512 t = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x), mh), ml);
  __m512 v = _mm512_fmadd_ps(t, sc, be);
  if (relu) v = _mm512_maskz_max_ps(0xFFFF, _mm512_setzero_ps(), v);  // NaN: the second operand
  _mm512_mask_storeu_ps(y, m, v);
}

FNAS_AVX512 void NormalizeAvx512(const float* x, float* y, int64_t rows, int64_t C, SplitMean mean,
                                 const float* scale, const float* beta, bool relu) {
  if (16 % C == 0) {
    alignas(64) float ht[16], lt[16], st[16], bt[16];
    Tile(mean.hi, C, ht);
    Tile(mean.lo, C, lt);
    Tile(scale, C, st);
    Tile(beta, C, bt);
    const __m512 mh = _mm512_load_ps(ht), ml = _mm512_load_ps(lt), sc = _mm512_load_ps(st),
                 be = _mm512_load_ps(bt);
    const int64_t n = rows * C;
    for (int64_t i = 0; i < n; i += 16) {
      NormalizeBlock(x + i, y + i, LaneMask(n - i), mh, ml, sc, be, relu);
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      const __mmask16 m = LaneMask(C - c0);
      NormalizeBlock(x + r * C + c0, y + r * C + c0, m, _mm512_maskz_loadu_ps(m, mean.hi + c0),
                     _mm512_maskz_loadu_ps(m, mean.lo + c0), _mm512_maskz_loadu_ps(m, scale + c0),
                     _mm512_maskz_loadu_ps(m, beta + c0), relu);
    }
  }
}

// The forward's constants in registers: one channel block, or tiled over
// the 16 lanes of a flat walk.
struct ForwardRegs {
  __m512 mh, ml, sc, be;
  bool relu;
};

FNAS_AVX512 inline ForwardRegs LoadForward(const ForwardConsts& f, int64_t c0, __mmask16 m) {
  return {_mm512_maskz_loadu_ps(m, f.mean.hi + c0), _mm512_maskz_loadu_ps(m, f.mean.lo + c0),
          _mm512_maskz_loadu_ps(m, f.scale + c0), _mm512_maskz_loadu_ps(m, f.beta + c0), f.relu};
}

FNAS_AVX512 inline ForwardRegs TileForward(const ForwardConsts& f, int64_t C) {
  alignas(64) float ht[16], lt[16], st[16], bt[16];
  Tile(f.mean.hi, C, ht);
  Tile(f.mean.lo, C, lt);
  Tile(f.scale, C, st);
  Tile(f.beta, C, bt);
  return {_mm512_load_ps(ht), _mm512_load_ps(lt), _mm512_load_ps(st), _mm512_load_ps(bt), f.relu};
}

// (x - mean): the forward's t, from the split mean.
FNAS_AVX512 inline __m512 Centered(__m512 x, const ForwardRegs& r) {
  return _mm512_sub_ps(_mm512_sub_ps(x, r.mh), r.ml);
}

// g: dy, zeroed where the forward's ReLU output (recomputed from t as
// NormalizeBlock computes it) is not positive, NaN included; 0 in idle lanes.
FNAS_AVX512 inline __m512 Passed(const float* dy, __m512 t, const ForwardRegs& r, __mmask16 m) {
  if (!r.relu) return _mm512_maskz_loadu_ps(m, dy);
  const __mmask16 pos =
      _mm512_mask_cmp_ps_mask(m, _mm512_fmadd_ps(t, r.sc, r.be), _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_maskz_loadu_ps(pos, dy);
}

// sg += g, sgx += g * (x - mean), in double.
FNAS_AVX512 inline void BackwardStatsBlock(__m512 g, __m512 v, __m512d mlo, __m512d mhi,
                                           __m512d& glo, __m512d& ghi, __m512d& xlo, __m512d& xhi) {
  const __m512d gl = Lo(g), gh = Hi(g);
  glo = _mm512_add_pd(glo, gl);
  ghi = _mm512_add_pd(ghi, gh);
  xlo = _mm512_fmadd_pd(gl, _mm512_sub_pd(Lo(v), mlo), xlo);
  xhi = _mm512_fmadd_pd(gh, _mm512_sub_pd(Hi(v), mhi), xhi);
}

FNAS_AVX512 void BackwardStatsAvx512(const float* dy, const float* x, int64_t rows, int64_t C,
                                     const double* mean, ForwardConsts fwd, double* sg,
                                     double* sgx) {
  __m512d glo = _mm512_setzero_pd(), ghi = glo, xlo = glo, xhi = glo;
  if (16 % C == 0) {
    alignas(64) double mt[16];
    Tile(mean, C, mt);
    const __m512d mlo = _mm512_load_pd(mt), mhi = _mm512_load_pd(mt + 8);
    const ForwardRegs r = TileForward(fwd, C);
    const int64_t n = rows * C;
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = LaneMask(n - i);
      const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
      BackwardStatsBlock(Passed(dy + i, Centered(v, r), r, m), v, mlo, mhi, glo, ghi, xlo, xhi);
    }
    FoldPair(glo, ghi, C, sg);
    FoldPair(xlo, xhi, C, sgx);
    return;
  }
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const __mmask16 m = LaneMask(C - c0);
    const auto ml = static_cast<__mmask8>(m), mh = static_cast<__mmask8>(m >> 8);
    const __m512d mlo = _mm512_maskz_loadu_pd(ml, mean + c0);
    const __m512d mhi = _mm512_maskz_loadu_pd(mh, mean + c0 + 8);
    const ForwardRegs r = LoadForward(fwd, c0, m);
    glo = ghi = xlo = xhi = _mm512_setzero_pd();
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t i = row * C + c0;
      const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
      BackwardStatsBlock(Passed(dy + i, Centered(v, r), r, m), v, mlo, mhi, glo, ghi, xlo, xhi);
    }
    StorePair(glo, ghi, m, sg + c0);
    StorePair(xlo, xhi, m, sgx + c0);
  }
}

// dx = (g - b - (x - mean) * k) * a on one block.
FNAS_AVX512 inline void DxBlock(const float* dy, const float* x, float* dx, __mmask16 m,
                                const ForwardRegs& r, __m512 av, __m512 bv, __m512 kv) {
  const __m512 t = Centered(_mm512_maskz_loadu_ps(m, x), r);
  const __m512 u = _mm512_fnmadd_ps(t, kv, _mm512_sub_ps(Passed(dy, t, r, m), bv));
  _mm512_mask_storeu_ps(dx, m, _mm512_mul_ps(u, av));
}

FNAS_AVX512 void DxAvx512(const float* dy, const float* x, float* dx, int64_t rows, int64_t C,
                          ForwardConsts fwd, const float* a, const float* b, const float* k) {
  if (16 % C == 0) {
    alignas(64) float at[16], bt[16], kt[16];
    Tile(a, C, at);
    Tile(b, C, bt);
    Tile(k, C, kt);
    const ForwardRegs r = TileForward(fwd, C);
    const __m512 av = _mm512_load_ps(at), bv = _mm512_load_ps(bt), kv = _mm512_load_ps(kt);
    const int64_t n = rows * C;
    for (int64_t i = 0; i < n; i += 16) {
      DxBlock(dy + i, x + i, dx + i, LaneMask(n - i), r, av, bv, kv);
    }
    return;
  }
  for (int64_t row = 0; row < rows; ++row) {  // in memory order; the constants from L1
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      const __mmask16 m = LaneMask(C - c0);
      const int64_t i = row * C + c0;
      DxBlock(dy + i, x + i, dx + i, m, LoadForward(fwd, c0, m), _mm512_maskz_loadu_ps(m, a + c0),
              _mm512_maskz_loadu_ps(m, b + c0), _mm512_maskz_loadu_ps(m, k + c0));
    }
  }
}

#undef FNAS_AVX512

constexpr Kernels kAvx512{StatsAvx512, NormalizeAvx512, BackwardStatsAvx512, DxAvx512};

const Kernels& Choose(BnReluKernel kernel) {
  switch (kernel) {
    case BnReluKernel::kPortable:
      return kPortable;
    case BnReluKernel::kAvx512:
      TORCH_CHECK(BnReluAvx512Supported(), "BatchNormReluTrain: this CPU has no AVX-512");
      return kAvx512;
    case BnReluKernel::kAuto:
      break;
  }
  return BnReluAvx512Supported() ? kAvx512 : kPortable;
}

// Per-channel sums of a statistics kernel over [rows, C], in fixed chunks
// reduced in chunk order: out[0..C) and out[C..2C) in double.
template <typename ChunkFn>
std::vector<double> ChunkedSums(int64_t rows, int64_t C, ChunkFn chunk) {
  const int64_t per = ChunkRows(C), chunks = (rows + per - 1) / per;
  std::vector<double> part(chunks * 2 * C);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r0 = i * per;
      chunk(r0, std::min(per, rows - r0), part.data() + i * 2 * C, part.data() + i * 2 * C + C);
    }
  });
  std::vector<double> sum(2 * C, 0.0);
  for (int64_t i = 0; i < chunks; ++i) {
    for (int64_t j = 0; j < 2 * C; ++j) sum[j] += part[i * 2 * C + j];
  }
  return sum;
}

// An elementwise pass over rows [0, rows) in parallel.
template <typename RowsFn>
void ForRows(int64_t rows, int64_t C, RowsFn fn) {
  at::parallel_for(0, rows, ChunkRows(C), [&](int64_t begin, int64_t end) { fn(begin, end); });
}

class BnReluFunction : public torch::autograd::Function<BnReluFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, bool relu, int64_t kernel) {
    const Kernels& kern = Choose(static_cast<BnReluKernel>(kernel));
    const int64_t C = x.size(1), rows = x.numel() / C;
    const float* xp = x.data_ptr<float>();

    // Batch statistics, shifted by the first row for accuracy.
    const std::vector<float> k(xp, xp + C);
    const std::vector<double> sq =
        ChunkedSums(rows, C, [&](int64_t r0, int64_t n, double* s, double* q) {
          kern.stats(xp + r0 * C, n, C, k.data(), s, q);
        });
    auto mean = torch::empty({C}, torch::kFloat64), invstd = torch::empty({C}, torch::kFloat64);
    double* mp = mean.data_ptr<double>();
    double* ip = invstd.data_ptr<double>();
    // The forward's float constants, rows mean_hi, mean_lo, scale, beta: kept
    // for the backward, which recomputes the ReLU's decisions from them.
    auto consts = torch::empty({4, C}, torch::kFloat32);
    float* mean_hi = consts.data_ptr<float>();
    float* mean_lo = mean_hi + C;
    float* scale = mean_lo + C;
    float* beta = scale + C;
    const float* wp = weight.data_ptr<float>();
    const float* bp = bias.data_ptr<float>();
    float* rm = running_mean.data_ptr<float>();
    float* rv = running_var.data_ptr<float>();
    const double n = static_cast<double>(rows);
    for (int64_t c = 0; c < C; ++c) {
      const double ds = sq[c] / n;
      const double var_sum = std::max(0.0, sq[C + c] - sq[c] * ds);  // sum (x - mean)^2
      mp[c] = k[c] + ds;
      ip[c] = 1.0 / std::sqrt(var_sum / n + eps);
      const double sc = wp[c] * ip[c];
      scale[c] = static_cast<float>(sc);
      mean_hi[c] = static_cast<float>(mp[c]);
      mean_lo[c] = static_cast<float>(mp[c] - mean_hi[c]);
      beta[c] = bp[c];
      rm[c] = static_cast<float>(momentum * mp[c] + (1.0 - momentum) * rm[c]);
      rv[c] = static_cast<float>(momentum * (var_sum / (n - 1)) + (1.0 - momentum) * rv[c]);
    }

    auto y = torch::empty_like(x, x.options(), torch::MemoryFormat::ChannelsLast);
    float* yp = y.data_ptr<float>();
    ForRows(rows, C, [&](int64_t begin, int64_t end) {
      kern.normalize(xp + begin * C, yp + begin * C, end - begin, C, {mean_hi, mean_lo}, scale,
                     beta, relu);
    });

    ctx->save_for_backward({x, weight});
    ctx->saved_data["consts"] = consts;
    ctx->saved_data["relu"] = relu;
    ctx->saved_data["mean"] = mean;
    ctx->saved_data["invstd"] = invstd;
    ctx->saved_data["kernel"] = kernel;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const Kernels& kern = Choose(static_cast<BnReluKernel>(ctx->saved_data["kernel"].toInt()));
    const torch::Tensor mean = ctx->saved_data["mean"].toTensor();
    const torch::Tensor invstd = ctx->saved_data["invstd"].toTensor();
    const torch::Tensor dy = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);

    const int64_t C = x.size(1), rows = x.numel() / C;
    const float* xp = x.data_ptr<float>();
    const float* gp = dy.data_ptr<float>();
    const double* mp = mean.data_ptr<double>();
    const double* ip = invstd.data_ptr<double>();
    const torch::Tensor consts = ctx->saved_data["consts"].toTensor();
    const float* cp = consts.data_ptr<float>();
    const ForwardConsts fwd{{cp, cp + C}, ctx->saved_data["relu"].toBool(), cp + 2 * C, cp + 3 * C};
    const std::vector<double> sums =
        ChunkedSums(rows, C, [&](int64_t r0, int64_t n, double* sg, double* sgx) {
          kern.backward_stats(gp + r0 * C, xp + r0 * C, n, C, mp, fwd, sg, sgx);
        });

    // dbeta = sum g, dgamma = sum g * xhat; dx = (g - mean(g) - xhat * mean(g * xhat)) * gamma
    // * invstd, with xhat = (x - mean) * invstd.
    auto dgamma = torch::empty({C}, torch::kFloat32), dbeta = torch::empty({C}, torch::kFloat32);
    std::vector<float> a(C), b(C), k(C);
    const float* wp = weight.data_ptr<float>();
    const double n = static_cast<double>(rows);
    for (int64_t c = 0; c < C; ++c) {
      dbeta.data_ptr<float>()[c] = static_cast<float>(sums[c]);
      dgamma.data_ptr<float>()[c] = static_cast<float>(sums[C + c] * ip[c]);
      a[c] = static_cast<float>(wp[c] * ip[c]);
      b[c] = static_cast<float>(sums[c] / n);
      k[c] = static_cast<float>(sums[C + c] / n * ip[c] * ip[c]);
    }
    torch::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      dx = torch::empty_like(x, x.options(), torch::MemoryFormat::ChannelsLast);
      float* dp = dx.data_ptr<float>();
      ForRows(rows, C, [&](int64_t begin, int64_t end) {
        kern.dx(gp + begin * C, xp + begin * C, dp + begin * C, end - begin, C, fwd, a.data(),
                b.data(), k.data());
      });
    }
    return {dx,
            ctx->needs_input_grad(1) ? dgamma : torch::Tensor(),
            ctx->needs_input_grad(2) ? dbeta : torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

bool BnReluAvx512Supported() {
  static const bool supported = __builtin_cpu_supports("avx512f");
  return supported;
}

bool FusedBnReluApplies(const torch::nn::BatchNorm2dImpl& bn, const at::Tensor& x) {
  const auto& o = bn.options;
  return bn.is_training() && o.affine() && o.track_running_stats() && x.defined() &&
         x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 4 &&
         x.numel() > 0 && x.size(1) == o.num_features() &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast) && bn.weight.defined() &&
         bn.bias.defined() && bn.running_mean.defined() && bn.running_var.defined() &&
         bn.weight.scalar_type() == torch::kFloat32 && bn.weight.is_contiguous() &&
         bn.bias.is_contiguous() && bn.running_mean.is_contiguous() &&
         bn.running_var.is_contiguous();
}

at::Tensor BatchNormReluTrain(torch::nn::BatchNorm2dImpl& bn, const at::Tensor& x, bool relu,
                              BnReluKernel kernel) {
  TORCH_CHECK(FusedBnReluApplies(bn, x),
              "BatchNormReluTrain: needs a training, affine BatchNorm2d with running statistics "
              "and a non-empty channels-last float CPU input with its channels; got input ",
              x.sizes());
  TORCH_CHECK(x.numel() / x.size(1) > 1,
              "Expected more than 1 value per channel when training, got input size ", x.sizes());
  // The momentum and the batch count as BatchNorm2dImpl::forward takes them.
  double factor = bn.options.momentum().value_or(0.0);
  if (bn.num_batches_tracked.defined()) {
    torch::NoGradGuard no_grad;
    bn.num_batches_tracked += 1;
    if (!bn.options.momentum()) factor = 1.0 / bn.num_batches_tracked.item<double>();
  }
  return BnReluFunction::apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, factor,
                               bn.options.eps(), relu, static_cast<int64_t>(kernel));
}

}  // namespace fnas::space
