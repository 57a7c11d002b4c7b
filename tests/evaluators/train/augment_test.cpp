#include "evaluators/train/augment.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fnas::evaluators {
namespace {

AugmentOptions Off() {
  AugmentOptions o;
  o.shift = o.zoom = o.rotation = 0;
  o.hflip = o.vflip = false;
  return o;
}

TEST(Augment, DisabledOrAllOffIsTheIdentity) {
  at::Generator gen = at::detail::createCPUGenerator(1);
  torch::Tensor x = torch::rand({5, 3, 7, 9});
  AugmentOptions o;
  o.enabled = false;
  EXPECT_TRUE(torch::equal(Augment(x, o, gen), x));
  EXPECT_TRUE(torch::equal(Augment(x, Off(), gen), x));
}

TEST(Augment, KeepsShapeAndIsSeeded) {
  torch::Tensor x = torch::rand({16, 3, 12, 10});
  AugmentOptions o;  // every transform on
  at::Generator a = at::detail::createCPUGenerator(7), b = at::detail::createCPUGenerator(7),
                c = at::detail::createCPUGenerator(8);
  torch::Tensor ya = Augment(x, o, a), yb = Augment(x, o, b), yc = Augment(x, o, c);
  EXPECT_EQ(ya.sizes(), x.sizes());
  EXPECT_EQ(ya.dtype(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(ya, yb));
  EXPECT_FALSE(torch::equal(ya, yc));
  EXPECT_FALSE(torch::equal(ya, x));
  // The generator advanced: the next batch differs.
  EXPECT_FALSE(torch::equal(Augment(x, o, a), ya));
}

TEST(Augment, FlipsAreMirrorImagesAboutHalfTheTime) {
  at::Generator gen = at::detail::createCPUGenerator(3);
  torch::Tensor x = torch::rand({200, 1, 5, 6});
  AugmentOptions o = Off();
  o.hflip = true;
  torch::Tensor y = Augment(x, o, gen);
  int flipped = 0;
  for (int i = 0; i < 200; ++i) {
    const bool same = torch::equal(y[i], x[i]), mirror = torch::equal(y[i], x[i].flip({2}));
    EXPECT_TRUE(same || mirror) << i;
    flipped += mirror;
  }
  EXPECT_GT(flipped, 70);
  EXPECT_LT(flipped, 130);
  o = Off();
  o.vflip = true;
  y = Augment(x, o, gen);
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(torch::equal(y[i], x[i]) || torch::equal(y[i], x[i].flip({1}))) << i;
  }
}

TEST(AffineTheta, HandComputedMatrices) {
  auto t = [](double v) { return torch::full({1}, v, torch::kFloat64); };
  // Shift by 0.25 of the width: +0.5 in normalized coordinates; zoom 2.
  torch::Tensor th = AffineTheta(t(0.25), t(0), t(2), t(0), t(1), t(-1), 8, 8);
  EXPECT_TRUE(
      torch::allclose(th[0], torch::tensor({{2.0f, 0.0f, 0.5f}, {0.0f, -2.0f, 0.0f}}), 1e-6, 1e-6));
  // 90 degrees on a 4 x 8 (H x W) image: x_in = -(H/W) y_out, y_in = (W/H) x_out.
  th = AffineTheta(t(0), t(0), t(1), t(M_PI / 2), t(1), t(1), 4, 8);
  EXPECT_TRUE(
      torch::allclose(th[0], torch::tensor({{0.0f, -0.5f, 0.0f}, {2.0f, 0.0f, 0.0f}}), 1e-6, 1e-6));
}

TEST(Augment, ShiftMovesTheContentWithinItsRange) {
  // One bright pixel in the middle of a 21 x 21 image; shifts of at most 0.1 x 21 = 2.1 px.
  torch::Tensor x = torch::zeros({64, 1, 21, 21});
  x.index_put_({torch::indexing::Slice(), 0, 10, 10}, 1.0);
  AugmentOptions o = Off();
  o.shift = 0.1;
  at::Generator gen = at::detail::createCPUGenerator(5);
  torch::Tensor y = Augment(x, o, gen);
  torch::Tensor coords = torch::arange(21, torch::kFloat32);
  bool moved = false;
  for (int i = 0; i < 64; ++i) {
    torch::Tensor img = y[i][0];
    const double mass = img.sum().item<double>();
    EXPECT_NEAR(mass, 1.0, 1e-4) << i;  // bilinear translation keeps the mass
    const double cx = (img.sum(0) * coords).sum().item<double>() / mass;
    const double cy = (img.sum(1) * coords).sum().item<double>() / mass;
    EXPECT_LE(std::abs(cx - 10), 2.1 + 1e-4) << i;
    EXPECT_LE(std::abs(cy - 10), 2.1 + 1e-4) << i;
    moved |= std::abs(cx - 10) > 0.5;
  }
  EXPECT_TRUE(moved);
}

}  // namespace
}  // namespace fnas::evaluators
