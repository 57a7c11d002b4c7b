// Low-level kernels of the integer network (and of calibration), each with a portable version and
// an AVX-512 one (chosen at run time; the results are bit-identical, which
// tests/evaluators/quant_net_test.cpp checks). Pure functions.
#pragma once

#include <cstdint>

namespace fnas::evaluators::kernels {

// Whether this CPU has AVX-512 F, BW and VNNI (checked once).
bool CpuHasAvx512Vnni();

// out[i] = clamp(MultiplyByQuantizedMultiplier(acc[i], multiplier, shift) + zero_point, lo, hi).
void RequantizeRow(const int32_t* acc, int64_t n, int32_t multiplier, int shift, int32_t zero_point,
                   int32_t lo, int32_t hi, uint8_t* out, bool avx512);

// RequantizeRow over `rows` rows of n values, row r at acc + r * acc_stride
// and out + r * out_stride (a conv's output rows inside its padded-width
// accumulators).
void RequantizeRows(const int32_t* acc, int64_t rows, int64_t n, int64_t acc_stride,
                    int32_t multiplier, int shift, int32_t zero_point, int32_t lo, int32_t hi,
                    uint8_t* out, int64_t out_stride, bool avx512);

// Channel pairs of uint8 codes less their zero point, packed as two int16 in
// an int32: d[i] = (a[i] - z) in the low half, (b[i] - z) in the high half.
void PackPairs(const uint8_t* a, const uint8_t* b, int64_t n, int32_t zero_point, int32_t* d,
               bool avx512);

// d[2i] = a[i], d[2i + 1] = b[i] for i < n.
void InterleavePairs(const int16_t* a, const int16_t* b, int64_t n, int16_t* d, bool avx512);

// acc[o][p] += sum_k w[o][k] * col[k][p] for o < cout, p < P; w is [cout][kp]
// (kp even), col is [kp / 2][P][2] (pairs of k interleaved per pixel).
void Gemm(const int16_t* w, int cout, int64_t kp, const int16_t* col, int64_t P, int32_t* acc,
          bool avx512);

// Direct stride-1 convolution over channel pairs (AVX-512 VNNI only):
// acc[o][q] += sum_cc sum_t wpair[o][cc][t] . xpair[cc * plane + offsets[t] + q]
// for o < cout, q < Q, where a pair packs two int16 (low: even channel, high:
// odd channel) in an int32 and "." is their dot product.
void DirectConvPairs(const int32_t* wpair, int cout, int pairs, int taps, const int64_t* offsets,
                     const int32_t* xpair, int64_t plane, int64_t Q, int32_t* acc);

// The same over channel quads with unsigned x signed byte products (AVX-512
// VNNI only): a quad packs four uint8 inputs (xquad, channel 4cq + j in byte
// j) or four int8 weights (wquad, same order) in 32 bits, and "." is the sum
// of the four byte products.
void DirectConvQuads(const int32_t* wquad, int cout, int quads, int taps, const int64_t* offsets,
                     const uint32_t* xquad, int64_t plane, int64_t Q, int32_t* acc);

// d[i] = a[i] | b[i] << 8 | c[i] << 16 | e[i] << 24 for i < n: four uint8
// channels as one quad.
void PackQuads(const uint8_t* a, const uint8_t* b, const uint8_t* c, const uint8_t* e, int64_t n,
               uint32_t* d, bool avx512);

// d[i] = b + c * s[i] for i < n (int32, wrapping as the accumulators do).
void AffineRow(const int32_t* s, int64_t n, int32_t b, int32_t c, int32_t* d, bool avx512);

// Depthwise stride-1 conv of one channel (AVX-512 VNNI only): sp[q] packs the
// padded input pair (x[q], x[q + 1]); acc[q] += sum_j wpair[j] . sp[offsets[j] + q]
// for q < Q (each pair of weights covers two horizontally adjacent taps).
void DepthwisePairs(const int32_t* wpair, const int64_t* offsets, int n, const int32_t* sp,
                    int64_t Q, int32_t* acc);

// The exact min and max of each channel of `values` laid out
// [batch][channels][plane] (row-major, float), merged into lo[c] / hi[c] (the
// caller initializes them, e.g. to +inf / -inf): the per-channel extremes of
// a calibration batch in one pass. Returns false, leaving lo / hi
// unspecified, when a value is NaN or infinite.
bool ChannelExtremes(const float* values, int64_t batch, int64_t channels, int64_t plane, float* lo,
                     float* hi, bool avx512);

// sum_i w[i] * x[i] in int32.
int32_t Dot(const int16_t* w, const int16_t* x, int64_t n, bool avx512);

}  // namespace fnas::evaluators::kernels
