// Early pruning end to end on real (tiny) training: `search` with a pruner,
// what `trials` and `show` print, and `replay` on an unpruned study.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace {

using fnas::testing::RunCli;

class PruningCliTest : public fnas::testing::TempDirTest {
 protected:
  // Four candidates, 3 epochs of 320 synthetic images, a rung at epoch 1; one
  // worker, deterministic, so trials arrive at the rung in config order.
  std::string WriteConfig(const std::string& name, const std::string& pruning) {
    const std::string path = (dir_ / (name + ".yaml")).string();
    std::ofstream(path) << "name: " << name << R"(
seed: 11
model: {input: [1, 16, 16], width: 0.125, classes: 4, dense: [32]}
space:
  paths: [regular, {uniform: [2]}, {reverse_pyramid: [2]}, depthwise]
data: {dataset: synthetic, synthetic_train: 448, synthetic_test: 128, validation: 128}
training: {epochs: 3, batch_size: 32, lr: 0.05, milestones: [0.7], augment: false}
quantization: {calibration_samples: 64}
search: {record_every: 0}
execution: {workers: 1, deterministic: true}
pruning: )" << pruning << "\nstorage: {db: "
                        << (dir_ / (name + ".db")).string() << "}\n";
    return path;
  }
  std::string Db(const std::string& name) { return (dir_ / (name + ".db")).string(); }
};

TEST_F(PruningCliTest, SearchPrunesAndTrialsAndShowExplainWhy) {
  // Median stopping (fp32 validation accuracy) from the second arrival on.
  auto r = RunCli("search " + WriteConfig("med", "{pruner: median, rungs: [1], min_peers: 1}") +
                  " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunCli("trials " + Db("med") + " --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto trials = nlohmann::json::parse(r.out);
  ASSERT_EQ(trials.size(), 4u);
  int pruned = 0;
  for (const auto& t : trials) {
    const std::string name = t["candidate"];
    r = RunCli("show " + Db("med") + " " + name + " --format json");
    ASSERT_EQ(r.code, 0) << r.out;
    const auto show = nlohmann::json::parse(r.out);
    // One rung result and one decision at epoch 1, with its evidence.
    ASSERT_EQ(show["rungs"].size(), 1u) << show.dump();
    EXPECT_EQ(show["rungs"][0]["epoch"], 1);
    EXPECT_FALSE(show["rungs"][0]["val_acc_quint8"].is_null());
    ASSERT_EQ(show["pruning decisions"].size(), 1u);
    const auto& d = show["pruning decisions"][0];
    const auto evidence = nlohmann::json::parse(d["evidence"].get<std::string>());
    EXPECT_EQ(evidence["pruner"], "median");
    EXPECT_TRUE(evidence["justified_by"].is_array());
    if (t["state"] == "PRUNED") {
      ++pruned;
      EXPECT_EQ(d["decision"], "prune");
      EXPECT_EQ(t["epochs"], 1);  // stopped at the rung
      EXPECT_EQ(t["reason"], d["reason"]);
      EXPECT_NE(t["reason"].get<std::string>().find("pruned at epoch 1"), std::string::npos);
    } else {
      EXPECT_EQ(t["state"], "COMPLETE") << t.dump();
      EXPECT_EQ(d["decision"], "continue");
      EXPECT_EQ(t["epochs"], 3);
    }
  }
  // The first arrival has no peer and is kept; regular, trained first, sets a
  // median that the factorized nets do not reach after one epoch.
  EXPECT_GE(pruned, 1);
  r = RunCli("trials " + Db("med") + " --state PRUNED --format csv");
  ASSERT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("pruned at epoch 1: fp32 val acc"), std::string::npos) << r.out;
}

TEST_F(PruningCliTest, ReplayOnAnUnprunedStudy) {
  auto r =
      RunCli("search " + WriteConfig("full", "{pruner: none, rungs: [1, 2]}") + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  // Inline mapping; the study's recorded rungs.
  r = RunCli("replay " + Db("full") + " --pruning '{pruner: asha, eta: 2, min_peers: 1}' " +
             "--format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const auto& s = j["replay"];
  EXPECT_EQ(s["pruner"], "asha");
  EXPECT_EQ(s["rungs"], "1 2");
  EXPECT_EQ(s["trials"], 4);
  EXPECT_EQ(s["epochs_full"], 12);
  // Pruned trials stop at their rung: the epochs trained add up.
  int64_t trained = 0, pruned = 0;
  for (const auto& p : j["pruned"]) {
    trained += p["epoch"].get<int64_t>();
    ++pruned;
  }
  EXPECT_EQ(s["pruned"], pruned);
  EXPECT_EQ(s["epochs_trained"], trained + 3 * (4 - pruned));
  // The second arrival at rung 1 is compared with the first (eta 2: keep 1 of 2).
  EXPECT_EQ(j["decisions"][0]["rule"], "min-peers");
  EXPECT_GE(s["hv_fraction"].get<double>(), 0.0);
  EXPECT_LE(s["hv_fraction"].get<double>(), 1.0 + 1e-12);

  // A pruning file (a study config's section); bad options and files: exit 2.
  const std::string file = (dir_ / "p.yaml").string();
  std::ofstream(file) << "pruning:\n  pruner: quant-aware\n  rungs: [1]\n";
  r = RunCli("replay " + Db("full") + " --pruning " + file);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("hv_fraction"), std::string::npos) << r.out;
  r = RunCli("replay " + Db("full") + " --pruning '{pruner: asha, rungs: [1, 2], eta: 0.5}'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("pruning.eta"), std::string::npos) << r.out;
  r = RunCli("replay " + Db("full") + " --pruning nosuch.yaml");
  EXPECT_EQ(r.code, 2) << r.out;
  // A study without rungs cannot be replayed.
  ASSERT_EQ(RunCli("search " + WriteConfig("norungs", "{pruner: none}") + " --quiet").code, 0);
  r = RunCli("replay " + Db("norungs") + " --pruning '{pruner: asha}'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("recorded no rung results"), std::string::npos) << r.out;
}

}  // namespace
