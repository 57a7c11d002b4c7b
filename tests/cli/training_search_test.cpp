// The whole product on real (tiny) training: `factorize-nas search` with the
// default "training" evaluator on a synthetic dataset, then the queries.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace {

using fnas::testing::RunCli;
namespace fs = std::filesystem;

class TrainingSearchTest : public fnas::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    config_ = (dir_ / "tiny.yaml").string();
    db_ = (dir_ / "tiny.db").string();
    std::ofstream(config_) << R"(name: tiny
seed: 7
model: {input: [1, 16, 16], width: 0.125, classes: 4, dense: [32]}
space:
  paths: [regular, depthwise]
data: {dataset: synthetic, synthetic_train: 1280, synthetic_test: 200, validation: 128}
training: {epochs: 3, batch_size: 32, lr: 0.05, milestones: [0.7], augment: false}
quantization: {calibration_samples: 64, percentile: 0.1}
execution: {workers: 2}
storage: {db: )" + db_ + "}\n";
  }
  std::string config_, db_;
};

TEST_F(TrainingSearchTest, SearchTrainsQuantizesAndStoresEverything) {
  auto r = RunCli("search " + config_ + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;

  r = RunCli("trials " + db_ + " --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto trials = nlohmann::json::parse(r.out);
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& t : trials) {
    EXPECT_EQ(t["state"], "COMPLETE") << t.dump();
    EXPECT_EQ(t["epochs_done"], 3);
    // 4 learnable classes: both paths clearly beat chance (0.25), fp32 and quint8.
    EXPECT_GT(t["acc_fp32"].get<double>(), 0.5) << t.dump();
    EXPECT_GT(t["acc_quint8"].get<double>(), 0.4) << t.dump();
    EXPECT_GE(t["qmse"].get<double>(), 0.0);
  }

  r = RunCli("front " + db_ + " --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto front = nlohmann::json::parse(r.out);
  ASSERT_GE(front.size(), 1u);
  EXPECT_EQ(front[0]["candidate"], "depthwise");  // fewest MACs is always on the front

  r = RunCli("show " + db_ + " regular --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto show = nlohmann::json::parse(r.out);
  ASSERT_EQ(show["epochs"].size(), 3u);
  // Validation quant metrics at every recorded epoch (record_every: 1).
  for (const auto& e : show["epochs"]) EXPECT_FALSE(e["val_acc_quint8"].is_null()) << e.dump();
  // Layerwise statistics: every conv/dense op (stem, 8 convs, 2 dense) per
  // validation epoch and once for the final test evaluation.
  int validation = 0, test = 0;
  for (const auto& row : show["layerwise"]) {
    (row["split"] == "test" ? test : validation)++;
    EXPECT_GT(row["sqnr_db"].get<double>(), 0.0) << row.dump();
    EXPECT_GT(row["act_channel_precision"].get<double>(), 0.0) << row.dump();
    EXPECT_LE(row["act_channel_precision"].get<double>(), 1.0 + 1e-9) << row.dump();
  }
  EXPECT_EQ(test, 11);
  EXPECT_EQ(validation, 33);
}

// Parallel trials do not disturb each other: in deterministic mode 1 worker
// and 2 workers give bit-identical results.
TEST_F(TrainingSearchTest, ParallelTrialsEqualSequentialInDeterministicMode) {
  std::string base;
  {
    std::ifstream in(config_);
    base.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto results = [&](int workers) {
    const std::string db = (dir_ / ("w" + std::to_string(workers) + ".db")).string();
    std::string text = base;
    text.replace(text.find("execution: {workers: 2}"), 23,
                 "execution: {workers: " + std::to_string(workers) + ", deterministic: true}");
    text.replace(text.find("storage: {db: " + db_), 14 + db_.size(), "storage: {db: " + db);
    const std::string cfg = (dir_ / ("w" + std::to_string(workers) + ".yaml")).string();
    std::ofstream(cfg) << text;
    auto r = RunCli("search " + cfg + " --quiet");
    EXPECT_EQ(r.code, 0) << r.out;
    r = RunCli("trials " + db + " --format json");
    EXPECT_EQ(r.code, 0) << r.out;
    auto rows = nlohmann::json::parse(r.out);
    for (auto& row : rows) {
      row.erase("seconds");
      row.erase("trial_id");
    }
    // Trial ids follow start order, which workers may change: compare by candidate.
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a["candidate"] < b["candidate"]; });
    return rows;
  };
  const auto one = results(1);
  const auto two = results(2);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one, two);
}

// Tail balancing with real training: one candidate on two workers runs alone
// from the start, so after its first epoch it takes both workers' threads (it
// says so in the log) and still trains, quantizes and completes; with
// tail_balance off (the default) it keeps its one thread.
TEST_F(TrainingSearchTest, ALoneTrialTakesTheIdleWorkersThreadsAfterAnEpoch) {
  auto run = [&](const std::string& name, const std::string& execution) {
    const std::string db = (dir_ / (name + ".db")).string();
    const std::string cfg = (dir_ / (name + ".yaml")).string();
    std::ofstream(cfg) << "name: " << name << R"(
seed: 7
model: {input: [1, 16, 16], width: 0.125, classes: 4, dense: [32]}
space: {paths: [regular]}
data: {dataset: synthetic, synthetic_train: 640, synthetic_test: 100, validation: 64}
training: {epochs: 2, batch_size: 32, augment: false}
quantization: {calibration_samples: 32}
search: {record_every: 0}
execution: )" << execution
                       << "\nstorage: {db: " << db << "}\n";
    auto r = RunCli("search " + cfg);
    EXPECT_EQ(r.code, 0) << r.out;
    auto t = RunCli("trials " + db + " --format json");
    EXPECT_EQ(t.code, 0) << t.out;
    const auto rows = nlohmann::json::parse(t.out);
    EXPECT_EQ(rows.size(), 1u);
    if (!rows.empty()) {
      EXPECT_EQ(rows[0]["state"], "COMPLETE") << t.out;
    }
    return r.out;
  };
  const std::string on = run("on", "{workers: 2, threads_per_worker: 1, tail_balance: true}");
  EXPECT_NE(on.find("trial 1 uses 2 intra-op threads after epoch 1 (1 of 2 workers busy, 0 "
                    "queued)"),
            std::string::npos)
      << on;
  const std::string off = run("off", "{workers: 2, threads_per_worker: 1}");  // the default
  EXPECT_EQ(off.find("intra-op threads"), std::string::npos) << off;
}

TEST_F(TrainingSearchTest, MissingDatasetIsBadInputAndLeavesNoDatabase) {
  std::ofstream(config_) << "name: nodata\nspace: {paths: [regular]}\n"
                            "data: {dataset: cifar10, path: "
                         << (dir_ / "no-such-dir").string() << "}\nstorage: {db: " << db_ << "}\n";
  auto r = RunCli("search " + config_);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no-such-dir"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(db_));
}

}  // namespace
