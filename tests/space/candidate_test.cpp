#include "space/candidate.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "space/paths.h"

namespace fnas::space {
namespace {

TEST(CandidateTest, PathVectorsAtWidthOne) {
  Macro m{MacroOptions{}};
  EXPECT_EQ(RegularFactorization(m), Factorization(8, 1));
  EXPECT_EQ(DepthwiseFactorization(m), (Factorization{64, 64, 64, 128, 128, 128, 256, 256}));
  EXPECT_EQ(UniformFactorization(m, 4), Factorization(8, 4));
  // docs/method.md §3 (paper Fig. 3): f_init = 2 gives L1-L3 f=2, L4-L6 f=4, L7-L8 f=8.
  EXPECT_EQ(ReversePyramidFactorization(m, 2), (Factorization{2, 2, 2, 4, 4, 4, 8, 8}));
  EXPECT_EQ(ReversePyramidFactorization(m, 64), DepthwiseFactorization(m));
}

TEST(CandidateTest, CanonicalNames) {
  Macro m{MacroOptions{}};
  EXPECT_EQ(CandidateName(m, RegularFactorization(m)), "regular");
  EXPECT_EQ(CandidateName(m, DepthwiseFactorization(m)), "depthwise");
  EXPECT_EQ(CandidateName(m, UniformFactorization(m, 4)), "uniform-f4");
  EXPECT_EQ(CandidateName(m, ReversePyramidFactorization(m, 2)), "rpyr-finit2");
  EXPECT_EQ(CandidateName(m, {1, 2, 4, 4, 8, 8, 16, 16}), "layers-1.2.4.4.8.8.16.16");
  EXPECT_EQ(MakeCandidate(m, {1, 2, 4, 4, 8, 8, 16, 16}).key, "1.2.4.4.8.8.16.16");
}

TEST(CandidateTest, ParseAndJoinRoundTrip) {
  EXPECT_EQ(ParseFactorization("1.2.64"), (Factorization{1, 2, 64}));
  EXPECT_EQ(JoinFactorization({1, 2, 64}), "1.2.64");
  EXPECT_THROW(ParseFactorization("1..2"), UsageError);
  EXPECT_THROW(ParseFactorization("1.x"), UsageError);
  EXPECT_THROW(ParseFactorization(""), UsageError);
}

TEST(CandidateTest, ValidationNamesLayerRateAndDepth) {
  Macro m{MacroOptions{}};
  auto e = CheckFactorization(m, {1, 1, 3, 1, 1, 1, 1, 1});
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("L3"), std::string::npos) << *e;
  EXPECT_NE(e->find("conv_128_1"), std::string::npos) << *e;
  EXPECT_NE(e->find("f=3"), std::string::npos) << *e;
  EXPECT_NE(e->find("in-depth 64"), std::string::npos) << *e;
  e = CheckFactorization(m, {128, 1, 1, 1, 1, 1, 1, 1});
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("exceeds the in-depth 64"), std::string::npos) << *e;
  e = CheckFactorization(m, {1, 1});
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("needs 8 rates"), std::string::npos) << *e;
  EXPECT_FALSE(CheckFactorization(m, DepthwiseFactorization(m)).has_value());
  EXPECT_THROW(MakeCandidate(m, {0, 1, 1, 1, 1, 1, 1, 1}), ConfigError);
}

TEST(CandidateTest, ExpandListsDuplicatesOnce) {
  Macro m{MacroOptions{}};
  PathSpec dw{PathSpec::Kind::kDepthwise, {}, {}, ""};
  PathSpec rp{PathSpec::Kind::kReversePyramid, {2, 64}, {}, ""};
  PathSpec un{PathSpec::Kind::kUniform, {1, 2}, {}, ""};  // uniform f=1 is the regular net
  PathSpec reg{PathSpec::Kind::kRegular, {}, {}, ""};
  auto cands = ExpandPaths(m, {dw, rp, un, reg});
  ASSERT_EQ(cands.size(), 4u);
  EXPECT_EQ(cands[0].name, "depthwise");
  EXPECT_EQ(cands[1].name, "rpyr-finit2");
  EXPECT_EQ(cands[2].name, "regular");
  EXPECT_EQ(cands[3].name, "uniform-f2");
}

TEST(CandidateTest, ExpandReportsWhereAndWhat) {
  MacroOptions o;
  o.width = 0.125;  // L1 in-depth 8: uniform f=16 cannot apply
  Macro m{o};
  PathSpec un{PathSpec::Kind::kUniform, {2, 16}, {}, "cfg.yaml:12"};
  try {
    ExpandPaths(m, {un});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cfg.yaml:12"), std::string::npos) << msg;
    EXPECT_NE(msg.find("uniform f=16"), std::string::npos) << msg;
    EXPECT_NE(msg.find("in-depth 8"), std::string::npos) << msg;
  }
}

TEST(CandidateTest, ResolveByNameKeyOrForm) {
  Macro m{MacroOptions{}};
  std::vector<Candidate> known = {MakeCandidate(m, UniformFactorization(m, 4))};
  EXPECT_EQ(ResolveCandidate(m, known, "uniform-f4").key, "4.4.4.4.4.4.4.4");
  EXPECT_EQ(ResolveCandidate(m, known, "rpyr-finit2").key, "2.2.2.4.4.4.8.8");
  EXPECT_EQ(ResolveCandidate(m, known, "depthwise").name, "depthwise");
  EXPECT_EQ(ResolveCandidate(m, known, "1.1.1.1.1.1.1.1").name, "regular");
  EXPECT_EQ(ResolveCandidate(m, known, "layers-1.2.4.4.8.8.16.16").key, "1.2.4.4.8.8.16.16");
  EXPECT_THROW(ResolveCandidate(m, known, "nonsense"), UsageError);
  EXPECT_THROW(ResolveCandidate(m, known, "uniform-f3"), UsageError);
}

}  // namespace
}  // namespace fnas::space
