#include "space/macro.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace fnas::space {
namespace {

TEST(MacroTest, PaperTableAtWidthOne) {
  Macro m{MacroOptions{}};
  ASSERT_EQ(m.num_layers(), 8u);
  const char* names[] = {"conv_64_1",  "conv_64_2",  "conv_128_1", "conv_128_2",
                         "conv_128_3", "conv_256_1", "conv_256_2", "conv_256_3"};
  const int in[] = {64, 64, 64, 128, 128, 128, 256, 256};
  const int out[] = {64, 64, 128, 128, 128, 256, 256, 256};
  const int side[] = {32, 32, 16, 16, 16, 8, 8, 8};
  for (size_t i = 0; i < 8; ++i) {
    const ConvLayer& L = m.layers()[i];
    EXPECT_EQ(L.name, names[i]);
    EXPECT_EQ(L.in_depth, in[i]) << L.name;
    EXPECT_EQ(L.out_depth, out[i]) << L.name;
    EXPECT_EQ(L.height, side[i]) << L.name;
    EXPECT_EQ(L.width, side[i]) << L.name;
  }
  EXPECT_TRUE(m.layers()[1].pool_after);
  EXPECT_TRUE(m.layers()[4].pool_after);
  EXPECT_FALSE(m.layers()[7].pool_after);
  EXPECT_EQ(m.flat_features(), 256 * 8 * 8);
  EXPECT_EQ(m.stem_depth(), 64);
}

TEST(MacroTest, WidthMultiplierRoundsDepths) {
  MacroOptions o;
  o.width = 0.3;  // 64*0.3 = 19.2 -> 19, 128*0.3 = 38.4 -> 38, 256*0.3 = 76.8 -> 77
  Macro m{o};
  EXPECT_EQ(m.stem_depth(), 19);
  EXPECT_EQ(m.layers()[2].out_depth, 38);
  EXPECT_EQ(m.layers()[7].out_depth, 77);
  EXPECT_EQ(m.layers()[7].base_in_depth, 256);  // the unscaled plan is kept
}

TEST(MacroTest, FashionMnistShape) {
  MacroOptions o;
  o.in_channels = 1;
  o.in_height = o.in_width = 28;
  Macro m{o};
  EXPECT_EQ(m.layers()[2].height, 14);
  EXPECT_EQ(m.layers()[7].height, 7);
  EXPECT_EQ(m.flat_features(), 256 * 7 * 7);
}

TEST(MacroTest, LadderEndsAtDepthwise) {
  Macro m{MacroOptions{}};
  EXPECT_EQ(m.Ladder(0), (std::vector<int>{1, 2, 4, 8, 16, 32, 64}));
  MacroOptions o;
  o.width = 0.375;  // L1 in-depth 24: 1, 2, 4, 8, then 24
  Macro n{o};
  EXPECT_EQ(n.Ladder(0), (std::vector<int>{1, 2, 4, 8, 24}));
}

TEST(MacroTest, RejectsBadOptions) {
  MacroOptions o;
  o.in_height = o.in_width = 2;  // two 2x2 pools need at least 4x4
  EXPECT_THROW(Macro{o}, ConfigError);
  MacroOptions z;
  z.width = 0;
  EXPECT_THROW(Macro{z}, ConfigError);
  MacroOptions c;
  c.classes = 1;
  EXPECT_THROW(Macro{c}, ConfigError);
}

}  // namespace
}  // namespace fnas::space
