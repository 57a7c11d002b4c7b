#include "search/hypervolume.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fnas::search
