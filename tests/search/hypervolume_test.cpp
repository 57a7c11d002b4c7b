#include "search/hypervolume.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fnas::search {
namespace {

TEST(HypervolumeTest, AreaOfAStaircaseByHand) {
  // Front (1 M, 0.5), (2 M, 0.8); (3 M, 0.7) is dominated. Reference (4 M, 0):
  // (2 - 1) M x 0.5 + (4 - 2) M x 0.8 = 0.5 M + 1.6 M = 2.1 M.
  const std::vector<FrontPoint> points = {{1, 1000000, 0.5}, {2, 2000000, 0.8}, {3, 3000000, 0.7}};
  EXPECT_DOUBLE_EQ(Hypervolume(points, 4000000), 2.1e6);
}

TEST(HypervolumeTest, PointsAtOrBeyondTheReferenceAddNothing) {
  const std::vector<FrontPoint> points = {{1, 1000000, 0.5}, {2, 4000000, 0.9}, {3, 5000000, 1.0}};
  EXPECT_DOUBLE_EQ(Hypervolume(points, 4000000), 3e6 * 0.5);
  EXPECT_DOUBLE_EQ(Hypervolume({}, 4000000), 0.0);
  EXPECT_DOUBLE_EQ(Hypervolume({{1, 10, -0.5}}, 20), 0.0);
}

TEST(HypervolumeTest, AddingADominatedPointChangesNothingAndADominatingOneGrowsIt) {
  std::vector<FrontPoint> points = {{1, 100, 0.4}, {2, 300, 0.6}};
  const double base = Hypervolume(points, 400);  // 200 x 0.4 + 100 x 0.6 = 140
  EXPECT_DOUBLE_EQ(base, 140.0);
  points.push_back({3, 350, 0.5});
  EXPECT_DOUBLE_EQ(Hypervolume(points, 400), base);
  points.push_back({4, 200, 0.7});  // 100 x 0.4 + 200 x 0.7 = 180
  EXPECT_DOUBLE_EQ(Hypervolume(points, 400), 180.0);
}

// A(10, .5), B(40, .8), C(70, .9), reference (100, 0): the staircase is
// 10..40 at .5 (15), 40..70 at .8 (24), 70..100 at .9 (27) = 66.
const std::vector<FrontPoint> kFront = {{1, 10, 0.5}, {2, 40, 0.8}, {3, 70, 0.9}};

TEST(HypervolumeTest, NonFiniteZeroAndOutsidePointsAddNothing) {
  std::vector<FrontPoint> p = kFront;
  p.push_back({6, 120, 0.99});         // more MACs than the reference
  p.push_back({7, 5, 0.0});            // accuracy 0
  p.push_back({8, 5, std::nan("")});   // not finite
  EXPECT_NEAR(Hypervolume(p, 100), 66.0, 1e-12);
  EXPECT_EQ(Hypervolume({}, 100), 0.0);
  EXPECT_EQ(Hypervolume({{1, 100, 0.9}}, 100), 0.0);  // at the reference: no width
}

TEST(HypervolumeTest, SinglePointIsItsRectangle) {
  EXPECT_NEAR(Hypervolume({{1, 25, 0.4}}, 100), 75 * 0.4, 1e-12);
}

TEST(HypervolumeTest, FractionOfTheFullFront) {
  // Without B: 10..70 at .5 (30) + 70..100 at .9 (27) = 57 of 66.
  EXPECT_NEAR(HypervolumeFraction({{1, 10, 0.5}, {3, 70, 0.9}}, kFront, 100), 57.0 / 66.0,
              1e-12);
  EXPECT_NEAR(HypervolumeFraction(kFront, kFront, 100), 1.0, 1e-12);
  EXPECT_EQ(HypervolumeFraction({}, kFront, 100), 0.0);
  EXPECT_EQ(HypervolumeFraction({}, {}, 100), 1.0);  // nothing to recover
}

}  // namespace
}  // namespace fnas::search
