#include "search/hypervolume.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fnas::search {
namespace {

// A(10, .5), B(40, .8), C(70, .9), reference (100, 0): the staircase is
// 10..40 at .5 (15), 40..70 at .8 (24), 70..100 at .9 (27) = 66.
const std::vector<FrontPoint> kFront = {{1, 10, 0.5}, {2, 40, 0.8}, {3, 70, 0.9}};

TEST(Hypervolume, StaircaseAreaByHand) { EXPECT_NEAR(Hypervolume(kFront, 100), 66.0, 1e-12); }

TEST(Hypervolume, DominatedPointsAndOrderChangeNothing) {
  std::vector<FrontPoint> p = {{3, 70, 0.9}, {4, 50, 0.6}, {1, 10, 0.5}, {5, 90, 0.85},
                               {2, 40, 0.8}};
  EXPECT_NEAR(Hypervolume(p, 100), 66.0, 1e-12);
}

TEST(Hypervolume, PointsOutsideTheReferenceAddNothing) {
  std::vector<FrontPoint> p = kFront;
  p.push_back({6, 120, 0.99});         // more MACs than the reference
  p.push_back({7, 5, 0.0});            // accuracy 0
  p.push_back({8, 5, std::nan("")});   // not finite
  EXPECT_NEAR(Hypervolume(p, 100), 66.0, 1e-12);
  EXPECT_EQ(Hypervolume({}, 100), 0.0);
  EXPECT_EQ(Hypervolume({{1, 100, 0.9}}, 100), 0.0);  // at the reference: no width
}

TEST(Hypervolume, SinglePointIsItsRectangle) {
  EXPECT_NEAR(Hypervolume({{1, 25, 0.4}}, 100), 75 * 0.4, 1e-12);
}

TEST(Hypervolume, FractionOfTheFullFront) {
  // Without B: 10..70 at .5 (30) + 70..100 at .9 (27) = 57 of 66.
  EXPECT_NEAR(HypervolumeFraction({{1, 10, 0.5}, {3, 70, 0.9}}, kFront, 100), 57.0 / 66.0,
              1e-12);
  EXPECT_NEAR(HypervolumeFraction(kFront, kFront, 100), 1.0, 1e-12);
  EXPECT_EQ(HypervolumeFraction({}, kFront, 100), 0.0);
  EXPECT_EQ(HypervolumeFraction({}, {}, 100), 1.0);  // nothing to recover
}

}  // namespace
}  // namespace fnas::search
