// The exported integer model: read back by the C++ reader and by an
// independent numpy reader (scripts/run_integer_model.py), both of which must
// reproduce the integer path's outputs exactly.
#include "evaluators/quant/export.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "evaluators/quant/analysis.h"
#include "tests/evaluators/quant/quant_testing.h"
#include "tests/testing/cli.h"

namespace fnas::evaluators {
namespace {

namespace fs = std::filesystem;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fnas_export_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

void CheckExport(const QuantizedModel& m, const Normalization& normalization, const Split& test,
                 const fs::path& dir_);

// Whichever calibration method chose the activation ranges.
TEST_F(ExportTest, IndependentNumpyReaderReproducesTheIntegerPathExactly) {
  const Split train = testing::SyntheticSplit(640, 21);
  const Split test = testing::SyntheticSplit(96, 22);
  space::FactorizeNet net = testing::TrainedNet(train, 60, 8);
  const Normalization normalization{{0.31f, 0.29f, 0.3f}, {0.26f, 0.24f, 0.25f}};
  std::vector<double> stem_scales;
  for (const std::string method : {"minmax", "percentile", "mse", "entropy"}) {
    SCOPED_TRACE(method);
    QuantOptions o;
    o.calibration_samples = 128;
    o.calibration = method;
    const QuantizedModel m = QuantizeModel(net, train, normalization, o, 1);
    stem_scales.push_back(m.net.layers()[0].output.scale);
    CheckExport(m, normalization, test, dir_ / method);
  }
  // The methods did choose different ranges.
  EXPECT_NE(stem_scales[0], stem_scales[1]);
  EXPECT_NE(stem_scales[0], stem_scales[2]);
}

void CheckExport(const QuantizedModel& m, const Normalization& normalization, const Split& test,
                 const fs::path& dir_) {
  ExportInfo info;
  info.candidate = "test";
  info.key = "1.2.8.4.1.16.2.32";
  info.dataset = "synthetic";
  info.mean = normalization.mean;
  info.std = normalization.std;
  ExportIntegerNet(m.net, info, dir_.string());

  // The integer path on the test images (raw pixels -> normalize -> quantize -> run).
  const int64_t n = test.size();
  const torch::Tensor x = normalization(test.images).contiguous();
  const auto xq = m.net.QuantizeInput(x.data_ptr<float>(), n);
  const auto expected = m.net.Run(xq.data(), n);

  // The C++ reader round-trips every field that inference needs.
  ExportInfo back;
  const IntegerNet read = ReadIntegerNet(dir_.string(), &back);
  EXPECT_EQ(back.mean, info.mean);
  EXPECT_EQ(back.key, info.key);
  EXPECT_EQ(read.Run(xq.data(), n), expected);
  ASSERT_EQ(read.layers().size(), m.net.layers().size());
  for (size_t i = 0; i < read.layers().size(); ++i) {
    const auto& a = read.layers()[i];
    const auto& b = m.net.layers()[i];
    EXPECT_EQ(a.weights, b.weights);
    EXPECT_EQ(a.bias, b.bias);
    EXPECT_EQ(a.multiplier, b.multiplier);
    EXPECT_EQ(a.output.scale, b.output.scale);
  }

  // The numpy reader, from raw pixels and from the input codes.
  const fs::path pixels = dir_ / "pixels.u8", codes = dir_ / "codes.u8";
  const torch::Tensor raw = test.images.contiguous();
  std::ofstream(pixels, std::ios::binary)
      .write(reinterpret_cast<const char*>(raw.data_ptr<uint8_t>()), raw.numel());
  std::ofstream(codes, std::ios::binary)
      .write(reinterpret_cast<const char*>(xq.data()), static_cast<std::streamsize>(xq.size()));
  const std::string script = ::fnas::testing::SourcePath("scripts/run_integer_model.py");
  for (const auto& [input, flag] : {std::pair{pixels, ""}, std::pair{codes, " --quantized"}}) {
    const fs::path out = dir_ / "out.u8";
    fs::remove(out);
    const std::string cmd = "/usr/bin/python3 " + script + " " + dir_.string() + " " +
                            input.string() + " " + out.string() + flag + " > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(out, std::ios::binary);
    std::vector<uint8_t> got((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    EXPECT_EQ(got, expected) << flag;
  }

  // The manifest documents what the docs promise.
  std::ifstream mf(dir_ / "manifest.json");
  const auto j = nlohmann::json::parse(mf);
  EXPECT_EQ(j["layers"][0]["name"], "stem");
  EXPECT_EQ(j["layers"][0]["kind"], "conv");
  EXPECT_TRUE(j["layers"][0].contains("multiplier"));
  EXPECT_EQ(j["output"]["classes"], 4);
}

TEST_F(ExportTest, ReaderNamesTheBadFile) {
  EXPECT_THROW(ReadIntegerNet(dir_.string()), DataError);
  fs::create_directories(dir_);
  std::ofstream(dir_ / "manifest.json") << "{\"format\": \"something else\", \"version\": 1}";
  try {
    ReadIntegerNet(dir_.string());
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace fnas::evaluators
