// The device plumbing of training (execution.device). This build's LibTorch is
// CPU-only (Debian's), so the CUDA path is checked where it can be without a
// GPU: the text of the device, the refusal, the CPU copy the callbacks get;
// the GPU run itself is checked when a CUDA LibTorch is present.
#include "evaluators/train/device.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "common/error.h"
#include "config/config.h"
#include "evaluators/train/trainer.h"

namespace fnas::evaluators {
namespace {

Config TinyConfig() {
  return ParseConfig(R"(
name: tiny
seed: 3
model: {input: [1, 16, 16], width: 0.125, classes: 4, dense: [32]}
space: {paths: [regular, depthwise]}
data: {dataset: synthetic, synthetic_train: 256, synthetic_test: 64, validation: 64}
training: {epochs: 2, batch_size: 32, lr: 0.05}
)");
}

space::Candidate Uniform2(const Config& c) {
  return space::MakeCandidate(c.macro(), space::UniformFactorization(c.macro(), 2));
}

std::string MessageOf(const std::string& device) {
  try {
    ParseDevice(device);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ParseDeviceTest, CpuIsTheCpu) { EXPECT_TRUE(ParseDevice("cpu").is_cpu()); }

TEST(ParseDeviceTest, TextThatIsNoDeviceNamesTheKeyAndValue) {
  for (const std::string bad : {"", "gpu", "cuda:x", "mps", "cuda:-1x"}) {
    const std::string m = MessageOf(bad);
    EXPECT_NE(m.find("execution.device = '" + bad + "'"), std::string::npos) << bad << ": " << m;
  }
  EXPECT_NE(MessageOf("mps").find("expected cpu, cuda or cuda:N"), std::string::npos);
}

TEST(ParseDeviceTest, CudaWithoutACudaLibTorchSaysHowToGetOne) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA";
  for (const std::string want : {"cuda", "cuda:0", "cuda:3"}) {
    const std::string m = MessageOf(want);
    EXPECT_NE(m.find("execution.device = '" + want + "'"), std::string::npos) << m;
    EXPECT_NE(m.find("no usable CUDA"), std::string::npos) << m;
    EXPECT_NE(m.find("docs/distributed.md"), std::string::npos) << m;
  }
}

TEST(ParseDeviceTest, CudaIndexBeyondTheMachineIsRefused) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA in this LibTorch";
  const int n = static_cast<int>(torch::cuda::device_count());
  EXPECT_TRUE(ParseDevice("cuda:" + std::to_string(n - 1)).is_cuda());
  EXPECT_NE(MessageOf("cuda:" + std::to_string(n)).find("CUDA device(s)"), std::string::npos);
}

TEST(CopyModelTest, SameOutputsIndependentWeightsSameMode) {
  const Config c = TinyConfig();
  space::FactorizeNet net(space::BuildPlan(c.macro(), Uniform2(c).f));
  net->eval();
  // Non-default BN statistics, so buffers must be copied too.
  torch::NoGradGuard no_grad;
  for (auto& b : net->named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().fill_(2.0);
  }
  space::FactorizeNet copy = CopyModel(*net, torch::kCPU);
  EXPECT_FALSE(copy->is_training());
  const torch::Tensor x = torch::randn({3, 1, 16, 16});
  EXPECT_TRUE(torch::equal(net->forward(x), copy->forward(x)));
  for (auto& p : copy->parameters()) p.add_(1.0);
  EXPECT_FALSE(torch::equal(net->forward(x), copy->forward(x)));
  net->train();
  EXPECT_TRUE(CopyModel(*net, torch::kCPU)->is_training());
}

TEST(TrainerDeviceTest, AnUnusableDeviceIsRefusedBeforeTraining) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA";
  const Config c = TinyConfig();
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  TrainerRunOptions o;
  o.device = "cuda:0";
  EXPECT_THROW(Trainer(c.training, c.model, c.seed, Uniform2(c), data, o), ConfigError);
}

// On a CUDA LibTorch: the same trial on cuda:0 and on the CPU. The batches,
// initialization and augmentation are the same (CPU generators), so the
// numbers agree up to floating-point order; the callbacks and the result get
// a CPU model.
TEST(TrainerDeviceTest, CudaTrainsTheSameTrialAndHandsBackACpuModel) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA in this LibTorch";
  at::set_num_threads(1);
  const Config c = TinyConfig();
  const Dataset data = LoadDataset(c.data, c.model, c.seed);
  TrainerRunOptions cpu, gpu;
  gpu.device = "cuda:0";
  bool validated_on_cpu = true;
  gpu.validate = [&](int, space::FactorizeNet& net) -> std::optional<double> {
    validated_on_cpu = validated_on_cpu && net->parameters()[0].device().is_cpu();
    return std::nullopt;
  };
  TrainResult a = Trainer(c.training, c.model, c.seed, Uniform2(c), data, cpu).Run();
  Trainer trainer(c.training, c.model, c.seed, Uniform2(c), data, gpu);
  EXPECT_TRUE(trainer.device().is_cuda());
  TrainResult b = trainer.Run([](const EpochRecord&, space::FactorizeNet& net) {
    EXPECT_TRUE(net->parameters()[0].device().is_cpu());
    return true;
  });
  EXPECT_TRUE(validated_on_cpu);
  ASSERT_EQ(b.records.size(), 2u);
  EXPECT_TRUE(b.model->parameters()[0].device().is_cpu());
  EXPECT_NEAR(a.records[0].train_loss, b.records[0].train_loss, 1e-3);
  EXPECT_NEAR(a.records[1].val_acc, b.records[1].val_acc, 0.05);
}

}  // namespace
}  // namespace fnas::evaluators
