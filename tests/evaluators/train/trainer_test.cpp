#include "evaluators/train/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "config/config.h"
#include "evaluators/train/checkpoint.h"

namespace fnas::evaluators {
namespace {

namespace fs = std::filesystem;

// A tiny study on synthetic 1x16x16 images of 4 classes (seconds to train).
Config TinyConfig(const std::string& extra_training = "") {
  return ParseConfig(R"(
name: tiny
seed: 3
model: {input: [1, 16, 16], width: 0.125, classes: 4, dense: [32]}
space: {paths: [regular, depthwise]}
data: {dataset: synthetic, synthetic_train: 640, synthetic_test: 64, validation: 128}
training:
  epochs: 3
  batch_size: 32
  lr: 0.05
  milestones: [0.67]
)" + extra_training);
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(1);
    char tmpl[] = "/tmp/fnas_trainer_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

space::Candidate Regular(const Config& c) {
  return space::MakeCandidate(c.macro(), space::RegularFactorization(c.macro()));
}

// A hand-worked step: p = 1, g = 0.5, lr 0.1, momentum 0.9, weight decay
// 0.1. Step 1: d = 0.5 + 0.1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94. Step 2
// (g = 0.5 again): d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134,
// p = 0.94 - 0.1134 = 0.8266.
TEST(SgdUpdateTest, HandWorkedSteps) {
  for (int64_t n : {1, 37}) {  // a scalar loop and a vectorized one
    torch::Tensor p = torch::ones({n}), g = torch::full({n}, 0.5f), buf;
    SgdUpdate(p, g, buf, 0.1, 0.9, 0.1);
    EXPECT_NEAR(p[0].item<float>(), 0.94f, 1e-7);
    EXPECT_NEAR(buf[n - 1].item<float>(), 0.6f, 1e-7);
    SgdUpdate(p, g, buf, 0.1, 0.9, 0.1);
    EXPECT_NEAR(buf[0].item<float>(), 1.134f, 1e-6);
    EXPECT_NEAR(p[n - 1].item<float>(), 0.8266f, 1e-6);
  }
}

// Against LibTorch's own optimizer over several steps, for the layouts the
// trainer has (channels-last conv weights, vectors, matrices), with and
// without momentum and weight decay; and the flat pass against the tensor
// ops (a non-dense gradient takes them).
TEST(SgdUpdateTest, MatchesTorchOptimSgd) {
  torch::manual_seed(11);
  for (double momentum : {0.0, 0.9}) {
    for (double wd : {0.0, 5e-4}) {
      for (bool channels_last : {false, true}) {
        const std::string what = "momentum " + std::to_string(momentum) + " wd " +
                                 std::to_string(wd) + " cl " + std::to_string(channels_last);
        torch::Tensor w0 = torch::randn({8, 3, 3, 3});
        if (channels_last) w0 = w0.contiguous(torch::MemoryFormat::ChannelsLast);
        torch::Tensor ours = w0.clone(), buf;
        torch::Tensor theirs = w0.clone().requires_grad_(true);
        torch::optim::SGD opt({theirs},
                              torch::optim::SGDOptions(0.05).momentum(momentum).weight_decay(wd));
        for (int step = 0; step < 4; ++step) {
          torch::Tensor g = torch::randn(w0.sizes());
          if (channels_last) g = g.contiguous(torch::MemoryFormat::ChannelsLast);
          SgdUpdate(ours, g, buf, 0.05, momentum, wd);
          theirs.mutable_grad() = g.clone();
          opt.step();
        }
        EXPECT_TRUE(torch::allclose(ours, theirs.detach(), 1e-6, 1e-6)) << what;
        // The same steps through the tensor ops: a strided (non-dense) gradient.
        torch::Tensor ops = w0.clone(), ops_buf, flat = w0.clone(), flat_buf;
        for (int step = 0; step < 4; ++step) {
          torch::Tensor wide = torch::randn({8, 3, 3, 6});
          torch::Tensor strided = wide.slice(3, 0, 6, 2);
          ASSERT_FALSE(strided.is_non_overlapping_and_dense());
          SgdUpdate(ops, strided, ops_buf, 0.05, momentum, wd);
          SgdUpdate(flat, strided.contiguous(), flat_buf, 0.05, momentum, wd);
        }
        EXPECT_TRUE(torch::allclose(ops, flat, 1e-6, 1e-6)) << what;
      }
    }
  }
}

TEST(MilestoneEpochsTest, FractionsFollowTheBudgetAndEpochsStayAsGiven) {
  // 0.375 * 200 = 75, 0.6 * 200 = 120, 0.85 * 200 = 170; of 8 epochs: 3, 4.8 -> 5, 6.8 -> 7.
  EXPECT_EQ(MilestoneEpochs({0.375, 0.6, 0.85}, 200), (std::vector<int>{75, 120, 170}));
  EXPECT_EQ(MilestoneEpochs({0.375, 0.6, 0.85}, 8), (std::vector<int>{3, 5, 7}));
  // Whole epochs do not depend on the budget.
  EXPECT_EQ(MilestoneEpochs({75, 120, 170}, 200), (std::vector<int>{75, 120, 170}));
  EXPECT_EQ(MilestoneEpochs({75, 120, 170}, 8), (std::vector<int>{75, 120, 170}));
  // A fraction rounding to 0 becomes epoch 1; one that does not move past the previous is dropped.
  EXPECT_EQ(MilestoneEpochs({0.01, 0.1, 0.12}, 10), (std::vector<int>{1}));
}

TEST_F(TrainerTest, LearnsSyntheticClassesWellAboveChance) {
  const Config c = TinyConfig("  augment: {shift: 0.05, zoom: 0.0, rotation: 0, vflip: false}\n");
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  Trainer trainer(c.training, c.model, c.seed, Regular(c), data);
  int64_t batch_calls = 0;
  TrainResult r = trainer.Run(nullptr, [&](const BatchProgress& p) {
    EXPECT_EQ(p.batches, 16);  // 512 training images / 32
    ++batch_calls;
  });
  EXPECT_EQ(r.status, TrainResult::Status::kCompleted);
  EXPECT_EQ(batch_calls, 3 * 16);
  ASSERT_EQ(r.records.size(), 3u);
  for (const auto& rec : r.records) {
    EXPECT_GT(rec.images_per_s, 0);
    EXPECT_GT(rec.seconds, 0);
  }
  EXPECT_DOUBLE_EQ(r.records[0].lr, 0.05);
  EXPECT_DOUBLE_EQ(r.records[1].lr, 0.05);
  EXPECT_DOUBLE_EQ(r.records[2].lr, 0.05 * 0.1);  // milestone 0.67 * 3 = epoch 2
  EXPECT_LT(r.records[2].train_loss, r.records[0].train_loss);
  // Chance is 0.25.
  EXPECT_GT(r.records.back().val_acc, 0.6);
  EXPECT_NEAR(Accuracy(*r.model, data, data.validation), r.records.back().val_acc, 1e-12);
}

TEST_F(TrainerTest, SameSeedSameNumbersBitForBit) {
  const Config c = TinyConfig();
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  TrainerRunOptions o;
  o.epochs = 2;
  TrainResult a = Trainer(c.training, c.model, c.seed, Regular(c), data, o).Run();
  TrainResult b = Trainer(c.training, c.model, c.seed, Regular(c), data, o).Run();
  ASSERT_EQ(a.records.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a.records[i].train_loss, b.records[i].train_loss);
    EXPECT_EQ(a.records[i].val_acc, b.records[i].val_acc);
  }
  for (const auto& p : a.model->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b.model->named_parameters()[p.key()])) << p.key();
  }
  // Another seed, other weights.
  TrainResult d = Trainer(c.training, c.model, 4, Regular(c), data, o).Run();
  EXPECT_NE(a.records[1].train_loss, d.records[1].train_loss);
}

TEST_F(TrainerTest, ResumeFromCheckpointEqualsStraightRun) {
  // Every augmentation on, weight decay, a milestone between the stop and the end.
  const Config c = TinyConfig(
      "  weight_decay: 0.0005\n  augment: {shift: 0.1, zoom: 0.1, rotation: 10, hflip: true, "
      "vflip: true}\n");
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  const space::Candidate cand =
      space::MakeCandidate(c.macro(), space::UniformFactorization(c.macro(), 2));
  TrainerRunOptions straight;
  straight.checkpoint_path = dir_ + "/straight.ckpt";
  TrainResult a = Trainer(c.training, c.model, c.seed, cand, data, straight).Run();
  ASSERT_EQ(a.status, TrainResult::Status::kCompleted);

  TrainerRunOptions o;
  o.checkpoint_path = dir_ + "/resumed.ckpt";
  std::atomic<bool> stop{true};
  TrainResult first =
      Trainer(c.training, c.model, c.seed, cand, data, o).Run(nullptr, nullptr, &stop);
  EXPECT_EQ(first.status, TrainResult::Status::kStopped);
  EXPECT_EQ(first.epochs_done, 1);
  EXPECT_EQ(LoadModelCheckpoint(o.checkpoint_path, c.macro()).epoch, 1);
  o.resume = true;
  TrainResult b = Trainer(c.training, c.model, c.seed, cand, data, o).Run();
  EXPECT_EQ(b.status, TrainResult::Status::kCompleted);
  ASSERT_EQ(b.records.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.records[i].train_loss, b.records[i].train_loss) << i;
    EXPECT_EQ(a.records[i].val_acc, b.records[i].val_acc) << i;
  }
  for (const auto& p : a.model->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b.model->named_parameters()[p.key()])) << p.key();
  }
  for (const auto& p : a.model->named_buffers()) {
    EXPECT_TRUE(torch::equal(p.value(), b.model->named_buffers()[p.key()])) << p.key();
  }
  // Resuming a finished run trains nothing more.
  TrainResult again = Trainer(c.training, c.model, c.seed, cand, data, o).Run();
  EXPECT_EQ(again.status, TrainResult::Status::kCompleted);
  EXPECT_EQ(again.records.size(), 3u);
}

TEST_F(TrainerTest, CheckpointPerEpochAndResumeFromAnotherFile) {
  const Config c = TinyConfig();
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  TrainerRunOptions o;
  o.checkpoint_for_epoch = [&](int e) { return dir_ + "/epoch-" + std::to_string(e) + ".pt"; };
  std::vector<std::string> seen;
  Trainer first(c.training, c.model, c.seed, Regular(c), data, o);
  first.Run([&](const EpochRecord& r, space::FactorizeNet&) {
    seen.push_back(first.last_checkpoint());
    return r.epoch < 2;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{dir_ + "/epoch-1.pt", dir_ + "/epoch-2.pt"}));
  o.resume = true;
  o.resume_from = dir_ + "/epoch-2.pt";
  Trainer second(c.training, c.model, c.seed, Regular(c), data, o);
  TrainResult r = second.Run();
  EXPECT_EQ(r.status, TrainResult::Status::kCompleted);
  EXPECT_EQ(r.records.size(), 3u);
  EXPECT_EQ(second.last_checkpoint(), dir_ + "/epoch-3.pt");
  EXPECT_EQ(LoadModelCheckpoint(dir_ + "/epoch-3.pt", c.macro()).epoch, 3);
  // Same numbers as a straight run.
  TrainResult straight = Trainer(c.training, c.model, c.seed, Regular(c), data).Run();
  EXPECT_EQ(straight.records[2].train_loss, r.records[2].train_loss);
}

TEST_F(TrainerTest, DivergenceEndsTheRunWithAClearResult) {
  Config c = TinyConfig();
  c.training.lr = 1e12;
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  TrainerRunOptions o;
  o.checkpoint_path = dir_ + "/d.ckpt";
  TrainResult r = Trainer(c.training, c.model, c.seed, Regular(c), data, o).Run();
  EXPECT_EQ(r.status, TrainResult::Status::kDiverged);
  EXPECT_EQ(r.message.rfind("diverged at epoch 1", 0), 0u) << r.message;
  EXPECT_STREQ(StatusName(r.status), "diverged");
  EXPECT_TRUE(r.records.empty());
  EXPECT_FALSE(fs::exists(o.checkpoint_path));  // no checkpoint of a diverged epoch
}

TEST_F(TrainerTest, EpochCallbackSeesTheModelAndCanStop) {
  const Config c = TinyConfig();
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  Trainer trainer(c.training, c.model, c.seed, Regular(c), data);
  std::vector<int> epochs;
  TrainResult r = trainer.Run([&](const EpochRecord& rec, space::FactorizeNet& model) {
    epochs.push_back(rec.epoch);
    EXPECT_FALSE(model->is_training());
    // Handed out in the default (contiguous NCHW) layout.
    EXPECT_TRUE(model->unit(0).conv->weight.is_contiguous());
    EXPECT_NEAR(Accuracy(*model, data, data.validation), rec.val_acc, 1e-12);
    return rec.epoch < 2;
  });
  EXPECT_EQ(r.status, TrainResult::Status::kStopped);
  EXPECT_EQ(epochs, (std::vector<int>{1, 2}));
  EXPECT_EQ(r.records.size(), 2u);
}

TEST_F(TrainerTest, ParallelTrainersShareTheDatasetAndMatchSequentialRuns) {
  const Config c = TinyConfig();
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  const space::Candidate dw =
      space::MakeCandidate(c.macro(), space::DepthwiseFactorization(c.macro()));
  TrainerRunOptions o;
  o.epochs = 1;
  const TrainResult seq_a = Trainer(c.training, c.model, c.seed, Regular(c), data, o).Run();
  const TrainResult seq_b = Trainer(c.training, c.model, c.seed, dw, data, o).Run();
  TrainResult par_a, par_b;
  // OpenMP's thread count is per thread: each worker sets its own.
  std::thread ta([&] {
    at::set_num_threads(1);
    par_a = Trainer(c.training, c.model, c.seed, Regular(c), data, o).Run();
  });
  std::thread tb([&] {
    at::set_num_threads(1);
    par_b = Trainer(c.training, c.model, c.seed, dw, data, o).Run();
  });
  ta.join();
  tb.join();
  EXPECT_EQ(seq_a.records[0].train_loss, par_a.records[0].train_loss);
  EXPECT_EQ(seq_b.records[0].train_loss, par_b.records[0].train_loss);
  EXPECT_EQ(seq_b.records[0].val_acc, par_b.records[0].val_acc);
}

TEST_F(TrainerTest, LearningRateScheduleFollowsMilestones) {
  Config c = TinyConfig();
  c.training.milestones = {0.375, 0.6, 0.85};  // of 200: 75, 120, 170
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  TrainerRunOptions o;
  o.epochs = 200;
  Trainer t(c.training, c.model, c.seed, Regular(c), data, o);
  EXPECT_DOUBLE_EQ(t.LearningRate(1), 0.05);
  EXPECT_DOUBLE_EQ(t.LearningRate(75), 0.05);
  EXPECT_DOUBLE_EQ(t.LearningRate(76), 0.05 * 0.1);
  EXPECT_DOUBLE_EQ(t.LearningRate(120), 0.05 * 0.1);
  EXPECT_NEAR(t.LearningRate(121), 0.05 * 0.01, 1e-15);
  EXPECT_NEAR(t.LearningRate(200), 0.05 * 0.001, 1e-15);
}

}  // namespace
}  // namespace fnas::evaluators
