#include "space/plan.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace fnas::space {
namespace {

// The paper's figures (CIFAR-10 32x32, width 1), to 0.1 M.
TEST(PlanTest, PaperMacFigures) {
  Macro m{MacroOptions{}};
  EXPECT_EQ(BuildPlan(m, RegularFactorization(m)).macs_conv, 266010624);            // 266.0 M
  EXPECT_EQ(BuildPlan(m, UniformFactorization(m, 2)).macs_conv, 153812992);         // 153.8 M
  EXPECT_EQ(BuildPlan(m, ReversePyramidFactorization(m, 2)).macs_conv, 104267776);  // 104.3 M
  EXPECT_NEAR(BuildPlan(m, RegularFactorization(m)).macs_conv / 1e6, 266.0, 0.05);
  EXPECT_NEAR(BuildPlan(m, UniformFactorization(m, 2)).macs_conv / 1e6, 153.8, 0.05);
  EXPECT_NEAR(BuildPlan(m, ReversePyramidFactorization(m, 2)).macs_conv / 1e6, 104.3, 0.05);
  // Dense: 16384*1024 + 1024*1024 + 1024*10.
  EXPECT_EQ(BuildPlan(m, RegularFactorization(m)).macs_dense, 16384LL * 1024 + 1024 * 1024 + 10240);
}

// A tiny macro counted by hand: input 1x8x8, stem 4, stages [[4,1],[8,1]], dense [16], 3 classes.
Macro Tiny() {
  MacroOptions o;
  o.in_channels = 1;
  o.in_height = o.in_width = 8;
  o.stem_depth = 4;
  o.stages = {{4, 1}, {8, 1}};
  o.dense = {16};
  o.classes = 3;
  return Macro{o};
}

TEST(PlanTest, HandCountedRegular) {
  Plan p = BuildPlan(Tiny(), {1, 1});
  // stem 9*8*8*1*4 = 2304; L1 9*8*8*4*4 = 9216; L2 9*4*4*4*8 = 4608.
  EXPECT_EQ(p.macs_conv, 2304 + 9216 + 4608);
  // flatten 8*4*4 = 128: 128*16 + 16*3.
  EXPECT_EQ(p.macs_dense, 2048 + 48);
  // stem 36+8, L1 144+8, L2 288+16, dense 2048+16, 48+3.
  EXPECT_EQ(p.params, 44 + 152 + 304 + 2064 + 51);
  std::vector<std::string> names;
  for (const auto& op : p.ops) names.push_back(op.name);
  EXPECT_EQ(names, (std::vector<std::string>{"stem", "conv_4_1", "pool_1", "conv_8_1", "flatten",
                                             "dense_1", "dense_2"}));
  EXPECT_FALSE(p.ops.back().relu);
  EXPECT_TRUE(p.ops[p.Find("dense_1")].relu);
}

TEST(PlanTest, HandCountedFactorized) {
  Plan p = BuildPlan(Tiny(), {2, 4});
  // L1: group 9*64*4*(4/2) = 4608 + point 64*4*4 = 1024; L2: group 9*16*4*1 = 576 + point 16*4*8 =
  // 512.
  EXPECT_EQ(p.macs_conv, 2304 + 4608 + 1024 + 576 + 512);
  // L1 group 9*2*4+8, point 16+8; L2 group 9*1*4+8, point 32+16.
  EXPECT_EQ(p.params, 44 + 80 + 24 + 44 + 48 + 2064 + 51);
  const Op& g = p.ops[p.Find("conv_8_1.group")];
  EXPECT_EQ(g.groups, 4);
  EXPECT_EQ(g.in_c, 4);
  EXPECT_EQ(g.out_c, 4);
  EXPECT_EQ(g.layer, "conv_8_1");
  const Op& pw = p.ops[p.Find("conv_8_1.point")];
  EXPECT_EQ(pw.kernel, 1);
  EXPECT_EQ(pw.pad, 0);
  EXPECT_EQ(pw.out_c, 8);
}

TEST(PlanTest, RefusesInvalidFactorization) {
  EXPECT_THROW(BuildPlan(Tiny(), {3, 1}), ConfigError);
}

}  // namespace
}  // namespace fnas::space
