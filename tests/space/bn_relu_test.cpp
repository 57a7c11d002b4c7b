#include "space/bn_relu.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <vector>

#include "space/model.h"
#include "space/paths.h"

namespace fnas::space {
namespace {

std::vector<BnReluKernel> Kernels() {
  std::vector<BnReluKernel> k{BnReluKernel::kPortable};
  if (BnReluAvx512Supported()) k.push_back(BnReluKernel::kAvx512);
  return k;
}
const char* Name(BnReluKernel k) { return k == BnReluKernel::kAvx512 ? "avx512" : "portable"; }

std::vector<float> Values(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

torch::nn::BatchNorm2d MakeBn(int64_t c, double eps, c10::optional<double> momentum) {
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(c).eps(eps).momentum(momentum));
  bn->train();
  return bn;
}

// A hand-worked channel: x = {1, 1, 3, 3} has mean 2 and biased variance 1
// (xhat = {-1, -1, 1, 1}), unbiased variance 4/3. With gamma 2, beta -1, eps 0:
// BN gives {-3, -3, 1, 1}, ReLU {0, 0, 1, 1}. Running stats from (0, 1) with
// momentum 0.1: mean 0.2, var 0.1 * 4/3 + 0.9. With dy = {1, 2, 3, 4} and the
// ReLU, g = {0, 0, 3, 4}: dbeta = 7, dgamma = sum g * xhat = 7,
// dx = gamma * invstd * (g - mean g - xhat * mean(g xhat)) = 2 (g - 7/4 - 7/4 xhat)
//    = {0, 0, -1, 1}. Without the ReLU, g = dy: dbeta = 10, dgamma = 4,
// dx = 2 (dy - 2.5 - xhat) = {-1, 1, -1, 1}.
TEST(BnReluTest, HandWorkedChannelForwardBackwardAndRunningStats) {
  for (BnReluKernel kernel : Kernels()) {
    for (bool relu : {true, false}) {
      auto bn = MakeBn(1, 0.0, 0.1);
      torch::NoGradGuard no_grad;
      bn->weight.fill_(2.0f);
      bn->bias.fill_(-1.0f);
      torch::Tensor x = torch::tensor({1.0f, 1.0f, 3.0f, 3.0f}).view({1, 1, 1, 4});
      x.set_requires_grad(true);
      torch::Tensor y;
      {
        torch::AutoGradMode grad(true);
        y = BatchNormReluTrain(*bn, x, relu, kernel);
        y.backward(torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 1, 1, 4}));
      }
      const std::vector<float> want_y =
          relu ? std::vector<float>{0, 0, 1, 1} : std::vector<float>{-3, -3, 1, 1};
      const std::vector<float> want_dx =
          relu ? std::vector<float>{0, 0, -1, 1} : std::vector<float>{-1, 1, -1, 1};
      const std::vector<float> got_y = Values(y), got_dx = Values(x.grad());
      for (int i = 0; i < 4; ++i) {
        EXPECT_NEAR(got_y[i], want_y[i], 1e-6) << Name(kernel) << " relu " << relu << " y" << i;
        EXPECT_NEAR(got_dx[i], want_dx[i], 1e-6) << Name(kernel) << " relu " << relu << " dx" << i;
      }
      EXPECT_NEAR(bn->bias.grad().item<float>(), relu ? 7.0 : 10.0, 1e-6);
      EXPECT_NEAR(bn->weight.grad().item<float>(), relu ? 7.0 : 4.0, 1e-6);
      EXPECT_NEAR(bn->running_mean.item<float>(), 0.2, 1e-7);
      EXPECT_NEAR(bn->running_var.item<float>(), 0.1 * 4.0 / 3.0 + 0.9, 1e-7);
      EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
    }
  }
}

struct Result {
  std::vector<float> y, dx, dgamma, dbeta, running_mean, running_var;
  int64_t batches = 0;
};

// Two training steps of BN(+ReLU) on [N, C, H, W] channels-last inputs (with a
// nonzero mean and a scale, so the statistics matter), the loss a random
// weighting of the output; fused when kernel is given, else LibTorch's, in
// float or (in_double) double.
Result RunSteps(std::vector<int64_t> shape, bool relu, c10::optional<BnReluKernel> kernel,
                c10::optional<double> momentum = 0.1, bool in_double = false) {
  torch::manual_seed(7);
  const int64_t c = shape[1];
  auto bn = MakeBn(c, 1e-5, momentum);
  {
    torch::NoGradGuard no_grad;
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.uniform_(-0.5, 0.5);
    bn->running_mean.uniform_(-1, 1);
    bn->running_var.uniform_(0.5, 2);
  }
  Result r;
  for (int step = 0; step < 2; ++step) {
    torch::Tensor x =
        (torch::randn(shape) * torch::rand({1, c, 1, 1}) * 3 + torch::randn({1, c, 1, 1}) * 2)
            .contiguous(torch::MemoryFormat::ChannelsLast);
    if (in_double) {
      bn->to(torch::kFloat64);
      x = x.to(torch::kFloat64);
    }
    x.requires_grad_(true);
    const torch::Tensor w = torch::randn(shape).to(x.scalar_type());
    for (auto& p : bn->parameters()) p.mutable_grad() = torch::Tensor();
    torch::Tensor y;
    if (kernel) {
      y = BatchNormReluTrain(*bn, x, relu, *kernel);
    } else {
      y = bn->forward(x);
      if (relu) y = torch::relu(y);
    }
    (y * w).sum().backward();
    r = {Values(y),
         Values(x.grad()),
         Values(bn->weight.grad()),
         Values(bn->bias.grad()),
         Values(bn->running_mean),
         Values(bn->running_var),
         bn->num_batches_tracked.item<int64_t>()};
  }
  return r;
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, double atol,
                 double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    if (std::abs(got[i] - want[i]) > atol + rtol * std::abs(want[i])) {
      ADD_FAILURE() << what << "[" << i << "]: " << got[i] << " vs " << want[i];
      ++bad;
    }
  }
}

// Against LibTorch's batch_norm + relu in double (tight: the fused kernel is
// within a few float roundings of it) and in float, the layer it replaces
// (looser: LibTorch's float kernel itself is off by up to 3e-5 in y and 3e-4
// in dx on the ill-conditioned channels of these inputs, |mean| >> std).
void ExpectMatchesTorch(const Result& got, const Result& want, bool exact,
                        const std::string& what) {
  const double y_tol = exact ? 2e-6 : 5e-5, dx_tol = exact ? 2e-5 : 5e-4;
  const double p_tol = exact ? 1e-5 : 5e-4;
  ExpectClose(got.y, want.y, y_tol, 1e-5, what + " y");
  ExpectClose(got.dx, want.dx, dx_tol, 1e-5, what + " dx");
  ExpectClose(got.dgamma, want.dgamma, p_tol, 1e-6, what + " dgamma");
  ExpectClose(got.dbeta, want.dbeta, p_tol, 1e-6, what + " dbeta");
  ExpectClose(got.running_mean, want.running_mean, 1e-6, 1e-6, what + " running_mean");
  ExpectClose(got.running_var, want.running_var, 2e-6, 1e-6, what + " running_var");
  EXPECT_EQ(got.batches, want.batches) << what;
}

// Odd channel counts (1, 3, 17, 40: masked lanes, flat and blocked walks), a
// batch of one with spatial size > 1, a multi-chunk input.
const std::vector<std::vector<int64_t>> kShapes = {{4, 3, 5, 7},   {2, 17, 6, 6}, {1, 16, 3, 3},
                                                   {3, 8, 4, 4},   {2, 40, 5, 5}, {5, 1, 3, 2},
                                                   {8, 16, 32, 32}};

TEST(BnReluTest, MatchesLibTorchBatchNormAndReluForwardBackwardAndRunningStats) {
  for (const auto& shape : kShapes) {
    for (bool relu : {true, false}) {
      const Result in_float = RunSteps(shape, relu, c10::nullopt);
      const Result in_double = RunSteps(shape, relu, c10::nullopt, 0.1, /*in_double=*/true);
      EXPECT_EQ(in_float.batches, 2);
      for (BnReluKernel kernel : Kernels()) {
        const std::string what = std::string(Name(kernel)) + " relu " + std::to_string(relu) + " " +
                                 c10::str(c10::IntArrayRef(shape));
        const Result got = RunSteps(shape, relu, kernel);
        ExpectMatchesTorch(got, in_double, true, what + " vs double");
        ExpectMatchesTorch(got, in_float, false, what + " vs float");
      }
    }
  }
}

// No momentum: the module's cumulative average (1 / num_batches_tracked).
TEST(BnReluTest, CumulativeAverageWithoutMomentumMatchesLibTorch) {
  const Result want = RunSteps({2, 5, 4, 4}, true, c10::nullopt, c10::nullopt, true);
  for (BnReluKernel kernel : Kernels()) {
    ExpectMatchesTorch(RunSteps({2, 5, 4, 4}, true, kernel, c10::nullopt), want, true,
                       Name(kernel));
  }
}

TEST(BnReluTest, AVX512AndPortableKernelsAgree) {
  if (!BnReluAvx512Supported()) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (const auto& shape : kShapes) {
    for (bool relu : {true, false}) {
      const Result a = RunSteps(shape, relu, BnReluKernel::kAvx512);
      const Result p = RunSteps(shape, relu, BnReluKernel::kPortable);
      const std::string what =
          "relu " + std::to_string(relu) + " " + c10::str(c10::IntArrayRef(shape));
      ExpectClose(a.y, p.y, 1e-6, 1e-6, what + " y");
      ExpectClose(a.dx, p.dx, 1e-6, 1e-6, what + " dx");
      ExpectClose(a.dgamma, p.dgamma, 1e-5, 1e-6, what + " dgamma");
      ExpectClose(a.dbeta, p.dbeta, 1e-5, 1e-6, what + " dbeta");
      ExpectClose(a.running_mean, p.running_mean, 0, 1e-7, what + " running_mean");
      ExpectClose(a.running_var, p.running_var, 0, 1e-7, what + " running_var");
    }
  }
}

TEST(BnReluTest, ResultsAreBitIdenticalWithOneOrTwoThreads) {
  const int threads = at::get_num_threads();
  // 8192 rows of 16 channels: 8 chunks of the statistics passes.
  for (BnReluKernel kernel : Kernels()) {
    for (const std::vector<int64_t>& shape :
         std::vector<std::vector<int64_t>>{{8, 16, 32, 32}, {4, 3, 40, 40}}) {
      at::set_num_threads(1);
      const Result one = RunSteps(shape, true, kernel);
      at::set_num_threads(2);
      const Result two = RunSteps(shape, true, kernel);
      const std::string what = Name(kernel);
      EXPECT_EQ(one.y, two.y) << what;
      EXPECT_EQ(one.dx, two.dx) << what;
      EXPECT_EQ(one.dgamma, two.dgamma) << what;
      EXPECT_EQ(one.dbeta, two.dbeta) << what;
      EXPECT_EQ(one.running_mean, two.running_mean) << what;
      EXPECT_EQ(one.running_var, two.running_var) << what;
    }
  }
  at::set_num_threads(threads);
}

// The backward takes the ReLU's decisions from x (it keeps no output): the
// gradient passes exactly where the forward's output is positive. Values on
// the mean land exactly on 0 with beta 0 (blocked: no gradient), and a NaN
// input blocks its own gradient; every other element passes dy unchanged
// into g, checked through dbeta = sum g per channel.
TEST(BnReluTest, BackwardPassesTheGradientExactlyWhereTheForwardOutputIsPositive) {
  for (BnReluKernel kernel : Kernels()) {
    for (int64_t C : {2, 16, 20}) {  // flat walk, one block, a masked second block
      const std::string what = std::string(Name(kernel)) + " C " + std::to_string(C);
      auto bn = MakeBn(C, 1e-5, 0.1);
      torch::NoGradGuard no_grad;
      bn->weight.fill_(1.0f);
      bn->bias.zero_();
      // Per channel: 1, 2, 3 (mean 2: an exact 0 output), 2, then a NaN in channel 0.
      torch::Tensor x0 = torch::empty({5, C, 1, 1});
      for (int64_t c = 0; c < C; ++c) {
        const float v[5] = {1.0f, 2.0f, 3.0f, 2.0f, 2.0f};
        for (int i = 0; i < 5; ++i) x0[i][c][0][0] = v[i] + static_cast<float>(c);
      }
      x0 = x0.contiguous(torch::MemoryFormat::ChannelsLast);
      torch::Tensor x = x0.clone().requires_grad_(true);
      torch::Tensor y;
      {
        torch::AutoGradMode grad(true);
        y = BatchNormReluTrain(*bn, x, true, kernel);
        y.backward(torch::ones_like(y));
      }
      const std::vector<float> out = Values(y), dbeta = Values(bn->bias.grad());
      for (int64_t c = 0; c < C; ++c) {
        float passed = 0;
        for (int i = 0; i < 5; ++i) passed += out[i * C + c] > 0.0f ? 1.0f : 0.0f;
        EXPECT_EQ(out[1 * C + c], 0.0f) << what << " channel " << c;  // on the mean
        EXPECT_EQ(dbeta[c], passed) << what << " channel " << c;
      }
      // A NaN in channel 0: its statistics are NaN, every output NaN, nothing passes.
      x0[4][0][0][0] = std::numeric_limits<float>::quiet_NaN();
      x = x0.clone().requires_grad_(true);
      bn->bias.mutable_grad().reset();
      {
        torch::AutoGradMode grad(true);
        y = BatchNormReluTrain(*bn, x, true, kernel);
        y.backward(torch::ones_like(y));
      }
      EXPECT_EQ(Values(bn->bias.grad())[0], 0.0f) << what;
      EXPECT_EQ(Values(bn->bias.grad())[1 % C], C > 1 ? 1.0f : 0.0f) << what;
    }
  }
}

TEST(BnReluTest, RefusesWhatItDoesNotHandle) {
  auto bn = MakeBn(4, 1e-5, 0.1);
  const torch::Tensor nhwc =
      torch::randn({2, 4, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
  EXPECT_TRUE(FusedBnReluApplies(*bn, nhwc));
  EXPECT_FALSE(FusedBnReluApplies(*bn, torch::randn({2, 4, 3, 3})));  // NCHW
  EXPECT_FALSE(FusedBnReluApplies(*bn, nhwc.to(torch::kFloat64)));
  EXPECT_FALSE(FusedBnReluApplies(
      *bn, torch::randn({2, 5, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast)));
  bn->eval();
  EXPECT_FALSE(FusedBnReluApplies(*bn, nhwc));
  bn->train();
  // One value per channel: LibTorch refuses it in training too.
  const torch::Tensor single = torch::randn({1, 4, 1, 1});
  ASSERT_TRUE(FusedBnReluApplies(*bn, single));
  EXPECT_THROW(BatchNormReluTrain(*bn, single, true), c10::Error);
}

// The net with fusion on and off: the same losses over a few SGD steps,
// identical eval outputs, and eval never takes the fused path.
TEST(BnReluTest, ModelTrainsToTheSameLossFusedOrNotAndEvalIsUnaffected) {
  MacroOptions o;
  o.in_channels = 1;
  o.in_height = o.in_width = 16;
  o.width = 0.125;
  o.dense = {32};
  Macro macro{o};
  PathSpec reg{PathSpec::Kind::kRegular, {}, {}, ""};
  PathSpec dw{PathSpec::Kind::kDepthwise, {}, {}, ""};
  for (const Candidate& cand : ExpandPaths(macro, {reg, dw})) {
    std::vector<float> losses[2], eval_out[2];
    int64_t batches[2] = {0, 0};
    for (int fused = 0; fused < 2; ++fused) {
      torch::manual_seed(3);
      FactorizeNet net(BuildPlan(macro, cand.f));
      net->set_channels_last(true);
      net->set_fused_bn_relu(fused == 1);
      for (auto& p : net->parameters()) {
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
      }
      torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
      const torch::Tensor x = torch::randn({16, 1, 16, 16});
      const torch::Tensor labels = torch::randint(0, 10, {16});
      net->train();
      for (int step = 0; step < 4; ++step) {
        opt.zero_grad();
        torch::Tensor loss = torch::cross_entropy_loss(net->forward(x), labels);
        loss.backward();
        opt.step();
        losses[fused].push_back(loss.item<float>());
      }
      net->eval();
      const torch::Tensor before = net->unit(0).bn->num_batches_tracked.clone();
      torch::NoGradGuard no_grad;
      eval_out[fused] = Values(net->forward(x));
      EXPECT_TRUE(torch::equal(before, net->unit(0).bn->num_batches_tracked));
      batches[fused] = before.item<int64_t>();
    }
    EXPECT_EQ(batches[0], 4);
    EXPECT_EQ(batches[1], 4);
    ExpectClose(losses[1], losses[0], 1e-4, 1e-4, cand.name + " loss");
    ExpectClose(eval_out[1], eval_out[0], 1e-3, 1e-3, cand.name + " eval logits after training");
  }
  // Training takes the fused kernel when on, LibTorch's relu when off or
  // NCHW; eval of one net with the flag on or off: the same path, the same bits.
  torch::manual_seed(4);
  FactorizeNet net(BuildPlan(macro, RegularFactorization(macro)));
  const torch::Tensor x = torch::randn({4, 1, 16, 16});
  net->train();
  for (bool channels_last : {true, false}) {
    for (bool fused : {true, false}) {
      net->set_channels_last(channels_last);
      net->set_fused_bn_relu(fused);
      const std::string node = net->Apply(0, x).grad_fn()->name();
      const bool took_fused = node.find("BnReluFunction") != std::string::npos;
      EXPECT_EQ(took_fused, channels_last && fused) << node;
    }
  }
  net->set_channels_last(true);
  net->eval();
  torch::NoGradGuard no_grad;
  net->set_fused_bn_relu(true);
  const torch::Tensor on = net->forward(x);
  net->set_fused_bn_relu(false);
  EXPECT_TRUE(torch::equal(on, net->forward(x)));
}

}  // namespace
}  // namespace fnas::space
