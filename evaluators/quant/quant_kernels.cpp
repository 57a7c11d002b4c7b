#include "evaluators/quant/quant_kernels.h"

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_* as the unused merge
// operand, which -Wmaybe-uninitialized reports falsely once they are inlined
// here; the diagnostic is located in the header, so it is silenced before it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "evaluators/quant/quant.h"

namespace fnas::evaluators::kernels {

namespace {

#define FNAS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni")))

// The microkernel of every conv: 4 output channels x 64 positions in 16 zmm
// accumulators (named, so that GCC keeps them in registers). Step j adds
// w_o[j] . x[offs[j] + p] for the 16-lane groups of positions p0 ... p0 + 63
// (< Q), where w_o[j] is a pair of int16 weights broadcast to every lane and
// x holds pairs of int16 inputs (vpdpwssd: 32 int16 MACs into 16 int32).
// acc += c . b in place. GCC 12 copies accumulators of the intrinsic in and
// out of the loop (and spills two of them); the asm pins each in its register.
// kBytes: quads of uint8 inputs times quads of int8 weights instead
// (vpdpbusd: 64 u8 x s8 MACs into 16 int32).
#define FNAS_DPWSSD(acc, c, b) asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(c), "v"(b))
#define FNAS_DPBUSD(acc, c, b) asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(c), "v"(b))

template <bool kBytes>
FNAS_AVX512 void Block4(const int32_t* w0, const int32_t* w1, const int32_t* w2, const int32_t* w3,
                        const int64_t* offs, int64_t n, const int32_t* x, int64_t Q, int64_t p0,
                        int32_t* acc) {
  const auto mask = [&](int v) -> __mmask16 {
    const int64_t left = Q - (p0 + 16 * v);
    return left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
  };
  const __mmask16 m0 = mask(0), m1 = mask(1), m2 = mask(2), m3 = mask(3);
#define FNAS_LOAD_ROW(o)                                                 \
  __m512i a##o##0 = _mm512_maskz_loadu_epi32(m0, acc + (o)*Q + p0);      \
  __m512i a##o##1 = _mm512_maskz_loadu_epi32(m1, acc + (o)*Q + p0 + 16); \
  __m512i a##o##2 = _mm512_maskz_loadu_epi32(m2, acc + (o)*Q + p0 + 32); \
  __m512i a##o##3 = _mm512_maskz_loadu_epi32(m3, acc + (o)*Q + p0 + 48);
  FNAS_LOAD_ROW(0)
  FNAS_LOAD_ROW(1)
  FNAS_LOAD_ROW(2)
  FNAS_LOAD_ROW(3)
#undef FNAS_LOAD_ROW
  for (int64_t j = 0; j < n; ++j) {
    const int32_t* c = x + offs[j] + p0;
    const __m512i c0 = _mm512_maskz_loadu_epi32(m0, c);
    const __m512i c1 = _mm512_maskz_loadu_epi32(m1, c + 16);
    const __m512i c2 = _mm512_maskz_loadu_epi32(m2, c + 32);
    const __m512i c3 = _mm512_maskz_loadu_epi32(m3, c + 48);
#define FNAS_MAC_ROW(o, w)                       \
  {                                              \
    const __m512i b = _mm512_set1_epi32((w)[j]); \
    if constexpr (kBytes) {                      \
      FNAS_DPBUSD(a##o##0, c0, b);               \
      FNAS_DPBUSD(a##o##1, c1, b);               \
      FNAS_DPBUSD(a##o##2, c2, b);               \
      FNAS_DPBUSD(a##o##3, c3, b);               \
    } else {                                     \
      FNAS_DPWSSD(a##o##0, c0, b);               \
      FNAS_DPWSSD(a##o##1, c1, b);               \
      FNAS_DPWSSD(a##o##2, c2, b);               \
      FNAS_DPWSSD(a##o##3, c3, b);               \
    }                                            \
  }
    FNAS_MAC_ROW(0, w0)
    FNAS_MAC_ROW(1, w1)
    FNAS_MAC_ROW(2, w2)
    FNAS_MAC_ROW(3, w3)
#undef FNAS_MAC_ROW
  }
#define FNAS_STORE_ROW(o)                                       \
  _mm512_mask_storeu_epi32(acc + (o)*Q + p0, m0, a##o##0);      \
  _mm512_mask_storeu_epi32(acc + (o)*Q + p0 + 16, m1, a##o##1); \
  _mm512_mask_storeu_epi32(acc + (o)*Q + p0 + 32, m2, a##o##2); \
  _mm512_mask_storeu_epi32(acc + (o)*Q + p0 + 48, m3, a##o##3);
  FNAS_STORE_ROW(0)
  FNAS_STORE_ROW(1)
  FNAS_STORE_ROW(2)
  FNAS_STORE_ROW(3)
#undef FNAS_STORE_ROW
}

bool CpuCheck() {
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
FNAS_AVX512 void VnniBlock(const int16_t* w, int64_t kp, const int16_t* col, int64_t P, int64_t p0,
                           int32_t* acc) {
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

void GemmVnni(const int16_t* w, int cout, int64_t kp, const int16_t* col, int64_t P, int32_t* acc) {
  std::vector<int64_t> offs(kp / 2);  // step kk -> row kk of the column matrix
  for (int64_t kk = 0; kk < kp / 2; ++kk) offs[kk] = kk * P;
  const int32_t* x = reinterpret_cast<const int32_t*>(col);
  for (int64_t p0 = 0; p0 < P; p0 += 64) {
    int o = 0;
    for (; o + 4 <= cout; o += 4) {
      const int32_t* w0 = reinterpret_cast<const int32_t*>(w + o * kp);
      const int64_t ws = kp / 2;
      Block4<false>(w0, w0 + ws, w0 + 2 * ws, w0 + 3 * ws, offs.data(), ws, x, P, p0, acc + o * P);
    }
    switch (cout - o) {
      case 3:
        VnniBlock<3>(w + o * kp, kp, col, P, p0, acc + o * P);
        break;
      case 2:
        VnniBlock<2>(w + o * kp, kp, col, P, p0, acc + o * P);
        break;
      case 1:
        VnniBlock<1>(w + o * kp, kp, col, P, p0, acc + o * P);
        break;
      default:
        break;
    }
  }
}

int32_t DotPortable(const int16_t* w, const int16_t* x, int64_t n) {
  int32_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<int32_t>(w[i]) * x[i];
  return s;
}

FNAS_AVX512 int32_t DotVnni(const int16_t* w, const int16_t* x, int64_t n) {
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

void RequantizePortable(const int32_t* acc, int64_t n, int32_t multiplier, int shift,
                        int32_t zero_point, int32_t lo, int32_t hi, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = MultiplyByQuantizedMultiplier(acc[i], multiplier, shift) + zero_point;
    out[i] = static_cast<uint8_t>(std::clamp(v, lo, hi));
  }
}

// 16 lanes at a time. SaturatingRoundingDoublingHighMul(x, m) for m >= 0 is
// floor((x * m + 2^30) / 2^31): for x * m < 0 the reference's truncation of
// (x * m + 1 - 2^30) / 2^31 toward zero is the same number. Only for right
// shifts (M < 1, shift <= 0); the caller falls back otherwise.
FNAS_AVX512 void RequantizeAvx512(const int32_t* acc, int64_t rows, int64_t n, int64_t acc_stride,
                                  int32_t multiplier, int right, int32_t zero_point, int32_t lo,
                                  int32_t hi, uint8_t* out, int64_t out_stride) {
  const __m512i m = _mm512_set1_epi64(multiplier);
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const int32_t mask = static_cast<int32_t>((int64_t{1} << right) - 1);
  const __m512i maskv = _mm512_set1_epi32(mask), half = _mm512_set1_epi32(mask >> 1);
  const __m512i one = _mm512_set1_epi32(1), zp = _mm512_set1_epi32(zero_point);
  const __m512i lov = _mm512_set1_epi32(lo), hiv = _mm512_set1_epi32(hi);
  const __m128i count = _mm_cvtsi32_si128(right);
  for (int64_t row = 0; row < rows; ++row, acc += acc_stride, out += out_stride) {
    for (int64_t i = 0; i < n; i += 16) {
      const int64_t left = n - i;
      const __mmask16 k = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
      const __m512i x = _mm512_maskz_loadu_epi32(k, acc + i);
      __m512i even = _mm512_mul_epi32(x, m);
      __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), m);
      even = _mm512_srai_epi64(_mm512_add_epi64(even, nudge), 31);
      odd = _mm512_srai_epi64(_mm512_add_epi64(odd, nudge), 31);
      __m512i r = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
      // RoundingDivideByPOT: + 1 where the remainder exceeds the threshold.
      const __m512i rem = _mm512_and_si512(r, maskv);
      const __m512i thr = _mm512_add_epi32(half, _mm512_and_si512(_mm512_srai_epi32(r, 31), one));
      const __m512i q = _mm512_sra_epi32(r, count);
      r = _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(rem, thr), q, one);
      r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, zp), lov), hiv);
      _mm512_mask_cvtepi32_storeu_epi8(out + i, k, r);
    }
  }
}

// d[i] = (a[i] - z) | (b[i] - z) << 16, 16 at a time.
FNAS_AVX512 void PackPairsAvx512(const uint8_t* a, const uint8_t* b, int64_t n, int32_t z,
                                 int32_t* d) {
  const __m512i zv = _mm512_set1_epi32(z), low = _mm512_set1_epi32(0xFFFF);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 k = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    const __m512i va = _mm512_sub_epi32(
        _mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_maskz_loadu_epi8(k, a + i))), zv);
    const __m512i vb = _mm512_sub_epi32(
        _mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_maskz_loadu_epi8(k, b + i))), zv);
    _mm512_mask_storeu_epi32(d + i, k,
                             _mm512_or_si512(_mm512_and_si512(va, low), _mm512_slli_epi32(vb, 16)));
  }
}

FNAS_AVX512 void InterleaveAvx512(const int16_t* a, const int16_t* b, int64_t n, int16_t* d) {
  alignas(64) int16_t lo_idx[32], hi_idx[32];
  for (int j = 0; j < 16; ++j) {
    lo_idx[2 * j] = static_cast<int16_t>(j);
    lo_idx[2 * j + 1] = static_cast<int16_t>(32 + j);
    hi_idx[2 * j] = static_cast<int16_t>(16 + j);
    hi_idx[2 * j + 1] = static_cast<int16_t>(48 + j);
  }
  const __m512i il = _mm512_load_si512(lo_idx), ih = _mm512_load_si512(hi_idx);
  for (int64_t i = 0; i < n; i += 32) {
    const int64_t left = n - i;
    const auto mask = [](int64_t c) -> __mmask32 {
      return c >= 32 ? 0xFFFFFFFFu : c <= 0 ? 0u : static_cast<__mmask32>((1u << c) - 1);
    };
    const __m512i va = _mm512_maskz_loadu_epi16(mask(left), a + i);
    const __m512i vb = _mm512_maskz_loadu_epi16(mask(left), b + i);
    _mm512_mask_storeu_epi16(d + 2 * i, mask(2 * left), _mm512_permutex2var_epi16(va, il, vb));
    _mm512_mask_storeu_epi16(d + 2 * i + 32, mask(2 * left - 32),
                             _mm512_permutex2var_epi16(va, ih, vb));
  }
}

template <int NO, bool kBytes>
FNAS_AVX512 void DirectBlock(const int32_t* wpair, int64_t wstride, int pairs, int taps,
                             const int64_t* offsets, const int32_t* xpair, int64_t plane, int64_t Q,
                             int64_t p0, int32_t* acc) {
  __mmask16 m[4];
  for (int v = 0; v < 4; ++v) {
    const int64_t left = Q - (p0 + 16 * v);
    m[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
  }
  __m512i a[NO][4];
  for (int o = 0; o < NO; ++o) {
    for (int v = 0; v < 4; ++v) a[o][v] = _mm512_maskz_loadu_epi32(m[v], acc + o * Q + p0 + 16 * v);
  }
  for (int cc = 0; cc < pairs; ++cc) {
    const int32_t* x = xpair + cc * plane + p0;
    const int32_t* w = wpair + int64_t{cc} * taps;
    for (int t = 0; t < taps; ++t) {
      const int32_t* c = x + offsets[t];
      __m512i cv[4];
      for (int v = 0; v < 4; ++v) cv[v] = _mm512_maskz_loadu_epi32(m[v], c + 16 * v);
      for (int o = 0; o < NO; ++o) {
        const __m512i wb = _mm512_set1_epi32(w[o * wstride + t]);
        for (int v = 0; v < 4; ++v) {
          a[o][v] = kBytes ? _mm512_dpbusd_epi32(a[o][v], cv[v], wb)
                           : _mm512_dpwssd_epi32(a[o][v], cv[v], wb);
        }
      }
    }
  }
  for (int o = 0; o < NO; ++o) {
    for (int v = 0; v < 4; ++v) _mm512_mask_storeu_epi32(acc + o * Q + p0 + 16 * v, m[v], a[o][v]);
  }
}

// v < m ? v : m and v > m ? v : m skip a NaN v; z accumulates v * 0, which
// is 0 for finite values and NaN from the first NaN or infinity on.
bool ExtremesPortable(const float* values, int64_t batch, int64_t channels, int64_t plane,
                      float* lo, float* hi) {
  float z = 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = values + (b * channels + c) * plane;
      float l = lo[c], h = hi[c];
      for (int64_t i = 0; i < plane; ++i) {
        l = p[i] < l ? p[i] : l;
        h = p[i] > h ? p[i] : h;
        z += p[i] * 0.0f;
      }
      lo[c] = l;
      hi[c] = h;
    }
  }
  return z == 0;
}

// The same 16 lanes at a time (vminps / vmaxps with the value first keep the
// running extreme on NaN, as the comparisons above).
FNAS_AVX512 bool ExtremesAvx512(const float* values, int64_t batch, int64_t channels, int64_t plane,
                                float* lo, float* hi) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 z = zero;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = values + (b * channels + c) * plane;
      __m512 l = _mm512_set1_ps(lo[c]), h = _mm512_set1_ps(hi[c]);
      int64_t i = 0;
      for (; i + 16 <= plane; i += 16) {
        const __m512 v = _mm512_loadu_ps(p + i);
        l = _mm512_min_ps(v, l);
        h = _mm512_max_ps(v, h);
        z = _mm512_fmadd_ps(v, zero, z);
      }
      if (i < plane) {
        const __mmask16 k = static_cast<__mmask16>((1u << (plane - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(k, p + i);
        l = _mm512_mask_min_ps(l, k, v, l);
        h = _mm512_mask_max_ps(h, k, v, h);
        z = _mm512_mask3_fmadd_ps(v, zero, z, k);
      }
      lo[c] = _mm512_reduce_min_ps(l);
      hi[c] = _mm512_reduce_max_ps(h);
    }
  }
  return _mm512_reduce_add_ps(z) == 0;
}

// The direct convolution of DirectConvPairs (kBytes false) and
// DirectConvQuads (true): blocks of 4 output channels x 64 positions, then
// the 1-3 channels left.
template <bool kBytes>
void DirectConv(const int32_t* wpack, int cout, int packs, int taps, const int64_t* offsets,
                const int32_t* xpack, int64_t plane, int64_t Q, int32_t* acc) {
  const int64_t ws = int64_t{packs} * taps;  // weights of one output channel
  std::vector<int64_t> offs(ws);             // step (pack cc, tap t) -> input offset
  for (int cc = 0; cc < packs; ++cc) {
    for (int t = 0; t < taps; ++t) offs[cc * taps + t] = cc * plane + offsets[t];
  }
  for (int64_t p0 = 0; p0 < Q; p0 += 64) {
    int o = 0;
    for (; o + 4 <= cout; o += 4) {
      const int32_t* w0 = wpack + o * ws;
      Block4<kBytes>(w0, w0 + ws, w0 + 2 * ws, w0 + 3 * ws, offs.data(), ws, xpack, Q, p0,
                     acc + o * Q);
    }
    const int left = cout - o;
    const int32_t* w = wpack + o * ws;
    if (left == 3)
      DirectBlock<3, kBytes>(w, ws, packs, taps, offsets, xpack, plane, Q, p0, acc + o * Q);
    if (left == 2)
      DirectBlock<2, kBytes>(w, ws, packs, taps, offsets, xpack, plane, Q, p0, acc + o * Q);
    if (left == 1)
      DirectBlock<1, kBytes>(w, ws, packs, taps, offsets, xpack, plane, Q, p0, acc + o * Q);
  }
}

// 16 uint8 (k of them) widened to int32 lanes.
FNAS_AVX512 inline __m512i LoadU8(__mmask16 k, const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm512_castsi512_si128(_mm512_maskz_loadu_epi8(k, p)));
}

// d[i] = a[i] | b[i] << 8 | c[i] << 16 | e[i] << 24, 16 at a time.
FNAS_AVX512 void PackQuadsAvx512(const uint8_t* a, const uint8_t* b, const uint8_t* c,
                                 const uint8_t* e, int64_t n, int32_t* d) {
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 k = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    const __m512i v =
        _mm512_or_si512(_mm512_or_si512(LoadU8(k, a + i), _mm512_slli_epi32(LoadU8(k, b + i), 8)),
                        _mm512_or_si512(_mm512_slli_epi32(LoadU8(k, c + i), 16),
                                        _mm512_slli_epi32(LoadU8(k, e + i), 24)));
    _mm512_mask_storeu_epi32(d + i, k, v);
  }
}

FNAS_AVX512 void AffineRowAvx512(const int32_t* s, int64_t n, int32_t b, int32_t c, int32_t* d) {
  const __m512i bv = _mm512_set1_epi32(b), cv = _mm512_set1_epi32(c);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 k = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    const __m512i v = _mm512_maskz_loadu_epi32(k, s + i);
    _mm512_mask_storeu_epi32(d + i, k, _mm512_add_epi32(bv, _mm512_mullo_epi32(v, cv)));
  }
}

}  // namespace

void AffineRow(const int32_t* s, int64_t n, int32_t b, int32_t c, int32_t* d, bool avx512) {
  if (avx512) {
    AffineRowAvx512(s, n, b, c, d);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    d[i] = static_cast<int32_t>(static_cast<uint32_t>(b) +
                                static_cast<uint32_t>(c) * static_cast<uint32_t>(s[i]));
  }
}

void DirectConvPairs(const int32_t* wpair, int cout, int pairs, int taps, const int64_t* offsets,
                     const int32_t* xpair, int64_t plane, int64_t Q, int32_t* acc) {
  DirectConv<false>(wpair, cout, pairs, taps, offsets, xpair, plane, Q, acc);
}

void DirectConvQuads(const int32_t* wquad, int cout, int quads, int taps, const int64_t* offsets,
                     const uint32_t* xquad, int64_t plane, int64_t Q, int32_t* acc) {
  DirectConv<true>(wquad, cout, quads, taps, offsets, reinterpret_cast<const int32_t*>(xquad),
                   plane, Q, acc);
}

void PackQuads(const uint8_t* a, const uint8_t* b, const uint8_t* c, const uint8_t* e, int64_t n,
               uint32_t* d, bool avx512) {
  if (avx512) {
    PackQuadsAvx512(a, b, c, e, n, reinterpret_cast<int32_t*>(d));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    d[i] = uint32_t{a[i]} | uint32_t{b[i]} << 8 | uint32_t{c[i]} << 16 | uint32_t{e[i]} << 24;
  }
}

FNAS_AVX512 void DepthwisePairs(const int32_t* wpair, const int64_t* offsets, int n,
                                const int32_t* sp, int64_t Q, int32_t* acc) {
  for (int64_t p0 = 0; p0 < Q; p0 += 64) {
    __mmask16 m[4];
    __m512i a[4];
    for (int v = 0; v < 4; ++v) {
      const int64_t left = Q - (p0 + 16 * v);
      m[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
      a[v] = _mm512_maskz_loadu_epi32(m[v], acc + p0 + 16 * v);
    }
    for (int j = 0; j < n; ++j) {
      const __m512i wb = _mm512_set1_epi32(wpair[j]);
      const int32_t* c = sp + offsets[j] + p0;
      for (int v = 0; v < 4; ++v) {
        a[v] = _mm512_dpwssd_epi32(a[v], _mm512_maskz_loadu_epi32(m[v], c + 16 * v), wb);
      }
    }
    for (int v = 0; v < 4; ++v) _mm512_mask_storeu_epi32(acc + p0 + 16 * v, m[v], a[v]);
  }
}

bool CpuHasAvx512Vnni() {
  static const bool has = CpuCheck();
  return has;
}

void RequantizeRow(const int32_t* acc, int64_t n, int32_t multiplier, int shift, int32_t zero_point,
                   int32_t lo, int32_t hi, uint8_t* out, bool avx512) {
  RequantizeRows(acc, 1, n, n, multiplier, shift, zero_point, lo, hi, out, n, avx512);
}

void RequantizeRows(const int32_t* acc, int64_t rows, int64_t n, int64_t acc_stride,
                    int32_t multiplier, int shift, int32_t zero_point, int32_t lo, int32_t hi,
                    uint8_t* out, int64_t out_stride, bool avx512) {
  if (avx512 && shift <= 0 && multiplier >= 0) {
    RequantizeAvx512(acc, rows, n, acc_stride, multiplier, -shift, zero_point, lo, hi, out,
                     out_stride);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    RequantizePortable(acc + r * acc_stride, n, multiplier, shift, zero_point, lo, hi,
                       out + r * out_stride);
  }
}

void PackPairs(const uint8_t* a, const uint8_t* b, int64_t n, int32_t zero_point, int32_t* d,
               bool avx512) {
  if (avx512) {
    PackPairsAvx512(a, b, n, zero_point, d);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t lo = static_cast<uint16_t>(static_cast<int16_t>(a[i] - zero_point));
    const uint32_t hi = static_cast<uint16_t>(static_cast<int16_t>(b[i] - zero_point));
    d[i] = static_cast<int32_t>(lo | (hi << 16));
  }
}

void InterleavePairs(const int16_t* a, const int16_t* b, int64_t n, int16_t* d, bool avx512) {
  if (avx512) {
    InterleaveAvx512(a, b, n, d);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    d[2 * i] = a[i];
    d[2 * i + 1] = b[i];
  }
}

void Gemm(const int16_t* w, int cout, int64_t kp, const int16_t* col, int64_t P, int32_t* acc,
          bool avx512) {
  avx512 ? GemmVnni(w, cout, kp, col, P, acc) : GemmPortable(w, cout, kp, col, P, acc);
}

bool ChannelExtremes(const float* values, int64_t batch, int64_t channels, int64_t plane, float* lo,
                     float* hi, bool avx512) {
  return avx512 ? ExtremesAvx512(values, batch, channels, plane, lo, hi)
                : ExtremesPortable(values, batch, channels, plane, lo, hi);
}

int32_t Dot(const int16_t* w, const int16_t* x, int64_t n, bool avx512) {
  return avx512 ? DotVnni(w, x, n) : DotPortable(w, x, n);
}

}  // namespace fnas::evaluators::kernels
