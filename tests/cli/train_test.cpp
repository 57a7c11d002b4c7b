// The `train` subcommand, run as a user would.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/cli.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::RunCli;
using testing::Spawn;
using testing::Wait;

// Waits until the file at `path` contains `text`.
bool WaitForText(const std::string& path, const std::string& text) {
  return testing::WaitUntil([&] { return ReadFile(path).find(text) != std::string::npos; });
}

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fnas_train_cli_XXXXXX";
    dir_ = mkdtemp(tmpl);
    Write("tiny.yaml", R"(
name: tiny
seed: 1
model: {input: [1, 12, 12], width: 0.125, classes: 3, dense: [16]}
space: {paths: [regular, depthwise]}
data: {dataset: synthetic, synthetic_train: 200, synthetic_test: 30, validation: 40}
training: {epochs: 2, batch_size: 32, lr: 0.05, milestones: [0.5]}
storage: {db: )" + dir_ + "/tiny.db}\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }
  // Epochs of a few seconds, so that interrupts arrive in the middle of one.
  std::string SlowConfig() {
    return Write("slow.yaml", R"(
name: slow
seed: 1
model: {input: [1, 28, 28], width: 0.25, classes: 4, dense: [32]}
space: {paths: [regular]}
data: {dataset: synthetic, synthetic_train: 2000, synthetic_test: 30, validation: 40}
training: {epochs: 50, batch_size: 32}
storage: {checkpoints: )" + dir_ + "/slow.ckpt}\n");
  }
  // Starts `train` on SlowConfig() in the background (output to `log`) and
  // returns its pid once the epoch table has begun (-1 if it never does).
  pid_t StartSlowTraining(const std::string& log) {
    const pid_t pid =
        Spawn({"train", SlowConfig(), "--candidate", "regular", "--threads", "1"}, log);
    if (WaitForText(log, "epoch train_loss")) return pid;
    kill(pid, SIGKILL);
    Wait(pid);
    return -1;
  }
  std::string dir_;
};

int CountLines(const std::string& out, const std::string& prefix) {
  int n = 0;
  size_t pos = 0;
  while ((pos = out.find("\n" + prefix, pos)) != std::string::npos) {
    ++n;
    ++pos;
  }
  return n;
}

TEST_F(TrainCli, TrainsOneLinePerEpochAndResumes) {
  auto r = RunCli("train " + dir_ + "/tiny.yaml --candidate depthwise --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("train depthwise"), std::string::npos) << r.out;
  EXPECT_EQ(CountLines(r.out, "     1 "), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, "     2 "), 1) << r.out;
  EXPECT_NE(r.out.find("completed: 2 epochs"), std::string::npos) << r.out;
  // Default checkpoint directory: the db path with .ckpt.
  EXPECT_TRUE(fs::exists(dir_ + "/tiny.ckpt/depthwise.ckpt"));
  // Resume to 3 epochs trains only epoch 3.
  r = RunCli("train " + dir_ + "/tiny.yaml --candidate depthwise --resume --epochs 3 --format csv");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("epoch,train_loss,train_acc,val_acc,lr,seconds,images_per_s"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("completed: 3 epochs"), std::string::npos) << r.out;
}

TEST_F(TrainCli, CheckpointDirOption) {
  auto r = RunCli("train " + dir_ + "/tiny.yaml --candidate 1.1.1.1.1.1.1.1 --epochs 1 " +
                  "--checkpoint-dir " + dir_ + "/ck");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir_ + "/ck/regular.ckpt")) << r.out;
}

TEST_F(TrainCli, BadInputExitsTwo) {
  auto r = RunCli("train " + dir_ + "/tiny.yaml --candidate nonsense");
  EXPECT_EQ(r.code, 2) << r.out;
  r = RunCli("train " + dir_ + "/missing.yaml --candidate regular");
  EXPECT_EQ(r.code, 2) << r.out;
  r = RunCli("train " + dir_ + "/tiny.yaml");  // --candidate is required
  EXPECT_EQ(r.code, 2) << r.out;
  r = RunCli("train " + dir_ + "/tiny.yaml --candidate regular --epochs 0");
  EXPECT_EQ(r.code, 2) << r.out;
  const std::string fm = Write("fm.yaml", R"(
name: fm
model: {width: 0.125, dense: [16]}
space: {paths: [regular]}
data: {dataset: fashion_mnist, path: /nonexistent/fmnist}
)");
  r = RunCli("train " + fm + " --candidate regular");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("apt-get install dataset-fashion-mnist"), std::string::npos) << r.out;
}

// execution.device is honoured by `train` too: on this CPU-only LibTorch a
// cuda device is a config error (exit 2) that says how to get a CUDA build,
// never a silent CPU run.
TEST_F(TrainCli, CudaOnACpuOnlyBuildExitsTwoAndSaysHowToGetOne) {
  const std::string gpu =
      Write("gpu.yaml", ReadFile(dir_ + "/tiny.yaml") + "execution: {device: 'cuda:0'}\n");
  auto r = RunCli("train " + gpu + " --candidate regular");
  if (r.code == 0) GTEST_SKIP() << "this LibTorch has CUDA and trained on cuda:0";
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("execution.device = 'cuda:0'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("docs/distributed.md"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch train_loss"), std::string::npos) << r.out;
}

TEST_F(TrainCli, FirstCtrlCFinishesTheEpochAndExits130) {
  const std::string log = dir_ + "/first.log";
  const pid_t pid = StartSlowTraining(log);
  ASSERT_GT(pid, 0) << ReadFile(log);
  kill(pid, SIGINT);
  EXPECT_EQ(Wait(pid), 130) << ReadFile(log);
  const std::string out = ReadFile(log);
  EXPECT_NE(out.find("stopped"), std::string::npos) << out;
  EXPECT_NE(out.find("resume with --resume"), std::string::npos) << out;
  EXPECT_EQ(out.find("interrupted again"), std::string::npos) << out;
  // The epoch it was in finished and was checkpointed.
  EXPECT_TRUE(fs::exists(dir_ + "/slow.ckpt/regular.ckpt")) << out;
}

TEST_F(TrainCli, SecondCtrlCExits130AtOnce) {
  const std::string log = dir_ + "/second.log";
  const pid_t pid = StartSlowTraining(log);
  ASSERT_GT(pid, 0) << ReadFile(log);
  kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  // Exits with 130 (not killed by the signal), without finishing the epoch.
  EXPECT_EQ(Wait(pid), 130) << ReadFile(log);
  const std::string out = ReadFile(log);
  EXPECT_NE(out.find("interrupted again: exiting now"), std::string::npos) << out;
  // It did not wait for the epoch to finish and stop there.
  EXPECT_EQ(out.find("stopped"), std::string::npos) << out;
}

}  // namespace
}  // namespace fnas
