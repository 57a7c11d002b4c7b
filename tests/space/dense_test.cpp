#include "space/dense.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <vector>

namespace fnas::space {
namespace {

std::vector<DenseKernel> Kernels() {
  std::vector<DenseKernel> k{DenseKernel::kConv};
  if (DenseGemmAvailable()) k.push_back(DenseKernel::kGemm);
  return k;
}
const char* Name(DenseKernel k) { return k == DenseKernel::kGemm ? "gemm" : "conv"; }

// A hand-worked layer: x = [[1, 2], [3, -1]], W = [[1, 0], [2, 1], [-1, 1]],
// b = [0.5, 0, -1]: y = x W^T + b = [[1.5, 4, 0], [3.5, 5, -5]]. With
// dy = [[1, 0, 2], [0, 1, -1]]: dx = dy W = [[-1, 2], [3, 0]],
// dW = dy^T x = [[1, 2], [3, -1], [-1, 5]], db = [1, 1, 1].
TEST(DenseTest, MatchesTheHandWorkedLayerAndItsGradients) {
  for (DenseKernel k : Kernels()) {
    SCOPED_TRACE(Name(k));
    auto x = torch::tensor({1.0f, 2.0f, 3.0f, -1.0f}).view({2, 2}).requires_grad_(true);
    auto w = torch::tensor({1.0f, 0.0f, 2.0f, 1.0f, -1.0f, 1.0f}).view({3, 2}).requires_grad_(true);
    auto b = torch::tensor({0.5f, 0.0f, -1.0f}).requires_grad_(true);
    torch::Tensor y = Dense(x, w, b, k);
    EXPECT_TRUE(torch::equal(y, torch::tensor({1.5f, 4.0f, 0.0f, 3.5f, 5.0f, -5.0f}).view({2, 3})));
    y.backward(torch::tensor({1.0f, 0.0f, 2.0f, 0.0f, 1.0f, -1.0f}).view({2, 3}));
    EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({-1.0f, 2.0f, 3.0f, 0.0f}).view({2, 2})));
    EXPECT_TRUE(
        torch::equal(w.grad(), torch::tensor({1.0f, 2.0f, 3.0f, -1.0f, -1.0f, 5.0f}).view({3, 2})));
    EXPECT_TRUE(torch::equal(b.grad(), torch::tensor({1.0f, 1.0f, 1.0f})));
  }
}

// Random layers of the nets' shapes (and odd ones) against torch::linear, in
// value and in every gradient; without a bias, and with a transposed
// (non-contiguous) input.
TEST(DenseTest, AgreesWithLinearOnRandomLayers) {
  torch::manual_seed(3);
  struct Shape {
    int64_t n, in, out;
    bool bias, transposed;
  };
  for (const Shape& s :
       {Shape{64, 3136, 128, true, false}, Shape{64, 128, 10, true, false},
        Shape{1, 7, 3, false, false}, Shape{5, 33, 17, true, true}, Shape{3, 1, 1, false, true}}) {
    for (DenseKernel k : Kernels()) {
      SCOPED_TRACE(std::string(Name(k)) + " n " + std::to_string(s.n) + " in " +
                   std::to_string(s.in) + " out " + std::to_string(s.out));
      torch::Tensor x0 = s.transposed ? torch::randn({s.in, s.n}).t() : torch::randn({s.n, s.in});
      auto x = x0.clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
      torch::Tensor w0 = torch::randn({s.out, s.in}), b0 = torch::randn({s.out});
      auto w = w0.clone().requires_grad_(true), wr = w0.clone().requires_grad_(true);
      auto b = b0.clone().requires_grad_(true), br = b0.clone().requires_grad_(true);
      torch::Tensor y = Dense(x, w, s.bias ? b : torch::Tensor(), k);
      torch::Tensor yr = torch::linear(xr, wr, s.bias ? br : torch::Tensor());
      ASSERT_EQ(y.sizes(), yr.sizes());
      const double tol = 1e-4 * std::sqrt(static_cast<double>(s.in));
      EXPECT_TRUE(torch::allclose(y, yr, 1e-4, tol));
      const torch::Tensor dy = torch::randn({s.n, s.out});
      y.backward(dy);
      yr.backward(dy);
      EXPECT_TRUE(torch::allclose(x.grad(), xr.grad(), 1e-4, 1e-4 * std::sqrt(s.out * 1.0)));
      EXPECT_TRUE(torch::allclose(w.grad(), wr.grad(), 1e-4, 1e-4 * std::sqrt(s.n * 1.0)));
      if (s.bias) {
        EXPECT_TRUE(torch::allclose(b.grad(), br.grad(), 1e-5, 1e-4));
      } else {
        EXPECT_FALSE(b.grad().defined());
      }
    }
  }
}

// A batch of one: the output is a tensor of its own (the bias is added, not
// written into), with and without grad mode, on every route.
TEST(DenseTest, ABatchOfOneLeavesTheBiasAlone) {
  for (DenseKernel k : Kernels()) {
    SCOPED_TRACE(Name(k));
    const torch::Tensor w = torch::ones({2, 3}), b = torch::tensor({1.0f, -1.0f});
    const torch::Tensor b0 = b.clone();
    {
      torch::InferenceMode inference;
      EXPECT_TRUE(torch::equal(Dense(torch::ones({1, 3}), w, b, k),
                               torch::tensor({4.0f, 2.0f}).view({1, 2})));
    }
    EXPECT_TRUE(torch::equal(b, b0));
    auto bg = b.clone().requires_grad_(true);
    torch::Tensor y = Dense(torch::ones({1, 3}), w, bg, k);
    EXPECT_TRUE(torch::equal(y, torch::tensor({4.0f, 2.0f}).view({1, 2})));
    y.sum().backward();
    EXPECT_TRUE(torch::equal(bg.detach(), b0));
    EXPECT_TRUE(torch::equal(bg.grad(), torch::ones({2})));
  }
}

// Only what asks for a gradient gets one; without grad mode there is no graph.
TEST(DenseTest, GradientsOnlyWhereAskedAndNoGraphWithoutGradMode) {
  for (DenseKernel k : Kernels()) {
    SCOPED_TRACE(Name(k));
    auto x = torch::randn({4, 6});  // no gradient asked: an input batch
    auto w = torch::randn({3, 6}).requires_grad_(true);
    auto b = torch::randn({3}).requires_grad_(true);
    Dense(x, w, b, k).sum().backward();
    EXPECT_FALSE(x.grad().defined());
    EXPECT_TRUE(torch::allclose(w.grad(), x.sum(0).expand({3, 6})));
    {
      torch::NoGradGuard no_grad;
      EXPECT_FALSE(Dense(x, w, b, k).requires_grad());
    }
    torch::InferenceMode inference;
    EXPECT_TRUE(torch::allclose(Dense(torch::ones({2, 6}), w.detach(), b.detach(), k),
                                torch::linear(torch::ones({2, 6}), w.detach(), b.detach()), 1e-5,
                                1e-5));
  }
}

// A diverged net's NaN stays NaN (the finiteness checks downstream rely on it).
TEST(DenseTest, NanPropagates) {
  for (DenseKernel k : Kernels()) {
    SCOPED_TRACE(Name(k));
    torch::Tensor x = torch::ones({2, 3});
    x[1][2] = std::numeric_limits<float>::quiet_NaN();
    const torch::Tensor y = Dense(x, torch::ones({2, 3}), torch::zeros({2}), k);
    EXPECT_FALSE(torch::isnan(y[0]).any().item<bool>());
    EXPECT_TRUE(torch::isnan(y[1]).all().item<bool>());
  }
}

TEST(DenseTest, RejectsMismatchedShapes) {
  EXPECT_THROW(Dense(torch::ones({2, 3}), torch::ones({4, 5}), torch::Tensor()), c10::Error);
  EXPECT_THROW(Dense(torch::ones({2, 3}), torch::ones({4, 3}), torch::ones({3})), c10::Error);
  EXPECT_THROW(Dense(torch::ones({2, 3, 1}), torch::ones({4, 3}), torch::Tensor()), c10::Error);
}

}  // namespace
}  // namespace fnas::space
