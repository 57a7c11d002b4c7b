#include "evaluators/train/init.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "space/plan.h"

namespace fnas::evaluators {
namespace {

InitOptions Init(const std::string& name, double scale = 0) {
  InitOptions o;
  o.name = name;
  o.scale = scale;
  return o;
}

TEST(InitFor, HandComputedBoundsAndDeviations) {
  // A 3x3 conv 64 -> 64: fan_in = fan_out = 576.
  EXPECT_NEAR(InitFor(Init("glorot_uniform"), 576, 576).bound, 0.0721687836, 1e-9);  // sqrt(6/1152)
  EXPECT_NEAR(InitFor(Init("glorot_normal"), 576, 576).stddev, 0.0416666667, 1e-9);  // sqrt(2/1152)
  EXPECT_FALSE(InitFor(Init("glorot_normal"), 576, 576).uniform);
  EXPECT_NEAR(InitFor(Init("he_uniform"), 576, 576).bound, 0.1020620726, 1e-9);  // sqrt(6/576)
  EXPECT_NEAR(InitFor(Init("he_normal"), 576, 576).stddev, 0.0589255651, 1e-9);  // sqrt(2/576)
  EXPECT_DOUBLE_EQ(InitFor(Init("rand_uniform", 0.25), 576, 576).bound, 0.25);
  EXPECT_DOUBLE_EQ(InitFor(Init("rand_normal", 0.5), 576, 576).stddev, 0.5);
  // ModGlorotUni "Large", C = 1296: sqrt(1296 / 1152) = 1.0606601718.
  EXPECT_NEAR(InitFor(Init("mod_glorot_uniform", 1296), 576, 576).bound, 1.0606601718, 1e-9);
  // C = 6 is Glorot uniform.
  EXPECT_DOUBLE_EQ(InitFor(Init("mod_glorot_uniform", 6), 27, 576).bound,
                   InitFor(Init("glorot_uniform"), 27, 576).bound);
  EXPECT_THROW(InitFor(Init("lecun"), 1, 1), ConfigError);
}

TEST(FillWeight, EmpiricalRangeAndVarianceMatchTheFormula) {
  at::Generator gen = at::detail::createCPUGenerator(1);
  torch::Tensor w = torch::empty({256, 64, 3, 3});  // 147456 samples
  for (const char* name : {"glorot_uniform", "he_uniform", "mod_glorot_uniform", "rand_uniform"}) {
    const InitDistribution d = InitFor(Init(name, 36), 576, 576);
    FillWeight(w, d, gen);
    EXPECT_LE(w.abs().max().item<double>(), d.bound) << name;
    EXPECT_GT(w.abs().max().item<double>(), 0.99 * d.bound) << name;
    // Var of U(-a, a) = a^2 / 3; the sample variance is within 2% at this size.
    EXPECT_NEAR(w.var().item<double>(), d.bound * d.bound / 3, 0.02 * d.bound * d.bound / 3)
        << name;
    EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.01 * d.bound) << name;
  }
  for (const char* name : {"glorot_normal", "he_normal", "rand_normal"}) {
    const InitDistribution d = InitFor(Init(name, 0.1), 576, 576);
    FillWeight(w, d, gen);
    EXPECT_NEAR(w.std().item<double>(), d.stddev, 0.01 * d.stddev) << name;
    EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.01 * d.stddev) << name;
  }
}

TEST(InitializeModel, StemAndDenseKeepGlorotUniformConvsFollowTheOption) {
  space::MacroOptions m;
  m.in_channels = 3;
  m.in_height = m.in_width = 8;
  m.width = 0.25;  // stem 16, stages 16, 32, 64
  m.dense = {32};
  m.classes = 10;
  const space::Macro macro(m);
  const space::Plan plan = space::BuildPlan(macro, space::UniformFactorization(macro, 2));
  space::FactorizeNet net(plan);
  at::Generator gen = at::detail::createCPUGenerator(2);
  InitializeModel(*net, Init("rand_normal", 1.0), gen);

  // Stem 3 -> 16: glorot bound sqrt(6 / (27 + 144)).
  const torch::Tensor stem = net->unit(plan.Find("stem")).conv->weight;
  EXPECT_LE(stem.abs().max().item<double>(), std::sqrt(6.0 / (27 + 144)));
  // A group conv (16 -> 16, groups 2) and a pointwise conv draw from N(0, 1).
  const torch::Tensor group = net->unit(plan.Find("conv_64_1.group")).conv->weight;
  const torch::Tensor point = net->unit(plan.Find("conv_128_1.point")).conv->weight;
  torch::Tensor both = torch::cat({group.flatten(), point.flatten()});
  EXPECT_NEAR(both.std().item<double>(), 1.0, 0.1);
  EXPECT_GT(both.abs().max().item<double>(), 2.0);  // far beyond any Glorot bound here
  // Dense 256 -> 32: glorot bound sqrt(6 / 288); zero bias.
  const auto& dense = net->unit(plan.Find("dense_1")).linear;
  EXPECT_EQ(dense->weight.size(1), 256);
  EXPECT_LE(dense->weight.abs().max().item<double>(), std::sqrt(6.0 / 288));
  EXPECT_NEAR(dense->weight.var().item<double>(), 6.0 / 288 / 3, 0.1 * 6.0 / 288 / 3);
  EXPECT_EQ(dense->bias.abs().max().item<double>(), 0.0);

  // he_uniform on a group conv: fan_in = 9 * 16 / 2 = 72 -> bound sqrt(6 / 72).
  InitializeModel(*net, Init("he_uniform"), gen);
  const torch::Tensor g2 = net->unit(plan.Find("conv_64_1.group")).conv->weight;
  EXPECT_LE(g2.abs().max().item<double>(), std::sqrt(6.0 / 72));
  EXPECT_GT(g2.abs().max().item<double>(), 0.9 * std::sqrt(6.0 / 72));
}

}  // namespace
}  // namespace fnas::evaluators
