#include "evaluators/train/checkpoint.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "space/plan.h"

namespace fnas::evaluators {
namespace {

namespace fs = std::filesystem;

space::MacroOptions SmallMacro() {
  space::MacroOptions m;
  m.in_channels = 1;
  m.in_height = m.in_width = 8;
  m.width = 0.125;
  m.dense = {16};
  m.classes = 4;
  return m;
}

std::string TempDir() {
  char tmpl[] = "/tmp/fnas_ckpt_XXXXXX";
  return mkdtemp(tmpl);
}

template <typename F>
std::string DataErrorOf(F f) {
  return testing::ErrorOf<DataError>(f);
}

TEST(Checkpoint, RoundTripsWeightsBuffersAndState) {
  const std::string dir = TempDir();
  const space::Macro macro(SmallMacro());
  const space::Candidate cand = space::MakeCandidate(macro, space::UniformFactorization(macro, 2));
  torch::manual_seed(1);
  space::FactorizeNet a(space::BuildPlan(macro, cand.f));
  // Make the BN running statistics non-trivial.
  a->train();
  a->forward(torch::randn({4, 1, 8, 8}));

  TrainingState s;
  s.candidate_key = cand.key;
  s.epoch = 3;
  s.records = {{1, 2.0, 0.25, 0.3, 0.01, 1.5, 100.0}, {2, 1.5, 0.5, 0.55, 0.001, 1.25, 120.0}};
  for (const auto& p : a->named_parameters()) s.momentum[p.key()] = torch::randn(p.value().sizes());
  at::Generator g = at::detail::createCPUGenerator(9);
  s.order_rng = g.get_state();
  s.augment_rng = at::detail::createCPUGenerator(10).get_state();
  const std::string path = CheckpointFile(dir + "/sub", cand);
  EXPECT_EQ(path, dir + "/sub/uniform-f2.ckpt");
  SaveCheckpoint(path, *a, s);
  ASSERT_TRUE(fs::exists(path));
  // Nothing but the checkpoint is left in the directory (the temporary was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir + "/sub"), fs::directory_iterator()), 1);

  torch::manual_seed(2);
  space::FactorizeNet b(space::BuildPlan(macro, cand.f));
  TrainingState r = LoadCheckpoint(path, *b);
  EXPECT_EQ(r.candidate_key, cand.key);
  EXPECT_EQ(r.epoch, 3);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[1].epoch, 2);
  EXPECT_DOUBLE_EQ(r.records[1].val_acc, 0.55);
  EXPECT_DOUBLE_EQ(r.records[1].images_per_s, 120.0);
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b->named_parameters()[p.key()])) << p.key();
    EXPECT_TRUE(torch::equal(s.momentum[p.key()], r.momentum.at(p.key()))) << p.key();
  }
  for (const auto& x : a->named_buffers()) {
    EXPECT_TRUE(torch::equal(x.value(), b->named_buffers()[x.key()])) << x.key();
  }
  // The RNG state continues the same sequence.
  at::Generator g2 = at::detail::createCPUGenerator(0);
  g2.set_state(r.order_rng);
  EXPECT_TRUE(
      torch::equal(torch::randperm(50, g, torch::kLong), torch::randperm(50, g2, torch::kLong)));

  LoadedModel m = LoadModelCheckpoint(path, macro);
  EXPECT_EQ(m.candidate.name, "uniform-f2");
  EXPECT_EQ(m.epoch, 3);
  EXPECT_FALSE(m.model->is_training());
  torch::Tensor x = torch::randn({2, 1, 8, 8});
  a->eval();
  EXPECT_TRUE(torch::equal(a->forward(x), m.model->forward(x)));
  fs::remove_all(dir);
}

TEST(Checkpoint, BadFilesNameThePath) {
  const std::string dir = TempDir();
  const space::Macro macro(SmallMacro());
  EXPECT_NE(DataErrorOf([&] {
              LoadModelCheckpoint(dir + "/none.ckpt", macro);
            }).find(dir + "/none.ckpt: no such checkpoint"),
            std::string::npos);
  { std::ofstream(dir + "/junk.ckpt") << "not a checkpoint"; }
  EXPECT_NE(DataErrorOf([&] {
              LoadModelCheckpoint(dir + "/junk.ckpt", macro);
            }).find("not a factorize-nas checkpoint"),
            std::string::npos);
  // A checkpoint of a network with another dense size.
  const space::Candidate cand = space::MakeCandidate(macro, space::RegularFactorization(macro));
  space::FactorizeNet a(space::BuildPlan(macro, cand.f));
  TrainingState s;
  s.candidate_key = cand.key;
  SaveCheckpoint(dir + "/r.ckpt", *a, s);
  space::MacroOptions other = SmallMacro();
  other.dense = {32};
  const std::string msg =
      DataErrorOf([&] { LoadModelCheckpoint(dir + "/r.ckpt", space::Macro(other)); });
  EXPECT_NE(msg.find("dense_1.weight' has shape [16, 128], the network expects [32, 128]"),
            std::string::npos)
      << msg;
  // Another candidate's checkpoint cannot be loaded into this network.
  space::FactorizeNet dw(space::BuildPlan(macro, space::DepthwiseFactorization(macro)));
  EXPECT_NE(
      DataErrorOf([&] { LoadCheckpoint(dir + "/r.ckpt", *dw); }).find("checkpoint of candidate"),
      std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fnas::evaluators
