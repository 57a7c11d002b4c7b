// The integer network: hand-computed tiny conv and dense layers, and every op
// kind against a direct transcription of TFLite's reference kernels.
#include "evaluators/quant/quant_net.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <limits>
#include <random>
#include <set>

#include "common/error.h"
#include "evaluators/quant/quant_kernels.h"
#include "space/macro.h"

namespace fnas::evaluators {
namespace {

using space::Op;

QParams Params(double scale, int zp) {
  QParams q;
  q.scale = scale;
  q.zero_point = zp;
  return q;
}

IntegerLayer ConvLayer(bool relu) {
  IntegerLayer L;
  L.op.kind = Op::Kind::kConv;
  L.op.in_c = 1;
  L.op.out_c = 2;
  L.op.in_h = L.op.in_w = L.op.out_h = L.op.out_w = 3;
  L.op.kernel = 3;
  L.op.pad = 1;
  L.op.relu = relu;
  L.input = Params(0.5, 10);
  L.weight = Params(0.25, 4);
  L.output = Params(1.0, 3);
  L.weights = {4, 5, 4, 4, 6, 4, 3, 4, 8,   // channel 0
               0, 8, 4, 4, 4, 4, 4, 4, 1};  // channel 1
  L.bias = {8, -20};
  L.real_multiplier = 0.125;  // 0.5 * 0.25 / 1
  QuantizeMultiplier(L.real_multiplier, &L.multiplier, &L.shift);
  L.act_min = relu ? 3 : 0;
  return L;
}

const std::vector<uint8_t> kConvInput = {10, 12, 14, 11, 10, 9, 20, 10, 10};

TEST(IntegerNetTest, TinyConvByHand) {
  // Centre of channel 0: (q - z) products 2*1 + 10*(-1) = -8, + bias 8 = 0 -> z_out 3.
  // Centre of channel 1: 2*4 + 0*(-3) = 8, - 20 = -12; * 0.125 = -1.5 -> -2 (half
  // away from zero) -> 3 - 2 = 1, or 3 after ReLU.
  for (bool portable : {false, true}) {
    IntegerNet no_relu(Params(0.5, 10), {ConvLayer(false)});
    no_relu.set_portable(portable);
    EXPECT_EQ(no_relu.Run(kConvInput.data(), 1),
              (std::vector<uint8_t>{4, 4, 5, 4, 3, 4, 7, 4, 4,    // acc 8 7 16 10 0 10 29 8 7
                                    0, 1, 0, 0, 1, 1, 1, 0, 0}))  // acc -20 -17 -20 -20 -12 ...
        << "portable " << portable;
    IntegerNet relu(Params(0.5, 10), {ConvLayer(true)});
    relu.set_portable(portable);
    EXPECT_EQ(relu.Run(kConvInput.data(), 1),
              (std::vector<uint8_t>{4, 4, 5, 4, 3, 4, 7, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3}));
  }
}

TEST(IntegerNetTest, TinyDenseByHand) {
  IntegerLayer L;
  L.op.kind = Op::Kind::kDense;
  L.op.in_c = 3;
  L.op.out_c = 2;
  L.op.in_h = L.op.in_w = L.op.out_h = L.op.out_w = 1;
  L.input = Params(0.5, 128);
  L.weight = Params(0.25, 100);
  L.output = Params(0.1, 50);
  L.weights = {110, 90, 101, 100, 105, 100};
  L.bias = {-107, 3};
  L.real_multiplier = 1.25;  // > 1: QuantizeMultiplier gives a left shift
  QuantizeMultiplier(L.real_multiplier, &L.multiplier, &L.shift);
  EXPECT_EQ(L.shift, 1);
  const std::vector<uint8_t> x = {130, 120, 255};  // q - z = 2, -8, 127
  for (bool portable : {false, true}) {
    IntegerNet net(L.input, {L});
    net.set_portable(portable);
    // 2*10 + (-8)(-10) + 127*1 - 107 = 120 -> 150 + 50; 0 - 8*5 + 0 + 3 = -37 -> -46.25 -> 4.
    EXPECT_EQ(net.Run(x.data(), 1), (std::vector<uint8_t>{200, 4}));
    const auto deq = net.Dequantize({200, 4});
    EXPECT_FLOAT_EQ(deq[0], 15.0f);
    EXPECT_FLOAT_EQ(deq[1], -4.6f);
  }
}

// A direct transcription of TFLite's reference uint8 kernels, one image.
std::vector<uint8_t> Reference(const IntegerNet& net, std::vector<uint8_t> x) {
  for (const IntegerLayer& L : net.layers()) {
    const Op& op = L.op;
    std::vector<uint8_t> y(L.out_size());
    if (op.kind == Op::Kind::kConv) {
      const int cin_g = op.in_c / op.groups, cout_g = op.out_c / op.groups;
      for (int o = 0; o < op.out_c; ++o) {
        const int g = o / cout_g;
        for (int oy = 0; oy < op.out_h; ++oy) {
          for (int ox = 0; ox < op.out_w; ++ox) {
            int32_t acc = 0;
            for (int c = 0; c < cin_g; ++c) {
              for (int ky = 0; ky < op.kernel; ++ky) {
                for (int kx = 0; kx < op.kernel; ++kx) {
                  const int iy = oy * op.stride - op.pad + ky, ix = ox * op.stride - op.pad + kx;
                  if (iy < 0 || iy >= op.in_h || ix < 0 || ix >= op.in_w) continue;
                  const int32_t xv = x[((g * cin_g + c) * op.in_h + iy) * op.in_w + ix];
                  const int32_t wv = L.weights[((o * cin_g + c) * op.kernel + ky) * op.kernel + kx];
                  acc += (xv - L.input.zero_point) * (wv - L.weight.zero_point);
                }
              }
            }
            acc += L.bias[o];
            acc = MultiplyByQuantizedMultiplier(acc, L.multiplier, L.shift);
            acc += L.output.zero_point;
            y[(o * op.out_h + oy) * op.out_w + ox] =
                static_cast<uint8_t>(std::clamp(acc, L.act_min, L.act_max));
          }
        }
      }
    } else if (op.kind == Op::Kind::kDense) {
      for (int o = 0; o < op.out_c; ++o) {
        int32_t acc = 0;
        for (int i = 0; i < op.in_c; ++i) {
          acc += (x[i] - L.input.zero_point) * (L.weights[o * op.in_c + i] - L.weight.zero_point);
        }
        acc = MultiplyByQuantizedMultiplier(acc + L.bias[o], L.multiplier, L.shift) +
              L.output.zero_point;
        y[o] = static_cast<uint8_t>(std::clamp(acc, L.act_min, L.act_max));
      }
    } else if (op.kind == Op::Kind::kMaxPool) {
      for (int c = 0; c < op.out_c; ++c) {
        for (int oy = 0; oy < op.out_h; ++oy) {
          for (int ox = 0; ox < op.out_w; ++ox) {
            uint8_t m = 0;
            for (int ky = 0; ky < 2; ++ky) {
              for (int kx = 0; kx < 2; ++kx) {
                m = std::max(m, x[(c * op.in_h + 2 * oy + ky) * op.in_w + 2 * ox + kx]);
              }
            }
            y[(c * op.out_h + oy) * op.out_w + ox] = m;
          }
        }
      }
    } else {
      y = x;
    }
    x = std::move(y);
  }
  return x;
}

// A random quantized network over a small plan with regular, grouped,
// depthwise and pointwise convs, odd spatial sizes and odd K.
IntegerNet RandomNet(const space::Plan& plan, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> w(0.0f, 0.3f), b(0.0f, 0.5f);
  std::uniform_real_distribution<double> lo(-4.0, 0.5), hi(0.5, 6.0);
  std::vector<FloatLayer> layers(plan.ops.size());
  std::vector<QParams> outputs(plan.ops.size());
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const Op& op = plan.ops[i];
    if (op.kind != Op::Kind::kConv && op.kind != Op::Kind::kDense) continue;
    const size_t n = op.kind == Op::Kind::kConv
                         ? size_t(op.out_c) * (op.in_c / op.groups) * op.kernel * op.kernel
                         : size_t(op.out_c) * op.in_c;
    for (size_t k = 0; k < n; ++k) layers[i].weight.push_back(w(rng));
    for (int k = 0; k < op.out_c; ++k) layers[i].bias.push_back(b(rng));
    outputs[i] = ChooseQParams(lo(rng), hi(rng));
  }
  return IntegerNet(plan, ChooseQParams(-2.0, 2.5), layers, outputs);
}

space::Plan SmallPlan() {
  space::MacroOptions m;
  m.in_channels = 3;
  m.in_height = m.in_width = 10;
  m.width = 0.125;  // depths 8, 16, 32
  m.dense = {24};
  m.classes = 5;
  const space::Macro macro(m);
  return space::BuildPlan(macro, {1, 2, 8, 4, 1, 16, 2, 32});
}

TEST(IntegerNetTest, EveryKernelMatchesTheReferenceTranscription) {
  const space::Plan plan = SmallPlan();
  const IntegerNet net = RandomNet(plan, 7);
  IntegerNet portable = net;
  portable.set_portable(true);
  std::cout << "AVX-512 VNNI kernel: " << (net.uses_vnni() ? "yes" : "no (portable only)") << "\n";
  std::mt19937 rng(3);
  const int batch = 6;
  std::vector<uint8_t> images(batch * net.input_size());
  for (auto& v : images) v = static_cast<uint8_t>(rng() & 255);
  IntegerNet::Trace trace;
  const auto out = net.Run(images.data(), batch, &trace);
  EXPECT_EQ(portable.Run(images.data(), batch), out);
  ASSERT_EQ(trace.size(), plan.ops.size());
  int distinct = 0;
  for (int b = 0; b < batch; ++b) {
    const std::vector<uint8_t> x(images.begin() + b * net.input_size(),
                                 images.begin() + (b + 1) * net.input_size());
    const auto ref = Reference(net, x);
    const std::vector<uint8_t> got(out.begin() + b * 5, out.begin() + (b + 1) * 5);
    EXPECT_EQ(got, ref) << "image " << b;
    distinct += std::set<uint8_t>(ref.begin(), ref.end()).size() > 1;
  }
  EXPECT_GT(distinct, 0);  // the logits are not all clamped to one value
  // The trace of the last op is the logits.
  EXPECT_EQ(trace.back(), out);
  EXPECT_TRUE(trace[plan.Find("pool_1")].empty());
}

TEST(IntegerNetTest, WideImagesAndNoHiddenDenseMatchTheReference) {
  // 36 x 36 rows span more than one 32-lane chunk of the AVX-512 im2col.
  space::MacroOptions m;
  m.in_channels = 1;
  m.in_height = m.in_width = 36;
  m.width = 0.125;
  m.dense = {};
  m.classes = 3;
  const space::Macro macro(m);
  for (const space::Factorization& f :
       {space::RegularFactorization(macro), space::DepthwiseFactorization(macro)}) {
    const IntegerNet net = RandomNet(space::BuildPlan(macro, f), 11);
    IntegerNet portable = net;
    portable.set_portable(true);
    std::mt19937 rng(5);
    std::vector<uint8_t> image(net.input_size());
    for (auto& v : image) v = static_cast<uint8_t>(rng() & 255);
    EXPECT_EQ(net.Run(image.data(), 1), Reference(net, image));
    EXPECT_EQ(portable.Run(image.data(), 1), Reference(net, image));
  }
}

TEST(KernelsTest, Avx512RequantizationIsBitIdenticalToTheReference) {
  if (!kernels::CpuHasAvx512Vnni()) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  std::mt19937 rng(17);
  std::vector<int32_t> acc;
  for (int i = 0; i < 4000; ++i) acc.push_back(static_cast<int32_t>(rng()));  // full range
  for (int i = 0; i < 4000; ++i) acc.push_back(static_cast<int32_t>(rng() % 20001) - 10000);
  for (int i = -64; i <= 64; ++i) acc.push_back(i);  // ties for small shifts
  acc.push_back(std::numeric_limits<int32_t>::min());
  acc.push_back(std::numeric_limits<int32_t>::max());
  for (double m : {0.5, 0.125, 0.1, 0.0037, 3.1e-5, 0.999999, 1e-9}) {
    int32_t mult;
    int shift;
    QuantizeMultiplier(m, &mult, &shift);
    for (int relu = 0; relu < 2; ++relu) {
      const int32_t zp = 37, lo = relu ? zp : 0;
      std::vector<uint8_t> fast(acc.size()), ref(acc.size());
      for (size_t n : {acc.size(), size_t{13}}) {  // a masked tail too
        kernels::RequantizeRow(acc.data(), n, mult, shift, zp, lo, 255, fast.data(), true);
        kernels::RequantizeRow(acc.data(), n, mult, shift, zp, lo, 255, ref.data(), false);
        EXPECT_EQ(fast, ref) << "M = " << m;
      }
    }
  }
  std::vector<int16_t> a(77), b(77), d1(154), d2(154);
  for (int i = 0; i < 77; ++i) a[i] = int16_t(i * 3 - 100), b[i] = int16_t(-i * 7);
  for (int64_t n : {77, 32, 5, 0}) {
    std::fill(d1.begin(), d1.end(), 1);
    std::fill(d2.begin(), d2.end(), 1);
    kernels::InterleavePairs(a.data(), b.data(), n, d1.data(), true);
    kernels::InterleavePairs(a.data(), b.data(), n, d2.data(), false);
    EXPECT_EQ(d1, d2) << n;  // and nothing beyond 2n is written
  }
}

TEST(KernelsTest, StridedRequantizationAndPairPackingMatchThePortableKernels) {
  if (!kernels::CpuHasAvx512Vnni()) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  // Rows of 7 and 28 values (a conv's output width) inside rows of 9 and 30
  // accumulators (its padded width); what lies between the rows is not written.
  std::mt19937 rng(23);
  int32_t mult;
  int shift;
  QuantizeMultiplier(0.0037, &mult, &shift);
  for (const int64_t width : {7, 28}) {
    const int64_t rows = 5, stride = width + 2;
    std::vector<int32_t> acc(rows * stride);
    for (auto& a : acc) a = static_cast<int32_t>(rng() % 200001) - 100000;
    std::vector<uint8_t> fast(rows * width + 3, 7), ref(rows * width + 3, 7);
    kernels::RequantizeRows(acc.data(), rows, width, stride, mult, shift, 40, 40, 255, fast.data(),
                            width, true);
    kernels::RequantizeRows(acc.data(), rows, width, stride, mult, shift, 40, 40, 255, ref.data(),
                            width, false);
    EXPECT_EQ(fast, ref) << width;
    for (int64_t r = 0; r < rows; ++r) {  // against the one-row kernel on each row
      std::vector<uint8_t> row(width);
      kernels::RequantizeRow(acc.data() + r * stride, width, mult, shift, 40, 40, 255, row.data(),
                             false);
      EXPECT_TRUE(std::equal(row.begin(), row.end(), ref.begin() + r * width)) << r;
    }
    EXPECT_EQ(ref.back(), 7);
  }
  std::vector<uint8_t> a(53), b(53);
  for (auto& v : a) v = static_cast<uint8_t>(rng());
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  a[0] = 0, b[0] = 255;
  for (const int64_t n : {53, 16, 3, 0}) {
    std::vector<int32_t> d1(54, 1), d2(54, 1);
    kernels::PackPairs(a.data(), b.data(), n, 131, d1.data(), true);
    kernels::PackPairs(a.data(), b.data(), n, 131, d2.data(), false);
    EXPECT_EQ(d1, d2) << n;  // and nothing beyond n is written
    if (n > 0) {
      EXPECT_EQ(static_cast<int16_t>(d2[0] & 0xFFFF), -131);
      EXPECT_EQ(static_cast<int16_t>(d2[0] >> 16), 255 - 131);
    }
  }
}

// One conv layer of a given shape with random uint8 weights and the given
// zero points (input, weight, output), its bias and multiplier random too.
IntegerLayer RandomConv(int in_c, int out_c, int groups, int kernel, int pad, int h, int w, int zin,
                        int zw, int zout, bool relu, std::mt19937& rng) {
  IntegerLayer L;
  L.op.kind = Op::Kind::kConv;
  L.op.in_c = in_c;
  L.op.out_c = out_c;
  L.op.groups = groups;
  L.op.kernel = kernel;
  L.op.stride = 1;
  L.op.pad = pad;
  L.op.in_h = h;
  L.op.in_w = w;
  L.op.out_h = h + 2 * pad - kernel + 1;
  L.op.out_w = w + 2 * pad - kernel + 1;
  L.op.relu = relu;
  L.input = Params(0.05, zin);
  L.weight = Params(0.01, zw);
  L.output = Params(0.5, zout);
  L.weights.resize(size_t(out_c) * (in_c / groups) * kernel * kernel);
  for (auto& v : L.weights) v = static_cast<uint8_t>(rng());
  for (int o = 0; o < out_c; ++o) L.bias.push_back(static_cast<int32_t>(rng() % 20001) - 10000);
  L.real_multiplier = 0.0005 + (rng() % 1000) * 1e-6;
  QuantizeMultiplier(L.real_multiplier, &L.multiplier, &L.shift);
  L.act_min = relu ? zout : 0;
  return L;
}

// The conv kernels (u8 x s8 channel quads, int16 channel pairs, depthwise,
// im2col) against the portable path and the reference transcription on random
// shapes: groups, depthwise, channel counts per group that are multiples of 4,
// even only and odd, "same" and "valid" padding, zero points at 0, 128 and 255.
TEST(IntegerNetTest, EveryConvKernelIsBitExactOnRandomShapes) {
  struct Shape {
    int in_c, out_c, groups, kernel, pad, h, w;
  };
  const std::vector<Shape> shapes = {
      {8, 8, 1, 3, 1, 9, 11},  {16, 12, 2, 3, 1, 7, 7}, {12, 5, 1, 1, 0, 6, 13},
      {4, 7, 1, 3, 0, 10, 9},  {24, 24, 3, 3, 1, 5, 6}, {8, 8, 8, 3, 1, 8, 8},
      {6, 6, 3, 3, 1, 7, 5},   {3, 5, 1, 3, 1, 9, 9},   {10, 4, 2, 3, 1, 6, 6},
      {20, 9, 1, 5, 2, 8, 17}, {32, 16, 1, 1, 0, 4, 4}, {12, 12, 12, 5, 2, 9, 9},
      {8, 3, 1, 3, 1, 1, 70},  {16, 64, 4, 3, 1, 3, 3},
  };
  std::mt19937 rng(29);
  int compared = 0;
  for (const Shape& sh : shapes) {
    for (const int z : {0, 128, 255}) {
      for (const bool relu : {false, true}) {
        // Zero points: all at z, then input, weight and output each apart.
        const int zin = z, zw = (z + 77) % 256, zout = relu ? 255 - z : z;
        for (const auto& [zi, zwt] : {std::pair{z, z}, std::pair{zin, zw}}) {
          const IntegerLayer L = RandomConv(sh.in_c, sh.out_c, sh.groups, sh.kernel, sh.pad, sh.h,
                                            sh.w, zi, zwt, zout, relu, rng);
          IntegerNet net(L.input, {L});
          IntegerNet portable = net;
          portable.set_portable(true);
          const int batch = 2;
          std::vector<uint8_t> images(batch * net.input_size());
          for (auto& v : images) v = static_cast<uint8_t>(rng());
          const auto out = net.Run(images.data(), batch);
          ASSERT_EQ(portable.Run(images.data(), batch), out)
              << sh.in_c << "->" << sh.out_c << " g" << sh.groups << " k" << sh.kernel << " z "
              << zi << "/" << zwt;
          const std::vector<uint8_t> first(images.begin(), images.begin() + net.input_size());
          const std::vector<uint8_t> got(out.begin(), out.begin() + net.output_size());
          ASSERT_EQ(got, Reference(net, first)) << sh.in_c << "->" << sh.out_c;
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 14 * 3 * 2 * 2);
}

TEST(KernelsTest, QuadPackingMatchesThePortableKernel) {
  if (!kernels::CpuHasAvx512Vnni()) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  std::mt19937 rng(31);
  std::vector<uint8_t> a(37), b(37), c(37), e(37);
  for (auto* v : {&a, &b, &c, &e}) {
    for (auto& x : *v) x = static_cast<uint8_t>(rng());
  }
  a[0] = 1, b[0] = 2, c[0] = 3, e[0] = 255;
  for (const int64_t n : {37, 16, 5, 0}) {
    std::vector<uint32_t> d1(38, 9), d2(38, 9);
    kernels::PackQuads(a.data(), b.data(), c.data(), e.data(), n, d1.data(), true);
    kernels::PackQuads(a.data(), b.data(), c.data(), e.data(), n, d2.data(), false);
    EXPECT_EQ(d1, d2) << n;  // and nothing beyond n is written
    if (n > 0) {
      EXPECT_EQ(d2[0], 0xFF030201u);
    }
  }
}

TEST(KernelsTest, DotMatchesThePortableKernel) {
  if (!kernels::CpuHasAvx512Vnni()) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  std::mt19937 rng(37);
  std::vector<int16_t> w(600), x(600);
  for (auto& v : w) v = static_cast<int16_t>(static_cast<int>(rng() % 511) - 255);
  for (auto& v : x) v = static_cast<int16_t>(static_cast<int>(rng() % 511) - 255);
  for (const int64_t n : {0, 1, 2, 31, 32, 33, 64, 77, 576, 600}) {
    EXPECT_EQ(kernels::Dot(w.data(), x.data(), n, true), kernels::Dot(w.data(), x.data(), n, false))
        << n;
  }
}

TEST(IntegerNetTest, RejectsMismatchedLayers) {
  const space::Plan plan = SmallPlan();
  std::vector<FloatLayer> layers(plan.ops.size());
  std::vector<QParams> outputs(plan.ops.size());
  EXPECT_THROW(IntegerNet(plan, QParams(), layers, outputs), Error);
  layers.pop_back();
  EXPECT_THROW(IntegerNet(plan, QParams(), layers, outputs), Error);
}

}  // namespace
}  // namespace fnas::evaluators
