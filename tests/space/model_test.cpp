#include "space/model.h"

#include <gtest/gtest.h>

#include <limits>

#include "space/paths.h"

namespace fnas::space {
namespace {

int64_t CountParams(FactorizeNet& net) {
  int64_t n = 0;
  for (const auto& p : net->parameters()) n += p.numel();
  return n;
}

MacroOptions Small(int c, int side, double width) {
  MacroOptions o;
  o.in_channels = c;
  o.in_height = o.in_width = side;
  o.width = width;
  o.dense = {64, 32};
  return o;
}

// Every path's model: forward shape and the counter's parameter count.
TEST(ModelTest, EveryPathBuildsRunsAndMatchesTheCounter) {
  torch::manual_seed(0);
  for (auto opts : {Small(3, 32, 0.25), Small(1, 28, 0.25)}) {
    Macro m{opts};
    PathSpec reg{PathSpec::Kind::kRegular, {}, {}, ""};
    PathSpec dw{PathSpec::Kind::kDepthwise, {}, {}, ""};
    PathSpec un{PathSpec::Kind::kUniform, {2, 4, 8, 16}, {}, ""};
    PathSpec rp{PathSpec::Kind::kReversePyramid, {2, 4}, {}, ""};
    PathSpec pl{PathSpec::Kind::kPerLayer, {}, {{1, 2, 4, 4, 8, 16, 32, 64}}, ""};
    for (const Candidate& c : ExpandPaths(m, {reg, dw, un, rp, pl})) {
      Plan plan = BuildPlan(m, c.f);
      FactorizeNet net(plan);
      EXPECT_EQ(CountParams(net), plan.params) << c.name;
      net->eval();
      auto y = net->forward(torch::randn({2, opts.in_channels, opts.in_height, opts.in_width}));
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 10})) << c.name;
    }
  }
}

TEST(ModelTest, FullSizeParamsMatchCounter) {
  Macro m{MacroOptions{}};
  for (const Factorization& f : {RegularFactorization(m), ReversePyramidFactorization(m, 2)}) {
    Plan plan = BuildPlan(m, f);
    FactorizeNet net(plan);
    EXPECT_EQ(CountParams(net), plan.params);
  }
}

TEST(ModelTest, ModulesAreNamedAfterTheTable) {
  Macro m{Small(3, 32, 0.25)};
  FactorizeNet net(BuildPlan(m, {1, 2, 2, 4, 4, 4, 8, 8}));
  std::set<std::string> names;
  for (const auto& item : net->named_parameters()) names.insert(item.key());
  EXPECT_TRUE(names.count("stem.conv.weight"));
  EXPECT_TRUE(names.count("stem.bn.weight"));
  EXPECT_TRUE(names.count("conv_64_1.conv.weight"));
  EXPECT_TRUE(names.count("conv_64_2.group.weight"));
  EXPECT_TRUE(names.count("conv_64_2.point_bn.bias"));
  EXPECT_TRUE(names.count("conv_256_3.point.weight"));
  EXPECT_TRUE(names.count("dense_1.weight"));
  EXPECT_TRUE(names.count("dense_3.bias"));
  const auto& g = net->unit(net->plan().Find("conv_64_2.group"));
  EXPECT_EQ(g.conv->options.groups(), 2);
}

TEST(ModelTest, ObservedForwardSeesEveryOp) {
  Macro m{Small(1, 28, 0.125)};
  FactorizeNet net(BuildPlan(m, RegularFactorization(m)));
  net->eval();
  std::vector<std::vector<int64_t>> shapes;
  auto x = torch::randn({3, 1, 28, 28});
  auto y = net->forward_observed(
      x, [&](size_t, const torch::Tensor& t) { shapes.push_back(t.sizes().vec()); });
  ASSERT_EQ(shapes.size(), net->plan().ops.size());
  EXPECT_TRUE(torch::allclose(y, net->forward(x)));
  EXPECT_EQ(shapes[0], (std::vector<int64_t>{3, 8, 28, 28}));
  EXPECT_EQ(shapes.back(), (std::vector<int64_t>{3, 10}));
}

TEST(ModelTest, InferencePoolingGivesLibTorchsValuesOddSizesAndNaNIncluded) {
  // Without autograd the pools run a direct loop; with it LibTorch's
  // max_pool2d. Every op's output must be the same, bit for bit, including a
  // 7 x 7 plane (floor) after the second pool and a NaN that propagates.
  Macro m{Small(1, 30, 0.125)};  // 30 -> 15 -> 7
  FactorizeNet net(BuildPlan(m, RegularFactorization(m)));
  net->eval();
  auto x = torch::randn({2, 1, 30, 30});
  x[1][0][4][5] = std::numeric_limits<float>::quiet_NaN();
  std::vector<torch::Tensor> with_grad, without;
  net->forward_observed(x.clone().requires_grad_(true), [&](size_t, const torch::Tensor& t) {
    with_grad.push_back(t.detach().clone());
  });
  {
    torch::NoGradGuard no_grad;
    net->forward_observed(x, [&](size_t, const torch::Tensor& t) { without.push_back(t.clone()); });
  }
  ASSERT_EQ(with_grad.size(), without.size());
  for (size_t i = 0; i < with_grad.size(); ++i) {
    const auto& a = with_grad[i];
    const auto& b = without[i];
    ASSERT_EQ(a.sizes(), b.sizes()) << net->plan().ops[i].name;
    // Equal values and NaN in the same places.
    EXPECT_TRUE(torch::equal(torch::isnan(a), torch::isnan(b))) << net->plan().ops[i].name;
    EXPECT_TRUE(torch::equal(torch::nan_to_num(a), torch::nan_to_num(b)))
        << net->plan().ops[i].name;
  }
  const size_t pool = static_cast<size_t>(net->plan().Find("pool_2"));
  EXPECT_EQ(without[pool].size(2), 7);
  EXPECT_TRUE(torch::isnan(without[pool][1]).any().item<bool>());  // the NaN got through
  EXPECT_FALSE(torch::isnan(without[pool][0]).any().item<bool>());
}

// The training pool against torch::max_pool2d, values and gradients: odd
// sizes (floor: the last row / column get no gradient), k = 2 and 3, ties
// (the gradient goes to the first maximum of the window, in row-major
// order), a NaN (it propagates, and takes the gradient), channel counts
// that fill no vector.
TEST(ModelTest, TrainingPoolGivesLibTorchsValuesAndGradients) {
  torch::manual_seed(5);
  struct Case {
    std::vector<int64_t> shape;
    int k;
  };
  for (const Case& t : {Case{{2, 3, 7, 9}, 2}, Case{{3, 16, 28, 28}, 2}, Case{{1, 5, 8, 7}, 3},
                        Case{{2, 17, 2, 2}, 2}}) {
    const std::string what = c10::str(c10::IntArrayRef(t.shape)) + " k " + std::to_string(t.k);
    // Values on a coarse grid: many ties within a window.
    torch::Tensor x0 = torch::randint(-2, 3, t.shape).to(torch::kFloat32);
    x0[0][0][1][1] = std::numeric_limits<float>::quiet_NaN();
    x0 = x0.contiguous(torch::MemoryFormat::ChannelsLast);
    ASSERT_TRUE(MaxPoolTrainApplies(x0, t.k, t.k)) << what;
    auto x = x0.clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
    const torch::Tensor y = MaxPoolTrain(x, t.k);
    const torch::Tensor yr = torch::max_pool2d(xr, t.k, t.k);
    ASSERT_EQ(y.sizes(), yr.sizes()) << what;
    EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast)) << what;
    EXPECT_TRUE(torch::equal(torch::isnan(y), torch::isnan(yr))) << what;
    EXPECT_TRUE(torch::equal(torch::nan_to_num(y), torch::nan_to_num(yr))) << what;
    const torch::Tensor dy = torch::randn(y.sizes());
    y.backward(dy);
    yr.backward(dy);
    EXPECT_TRUE(torch::equal(x.grad(), xr.grad())) << what;
  }
  // What it does not take: overlapping windows, NCHW, too small.
  EXPECT_FALSE(MaxPoolTrainApplies(
      torch::ones({1, 4, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast), 3, 2));
  EXPECT_FALSE(MaxPoolTrainApplies(torch::ones({1, 4, 8, 8}), 2, 2));
  EXPECT_FALSE(MaxPoolTrainApplies(
      torch::ones({1, 4, 1, 8}).contiguous(torch::MemoryFormat::ChannelsLast), 2, 2));
}

}  // namespace
}  // namespace fnas::space
