// The `quantize` and `export` subcommands on a checkpoint from `train`, run
// as a user would.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/testing/cli.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;

class QuantizeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/fnas_quantize_cli_XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/tiny.yaml") << R"(
name: tiny
seed: 3
model: {input: [1, 12, 12], width: 0.125, classes: 3, dense: [16]}
space: {paths: [regular, uniform: [2]]}
data: {dataset: synthetic, synthetic_train: 300, synthetic_test: 60, validation: 50}
training: {epochs: 2, batch_size: 32, lr: 0.05, milestones: [0.5]}
quantization: {calibration_samples: 100, percentile: 1.0, eval_batch: 32}
storage: {db: )" + dir_ + "/tiny.db}\n";
    const auto r = RunCli("train " + dir_ + "/tiny.yaml --candidate uniform-f2 --threads 1");
    ASSERT_EQ(r.code, 0) << r.out;
    ckpt_ = dir_ + "/tiny.ckpt/uniform-f2.ckpt";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string dir_, ckpt_;
};
std::string QuantizeCli::dir_, QuantizeCli::ckpt_;

TEST_F(QuantizeCli, PrintsMetricsAndTheLayerwiseTable) {
  const auto r =
      RunCli("quantize " + ckpt_ + " --config " + dir_ + "/tiny.yaml --threads 1 --fake-agreement");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* s :
       {"acc_fp32", "acc_quint8", "rel_decrease", "qmse", "qce", "fake_vs_integer_top1_agreement",
        "sqnr_db", "folded_channel_precision", "act_channel_precision", "w_channel_precision",
        "conv_64_1.group", "conv_256_3.point", "dense_2", "test split",
        "calibration 100 training images", "minmax", "time by phase",
        "total (from process start)"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
  // The fake-quant agreement is measured only when asked.
  const auto plain = RunCli("quantize " + ckpt_ + " --config " + dir_ + "/tiny.yaml --threads 1");
  ASSERT_EQ(plain.code, 0) << plain.out;
  EXPECT_EQ(plain.out.find("fake_vs_integer"), std::string::npos) << plain.out;
}

TEST_F(QuantizeCli, PhasesSumToTheTotalAndTheTotalToTheWallTime) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = RunCli("quantize " + ckpt_ + " --config " + dir_ +
                        "/tiny.yaml --format json --threads 1 --calibration entropy");
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["calibration"], "entropy");
  double sum = 0;
  std::set<std::string> names;
  for (const auto& p : j["phases"]) {
    EXPECT_GE(p["seconds"].get<double>(), 0) << p;
    sum += p["seconds"].get<double>();
    names.insert(p["name"].get<std::string>());
  }
  for (const char* want : {"startup", "config", "dataset", "checkpoint", "calibrate", "build",
                           "fp32", "integer", "metrics", "output"}) {
    EXPECT_TRUE(names.count(want)) << want << "\n" << j["phases"];
  }
  const double total = j["seconds_total"].get<double>();
  EXPECT_NEAR(sum, total, 1e-6);
  // From the process start to the output: all of the wall time but the exit
  // (the startup is read at clock-tick resolution).
  EXPECT_LE(total, wall + 0.02);
  EXPECT_GE(total, 0.5 * wall);
  EXPECT_GT(j["phases"][0]["seconds"].get<double>(), 0);  // startup
}

TEST_F(QuantizeCli, JsonOnTheValidationSplit) {
  const auto r = RunCli("quantize " + ckpt_ + " --config " + dir_ +
                        "/tiny.yaml --split val --format json --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["split"], "val");
  EXPECT_EQ(j["candidate"], "uniform-f2");
  EXPECT_EQ(j["epoch"], 2);
  EXPECT_EQ(j["metrics"]["images"], 50);
  const double a = j["metrics"]["acc_fp32"], q = j["metrics"]["acc_quint8"];
  // Signed (evaluators/records.h): negative when the quint8 model scores higher.
  EXPECT_NEAR(j["metrics"]["rel_decrease"].get<double>(), a > 0 ? (a - q) / a * 100 : 0, 1e-9);
  // stem + 8 layers x (group, point) + 2 dense.
  ASSERT_EQ(j["layers"].size(), 19u);
  EXPECT_EQ(j["layers"][0]["op"], "stem");
  EXPECT_GT(j["layers"][0]["w_range"].get<double>(), 0);
}

TEST_F(QuantizeCli, ExportsAModelTheNumpyReaderRuns) {
  const std::string out = dir_ + "/int8";
  auto r = RunCli("export " + ckpt_ + " --config " + dir_ + "/tiny.yaml --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(out + "/manifest.json"));
  EXPECT_TRUE(fs::exists(out + "/00_stem.weights.u8"));
  EXPECT_TRUE(fs::exists(out + "/00_stem.bias.i32"));
  // 5 blank images through the reference reader: 5 lines of class + 3 logits.
  std::ofstream(out + "/blank.u8", std::ios::binary) << std::string(5 * 144, '\0');
  const std::string cmd = "/usr/bin/python3 " +
                          testing::SourcePath("scripts/run_integer_model.py") + " " + out + " " +
                          out + "/blank.u8 " + out + "/logits.u8";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  int lines = 0;
  char buf[512];
  while (fgets(buf, sizeof(buf), pipe)) ++lines;
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_EQ(lines, 5);
  EXPECT_EQ(fs::file_size(out + "/logits.u8"), 15u);
}

TEST_F(QuantizeCli, BadInputExitsTwo) {
  auto r = RunCli("quantize " + dir_ + "/missing.ckpt --config " + dir_ + "/tiny.yaml");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("missing.ckpt"), std::string::npos) << r.out;
  r = RunCli("quantize " + ckpt_ + " --config " + dir_ + "/tiny.yaml --split train");
  EXPECT_EQ(r.code, 2) << r.out;
  r = RunCli("export " + ckpt_ + " --config " + dir_ + "/tiny.yaml");  // --out is required
  EXPECT_EQ(r.code, 2) << r.out;
}

}  // namespace
}  // namespace fnas
