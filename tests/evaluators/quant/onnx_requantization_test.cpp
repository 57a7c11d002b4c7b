// The requantization subgraph of the exact ONNX export (ExportOnnxRequantization,
// the same nodes every conv and dense layer of `export --format onnx-exact`
// gets), run in ONNX Runtime (npm onnxruntime-node, tests/onnx/run_onnx.js):
// hand-computed cases of TFLite's double rounding (positive and negative
// accumulators, ties, left and right shifts, the int32 wrap of the left
// shift, the ReLU and uint8 clamps, multiplier 0), then random accumulators
// against our C++ MultiplyByQuantizedMultiplier; and the exact graph's input
// quantization (round half away from zero, where ONNX's Round and
// QuantizeLinear go to even) against hand cases and QuantizeValue.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "evaluators/quant/export_onnx.h"
#include "evaluators/quant/quant.h"
#include "tests/testing/cli.h"

namespace fnas::evaluators {
namespace {

namespace fs = std::filesystem;

struct Requant {
  int32_t multiplier;
  int shift;
  int32_t zero_point, lo, hi;
};

class OnnxRequantization : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() /
             ("fnas_requant_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".onnx"))
                .string();
  }
  void TearDown() override { fs::remove(path_); }

  // The uint8 outputs of the exported subgraph for `acc`, run in ONNX Runtime.
  std::vector<int> RunInOnnxRuntime(const Requant& r, const std::vector<int32_t>& acc) {
    ExportOnnxRequantization(r.multiplier, r.shift, r.zero_point, r.lo, r.hi, path_);
    std::vector<std::string> values;
    for (int32_t a : acc) values.push_back(std::to_string(a));
    return Run("acc int32", values);
  }

  // The model at path_ run on one input "NAME TYPE" with `values`: its "out".
  std::vector<int> Run(const std::string& input, const std::vector<std::string>& values) {
    std::string cmd =
        "node " + testing::SourcePath("tests/onnx/run_onnx.js") + " " + path_ + " " + input;
    for (const auto& v : values) cmd += " " + v;
    const auto result = testing::RunShell(cmd);
    EXPECT_EQ(result.code, 0) << result.out;
    std::istringstream in(result.out);
    std::string name;
    in >> name;
    EXPECT_EQ(name, "out") << result.out;
    std::vector<int> out;
    for (int v; in >> v;) out.push_back(v);
    EXPECT_EQ(out.size(), values.size()) << result.out;
    return out;
  }

  std::string path_;
};

// Our C++ integer path's requantization (quant_kernels' portable loop).
std::vector<int> InCpp(const Requant& r, const std::vector<int32_t>& acc) {
  std::vector<int> out;
  for (int32_t a : acc) {
    const int32_t v = MultiplyByQuantizedMultiplier(a, r.multiplier, r.shift) + r.zero_point;
    out.push_back(std::clamp(v, r.lo, r.hi));
  }
  return out;
}

constexpr int32_t kHalf = int32_t{1} << 30;  // Q31 mantissa of 0.5

TEST_F(OnnxRequantization, HandComputedDoubleRoundingWithRightShift) {
  // M = 0.5 * 2^-1 = 0.25, zero point 100. The high multiply rounds x/4 * 2
  // half up (ties toward +inf), the divide by 2 rounds half away from zero:
  //   6 -> 1.5 -> 3 -> 2;     -6 -> -3 -> -2 (-1.5 away from zero);
  //   5 -> 2.5 -> 3 -> 2 (1.25 rounds twice up to 2);
  //  -5 -> -2.5 -> -2 -> -1;  7 -> 3.5 -> 4 -> 2;  -7 -> -3.5 -> -3 -> -2;
  //   1 -> 0.5 -> 1 -> 1 (0.25 becomes 1);  -1 -> -0.5 -> 0 -> 0;
  //   2000 -> 500 -> 600, clamped to 255;  -1000 -> -250 -> -150, clamped to 0.
  const std::vector<int32_t> acc = {6, -6, 5, -5, 7, -7, 1, -1, 0, 2000, -1000};
  const std::vector<int> expected = {102, 98, 102, 99, 102, 98, 101, 100, 100, 255, 0};
  EXPECT_EQ(RunInOnnxRuntime({kHalf, -1, 100, 0, 255}, acc), expected);
  EXPECT_EQ(InCpp({kHalf, -1, 100, 0, 255}, acc), expected);
  // The same with a fused ReLU: clamped below at the zero point.
  EXPECT_EQ(RunInOnnxRuntime({kHalf, -1, 100, 100, 255}, acc),
            (std::vector<int>{102, 100, 102, 100, 102, 100, 101, 100, 100, 255, 100}));
}

TEST_F(OnnxRequantization, HandComputedTiesAfterALongRightShift) {
  // M = 0.5 * 2^-20 = 2^-21. 5242880 = 2.5 * 2^21: the high multiply gives
  // 2621440 exactly, the shift by 20 is the tie 2.5 -> 3 (away from zero);
  // -5242880 -> -3. 5242879 (2.4999995 * 2^21): the high multiply rounds
  // 2621439.5 up to 2621440, then the tie rounds up again: 3 where a single
  // rounding gives 2. 3145727 (1.4999995): 1572863.5 -> 1572864 -> 1.5 -> 2.
  const std::vector<int32_t> acc = {5242880, -5242880, 5242879, -5242879, 3145727, 2097152};
  const std::vector<int> expected = {103, 97, 103, 98, 102, 101};
  EXPECT_EQ(RunInOnnxRuntime({kHalf, -20, 100, 0, 255}, acc), expected);
  EXPECT_EQ(InCpp({kHalf, -20, 100, 0, 255}, acc), expected);
}

TEST_F(OnnxRequantization, HandComputedLeftShiftWrapsLikeInt32) {
  // M = 0.75 * 2^2 = 3: 3 -> 9, -3 -> -9. 2^30 + 5 shifted left by 2 is
  // 2^32 + 20, which wraps to 20 in int32 (as the C++ path's uint32 multiply),
  // then 20 * 0.75 = 15.
  const std::vector<int32_t> acc = {3, -3, 0, (int32_t{1} << 30) + 5, 40};
  const std::vector<int> expected = {109, 91, 100, 115, 220};
  EXPECT_EQ(RunInOnnxRuntime({3 * (int32_t{1} << 29), 2, 100, 0, 255}, acc), expected);
  EXPECT_EQ(InCpp({3 * (int32_t{1} << 29), 2, 100, 0, 255}, acc), expected);
}

TEST_F(OnnxRequantization, MultiplierZeroGivesTheZeroPoint) {
  // A zero-width output range (scale 0) has multiplier 0: every value is the zero point.
  EXPECT_EQ(RunInOnnxRuntime({0, 0, 7, 0, 255}, {12345, -12345, 0}), (std::vector<int>{7, 7, 7}));
}

TEST_F(OnnxRequantization, RandomAccumulatorsMatchMultiplyByQuantizedMultiplier) {
  std::mt19937 rng(12);
  // Multipliers as QuantizeMultiplier makes them ([2^30, 2^31)), shifts from
  // far right to left, accumulators spread so that most outputs are not clamped.
  const std::vector<std::pair<Requant, int32_t>> cases = {
      {{1518500250, -9, 128, 0, 255}, 60000},      {{1300000000, -1, 128, 0, 255}, 300},
      {{1073741824, 0, 128, 0, 255}, 200},         {{1200000000, 3, 128, 0, 255}, 20},
      {{2147483647, -31, 128, 0, 255}, INT32_MAX}, {{1999999999, -17, 3, 3, 255}, 10000000}};
  for (const auto& [r, range] : cases) {
    std::uniform_int_distribution<int32_t> dist(-range, range);
    std::vector<int32_t> acc = {INT32_MAX, INT32_MIN, 0, 1, -1};
    for (int i = 0; i < 300; ++i) acc.push_back(dist(rng));
    EXPECT_EQ(RunInOnnxRuntime(r, acc), InCpp(r, acc))
        << "multiplier " << r.multiplier << ", shift " << r.shift;
  }
}

TEST_F(OnnxRequantization, InputQuantizationRoundsHalfAwayFromZero) {
  // Scale 0.25, zero point 100: x / 0.25 = 4x. Ties go away from zero
  // (0.125 -> 0.5 -> 1, 0.375 -> 1.5 -> 2, 0.625 -> 2.5 -> 3 where half to even
  // gives 2, -0.625 -> -3); 0.12499999 (0.49999997 after the division, the
  // float just below a half) -> 0; clamped to [0, 255].
  QParams q;
  q.scale = 0.25f;
  q.zero_point = 100;
  ExportOnnxInputQuantization(q, path_);
  const std::vector<float> x = {0.125f,      -0.125f, 0.375f, 0.625f, -0.625f,
                                0.12499999f, 1.3f,    100.0f, -100.0f};
  std::vector<std::string> values;
  std::vector<int> in_cpp;
  for (float v : x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
    values.push_back(buf);
    in_cpp.push_back(QuantizeValue(v, q));
  }
  const std::vector<int> expected = {101, 99, 102, 103, 97, 100, 105, 255, 0};
  EXPECT_EQ(Run("x float32", values), expected);
  EXPECT_EQ(in_cpp, expected);
}

}  // namespace
}  // namespace fnas::evaluators
