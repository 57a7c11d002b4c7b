// The BN-folded fp32 net against the trained module it was folded from: the
// same logits up to float rounding, the same activations op by op, the same
// top-1 accuracy on a small trained net.
#include "evaluators/quant/folded_net.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "evaluators/quant/analysis.h"
#include "tests/evaluators/quant/quant_testing.h"

namespace fnas::evaluators {
namespace {

using testing::Normalize;
using testing::SmallPlan;
using testing::SyntheticSplit;
using testing::TrainedNet;

// Largest |a - b| relative to the largest |b| (the scale of the reference).
double RelativeError(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
}

// A trained net with depthwise, grouped and regular convs, dense layers and
// non-trivial BatchNorm statistics.
class FoldedNetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    test_ = new Split(SyntheticSplit(400, 12));
    net_ = new space::FactorizeNet(TrainedNet(SyntheticSplit(640, 11), 120, 5));
  }
  static void TearDownTestSuite() {
    delete test_;
    delete net_;
  }
  static Split* test_;
  static space::FactorizeNet* net_;
};
Split* FoldedNetTest::test_ = nullptr;
space::FactorizeNet* FoldedNetTest::net_ = nullptr;

TEST_F(FoldedNetTest, LogitsAndActivationsAreTheModulesUpToRounding) {
  space::FactorizeNet& net = *net_;
  net->eval();
  const FoldedNet folded(net->plan(), FoldNet(net));
  const torch::Tensor x = Normalize(test_->images.slice(0, 0, 64)).to(torch::kFloat32);
  std::vector<torch::Tensor> ref_ops, got_ops;
  torch::Tensor ref;
  {
    torch::NoGradGuard g;
    ref = net->forward_observed(x, [&](size_t, const torch::Tensor& t) { ref_ops.push_back(t); });
  }
  const torch::Tensor got =
      folded.Forward(x, [&](size_t, const torch::Tensor& t) { got_ops.push_back(t.clone()); });
  ASSERT_EQ(got.sizes(), ref.sizes());
  EXPECT_LT(RelativeError(got, ref), 1e-5);
  ASSERT_EQ(got_ops.size(), net->plan().ops.size());
  ASSERT_EQ(ref_ops.size(), got_ops.size());
  for (size_t i = 0; i < ref_ops.size(); ++i) {
    ASSERT_EQ(got_ops[i].sizes(), ref_ops[i].sizes()) << net->plan().ops[i].name;
    EXPECT_LT(RelativeError(got_ops[i], ref_ops[i]), 1e-5) << net->plan().ops[i].name;
  }
  // Without an observer: the same logits.
  EXPECT_TRUE(torch::equal(folded.Forward(x), got));
}

TEST_F(FoldedNetTest, SameTop1AccuracyAsTheModule) {
  space::FactorizeNet& net = *net_;
  net->eval();
  const FoldedNet folded(net->plan(), FoldNet(net));
  const torch::Tensor x = Normalize(test_->images).to(torch::kFloat32);
  torch::Tensor ref;
  {
    torch::NoGradGuard g;
    ref = net->forward(x);
  }
  const torch::Tensor pred_ref = ref.argmax(1), pred = folded.Forward(x).argmax(1);
  const int64_t n = test_->size();
  const int64_t correct_ref = pred_ref.eq(test_->labels).sum().item<int64_t>();
  const int64_t correct = pred.eq(test_->labels).sum().item<int64_t>();
  // The net has learned something, and folding changes no prediction.
  EXPECT_GT(correct_ref, n / 2);
  EXPECT_EQ(correct, correct_ref);
  EXPECT_EQ(pred.eq(pred_ref).sum().item<int64_t>(), n);
}

TEST(FoldedNetShapeTest, MismatchedLayersAreRefused) {
  const space::Plan plan = SmallPlan();
  space::FactorizeNet net(plan);
  std::vector<FloatLayer> layers = FoldNet(net);
  layers.pop_back();
  EXPECT_THROW(FoldedNet(plan, layers), RuntimeError);
  layers = FoldNet(net);
  layers[0].bias.push_back(0.0f);
  EXPECT_THROW(FoldedNet(plan, layers), RuntimeError);
}

// A diverged net (a NaN parameter) gives NaN logits as the module does, so
// that calibration and the metrics see it (oneDNN's ReLU would turn NaN to 0).
TEST(FoldedNetShapeTest, NaNParametersPropagateAsInTheModule) {
  space::FactorizeNet net(SmallPlan());
  net->eval();
  {
    torch::NoGradGuard g;
    net->unit(0).conv->weight.view({-1})[0] = std::nanf("");
  }
  const torch::Tensor x = torch::randn({4, 3, 12, 12});
  torch::Tensor ref;
  {
    torch::NoGradGuard g;
    ref = net->forward(x);
  }
  ASSERT_TRUE(ref.isnan().any().item<bool>());
  const torch::Tensor got = FoldedNet(net->plan(), FoldNet(net)).Forward(x);
  EXPECT_TRUE(torch::equal(got.isnan(), ref.isnan()));
}

}  // namespace
}  // namespace fnas::evaluators
