// BN folding, calibration, the fake-quant path and the metrics and layerwise
// statistics of a small trained net.
#include "evaluators/quant/analysis.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "common/error.h"
#include "tests/evaluators/quant/quant_testing.h"

namespace fnas::evaluators {
namespace {

using testing::Normalize;
using testing::SmallPlan;
using testing::SyntheticSplit;
using testing::TrainedNet;

// Hand-computed: 0.80 -> 0.76 loses 5 %; 0.80 -> 0.84 gains 5 % (a negative
// decrease, not a loss); a model that knows nothing has no relative change.
TEST(RelativeDecreaseTest, SignedPercentOfTheFp32Accuracy) {
  EXPECT_NEAR(RelativeDecrease(0.80, 0.76), 5.0, 1e-12);
  EXPECT_NEAR(RelativeDecrease(0.80, 0.84), -5.0, 1e-12);
  EXPECT_EQ(RelativeDecrease(0.0, 0.1), 0.0);
}

TEST(FoldTest, FoldedConvEqualsConvThenBatchNormInEvalMode) {
  torch::manual_seed(1);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 6, 3).padding(1).groups(2).bias(false));
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(6).eps(1e-3));
  {
    torch::NoGradGuard g;
    bn->running_mean.copy_(torch::randn({6}));
    bn->running_var.copy_(torch::rand({6}) * 3 + 0.05);
    bn->weight.copy_(torch::randn({6}));
    bn->bias.copy_(torch::randn({6}));
  }
  bn->eval();
  const torch::Tensor x = torch::randn({2, 4, 5, 5});
  const torch::Tensor ref = bn->forward(conv->forward(x));
  const FloatLayer f = FoldConvBatchNorm(conv, bn);
  const torch::Tensor w = torch::tensor(f.weight).view({6, 2, 3, 3});
  const torch::Tensor b = torch::tensor(f.bias);
  const torch::Tensor got = torch::conv2d(x, w, b, 1, 1, 1, 2);
  EXPECT_LT((got - ref).abs().max().item<float>(), 1e-5);
  // Hand check of channel 0's bias: beta - gamma * mean / sqrt(var + eps).
  const double g0 = bn->weight[0].item<double>(), m0 = bn->running_mean[0].item<double>();
  const double v0 = bn->running_var[0].item<double>(), b0 = bn->bias[0].item<double>();
  EXPECT_NEAR(f.bias[0], b0 - g0 * m0 / std::sqrt(v0 + 1e-3), 1e-6);
}

TEST(CalibrationTest, PercentileClippedRangesOfTheInput) {
  // Input only matters here: a net whose input is known. Values 0..99 in one
  // channel: 1% clipping gives [0.99, 98.01] (numpy's linear percentile).
  const space::Plan plan = SmallPlan();
  space::FactorizeNet net(plan);
  torch::Tensor x = torch::zeros({1, 3, 12, 12});
  x.view({-1}).slice(0, 0, 100).copy_(torch::arange(100, torch::kFloat32));
  const Calibration c = Calibrate(net, x, CalibrationMethod::kPercentile, 1.0, 1);
  // The whole input: 432 values, 332 zeros and 0..99. Rank 0.99 * 431 = 426.69
  // -> between sorted[426] = 94 and sorted[427] = 95.
  EXPECT_EQ(c.input_stats.min, 0.0);  // the zeros are counted exactly
  EXPECT_NEAR(c.input_stats.max, 94.69, 99.0 / 8192 + 1e-9);
  EXPECT_EQ(c.samples, 1);
  // Channel 0 holds 0..99 and 44 zeros: rank 0.99 * 143 = 141.57 -> 97.57;
  // channels 1 and 2 are all zero. Precision (97.57 / 94.69 + 0 + 0) / 3.
  EXPECT_NEAR(c.input_stats.channel_precision, 97.57 / 94.69 / 3, 0.002);
  EXPECT_EQ(c.input.zero_point, 0);
  EXPECT_EQ(c.input.scale, static_cast<float>(c.input_stats.max / 255));
}

// minmax needs only the extremes: the pass that skips the histograms chooses
// exactly the ranges of the one that fills them.
TEST(CalibrationTest, MinMaxFromExtremesEqualsMinMaxFromHistograms) {
  EXPECT_EQ(DetailFor({CalibrationMethod::kMinMax}), HistogramDetail::kExtremes);
  EXPECT_EQ(DetailFor({CalibrationMethod::kMinMax, CalibrationMethod::kMse}),
            HistogramDetail::kTensor);
  EXPECT_EQ(DetailFor({CalibrationMethod::kEntropy, CalibrationMethod::kPercentile}),
            HistogramDetail::kTensorAndChannels);
  const space::Plan plan = SmallPlan();
  space::FactorizeNet net(plan);
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({10, 3, 12, 12});
  const auto a = ChooseRanges(ObserveActivations(net, x, 4, HistogramDetail::kExtremes), plan,
                              CalibrationMethod::kMinMax, 1.0);
  const auto b = ChooseRanges(ObserveActivations(net, x, 4, HistogramDetail::kTensor), plan,
                              CalibrationMethod::kMinMax, 1.0);
  EXPECT_EQ(a.samples, 10);
  EXPECT_EQ(a.input.scale, b.input.scale);
  EXPECT_EQ(a.input.zero_point, b.input.zero_point);
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    EXPECT_EQ(a.outputs[i].scale, b.outputs[i].scale) << i;
    EXPECT_EQ(a.outputs[i].zero_point, b.outputs[i].zero_point) << i;
    EXPECT_EQ(a.activations[i].min, b.activations[i].min) << i;
    EXPECT_EQ(a.activations[i].max, b.activations[i].max) << i;
    EXPECT_EQ(a.activations[i].channel_precision, b.activations[i].channel_precision) << i;
  }
}

TEST(CalibrationTest, NonFiniteActivationsAreAnError) {
  space::FactorizeNet net(SmallPlan());
  {
    torch::NoGradGuard g;
    net->unit(0).conv->weight.fill_(std::nan(""));
  }
  EXPECT_THROW(Calibrate(net, torch::ones({2, 3, 12, 12}), CalibrationMethod::kPercentile, 1.0, 2),
               RuntimeError);
}

class TrainedNetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    train_ = new Split(SyntheticSplit(640, 11));
    test_ = new Split(SyntheticSplit(400, 12));
    net_ = new space::FactorizeNet(TrainedNet(*train_, 120, 5));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete test_;
    delete net_;
  }
  static Split* train_;
  static Split* test_;
  static space::FactorizeNet* net_;
};
Split* TrainedNetTest::train_ = nullptr;
Split* TrainedNetTest::test_ = nullptr;
space::FactorizeNet* TrainedNetTest::net_ = nullptr;

// The synthetic task's evidence is a small bright blob: the paper's 1%
// clipping cuts exactly those activations, so these tests clip 0.1%.
TEST_F(TrainedNetTest, IntegerAndFakeQuantAgreeOnTop1) {
  QuantOptions o;
  o.calibration_samples = 256;
  o.calibration = "percentile";
  o.percentile = 0.1;
  const QuantizedModel m = QuantizeModel(*net_, *train_, Normalize, o, 3);
  const double agree = FakeIntegerAgreement(m.net, Normalize(test_->images), 64);
  EXPECT_GE(agree, 0.99);
  // On the stem (same input codes) the simulated codes are within one step
  // of the integer ones; later layers drift apart as differences propagate.
  const torch::Tensor x = Normalize(test_->images.slice(0, 0, 16)).contiguous();
  IntegerNet::Trace ti, tf;
  const auto xq = m.net.QuantizeInput(x.data_ptr<float>(), 16);
  m.net.Run(xq.data(), 16, &ti);
  FakeQuantNet(m.net).Forward(x, &tf);
  ASSERT_EQ(ti.size(), tf.size());
  ASSERT_EQ(ti[0].size(), tf[0].size());
  int64_t same = 0;
  for (size_t k = 0; k < ti[0].size(); ++k) {
    EXPECT_LE(std::abs(int(ti[0][k]) - int(tf[0][k])), 1);
    same += ti[0][k] == tf[0][k];
  }
  EXPECT_GT(same, static_cast<int64_t>(ti[0].size() * 0.99));
}

TEST_F(TrainedNetTest, MetricsAndLayerwiseStatistics) {
  QuantOptions o;
  o.calibration_samples = 256;
  o.calibration = "percentile";
  o.percentile = 0.1;
  const QuantReport r = AnalyseModel(*net_, *train_, *test_, Normalize, o, 3);
  const QuantMetrics& m = r.metrics;
  EXPECT_EQ(m.images, 400);
  EXPECT_GT(m.acc_fp32, 0.8);  // the task is easy; the net did learn
  EXPECT_NEAR(m.acc_q, m.acc_fp32, 0.05);
  EXPECT_NEAR(m.rel_decrease, (m.acc_fp32 - m.acc_q) / m.acc_fp32 * 100, 1e-9);
  EXPECT_GT(m.qmse, 0);
  EXPECT_GT(m.qce, 0);
  const space::Plan& plan = (*net_)->plan();
  size_t weighted = 0;
  for (const auto& op : plan.ops) {
    weighted += op.kind == space::Op::Kind::kConv || op.kind == space::Op::Kind::kDense;
  }
  ASSERT_EQ(r.layers.size(), weighted);
  EXPECT_EQ(r.layers.front().op, "stem");
  EXPECT_EQ(r.layers.back().op, "dense_2");
  for (const LayerStats& s : r.layers) {
    EXPECT_GT(s.weights.range, 0) << s.op;
    EXPECT_GT(s.folded.range, 0) << s.op;
    EXPECT_GT(s.weights.channel_precision, 0) << s.op;
    EXPECT_LE(s.weights.channel_precision, 1.0 + 1e-12) << s.op;
    EXPECT_LE(s.activations.channel_precision, 1.0 + 1e-3) << s.op;
    EXPECT_GT(s.sqnr_db, 5) << s.op;  // 8 bits: well above the noise
    EXPECT_TRUE(std::isfinite(s.sqnr_db)) << s.op;
  }
  // Dense layers have no BN: folded = raw.
  EXPECT_DOUBLE_EQ(r.layers.back().folded.range, r.layers.back().weights.range);
  // ReLU outputs are clipped at 0 from below.
  EXPECT_GE(r.layers.front().activations.min, 0.0);

  // Wider clipping: narrower activation ranges.
  o.percentile = 1.0;
  const QuantizedModel clipped = QuantizeModel(*net_, *train_, Normalize, o, 3);
  EXPECT_LT(clipped.layers.front().activations.max, r.layers.front().activations.max);
  o.percentile = 0.1;

  // Fake mode gives nearly the same accuracy.
  o.mode = "fake";
  const QuantReport f = AnalyseModel(*net_, *train_, *test_, Normalize, o, 3);
  EXPECT_NEAR(f.metrics.acc_q, m.acc_q, 0.02);
  EXPECT_EQ(f.metrics.acc_fp32, m.acc_fp32);
}

TEST_F(TrainedNetTest, EveryRecordedMethodFromOneCalibrationPass) {
  QuantOptions o;
  o.calibration_samples = 128;
  o.calibration = "mse";
  o.record_methods = {"minmax", "percentile", "entropy", "mse"};  // the primary once
  o.percentile = 1.0;
  const QuantReport r = AnalyseModel(*net_, *train_, *test_, Normalize, o, 3);
  ASSERT_EQ(r.methods.size(), 4u);
  EXPECT_EQ(r.method, "mse");
  EXPECT_EQ(r.methods[0].method, "mse");
  EXPECT_EQ(r.methods[1].method, "minmax");
  EXPECT_EQ(r.methods[3].method, "entropy");
  EXPECT_EQ(r.metrics.acc_q, r.methods[0].metrics.acc_q);
  for (const MethodMetrics& m : r.methods) {
    EXPECT_EQ(m.metrics.acc_fp32, r.metrics.acc_fp32) << m.method;  // one fp32 pass
    EXPECT_EQ(m.metrics.images, 400) << m.method;
  }
  // Each recorded method gives what it gives as the primary one.
  for (size_t k = 1; k < r.methods.size(); ++k) {
    QuantOptions alone = o;
    alone.calibration = r.methods[k].method;
    alone.record_methods.clear();
    const QuantReport a = AnalyseModel(*net_, *train_, *test_, Normalize, alone, 3);
    EXPECT_EQ(a.metrics.acc_q, r.methods[k].metrics.acc_q) << a.method;
    EXPECT_EQ(a.metrics.qmse, r.methods[k].metrics.qmse) << a.method;
  }
  // minmax never clips: its activation range covers percentile's.
  o.calibration = "minmax";
  o.record_methods.clear();
  const QuantizedModel mm = QuantizeModel(*net_, *train_, Normalize, o, 3);
  o.calibration = "percentile";
  const QuantizedModel pc = QuantizeModel(*net_, *train_, Normalize, o, 3);
  EXPECT_GT(mm.layers.front().activations.max, pc.layers.front().activations.max);
  EXPECT_THROW(
      {
        o.calibration = "kl";
        QuantizeModel(*net_, *train_, Normalize, o, 3);
      },
      RuntimeError);
}

TEST_F(TrainedNetTest, PhasesCoverTheWork) {
  QuantOptions o;
  o.calibration_samples = 64;
  o.eval_batch = 100;
  o.sqnr_samples = 100;  // the first batch only
  o.fake_agreement = true;
  const auto start = std::chrono::steady_clock::now();
  const QuantReport r = AnalyseModel(*net_, *train_, *test_, Normalize, o, 3);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::string> names;
  double sum = 0;
  for (const Phase& p : r.phases) {
    names.push_back(p.name);
    EXPECT_GE(p.seconds, 0) << p.name;
    sum += p.seconds;
  }
  for (const char* want : {"sample", "calibrate", "ranges", "build", "normalize", "integer", "fp32",
                           "sqnr", "fake", "metrics"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  EXPECT_LE(sum, wall);
  EXPECT_GE(r.metrics.fake_agreement, 0.9);
  // SQNR on a sample still gives every layer a finite value.
  for (const LayerStats& s : r.layers) EXPECT_TRUE(std::isfinite(s.sqnr_db)) << s.op;
  o.fake_agreement = false;
  EXPECT_LT(AnalyseModel(*net_, *train_, *test_, Normalize, o, 3).metrics.fake_agreement, 0);
}

TEST_F(TrainedNetTest, SeededAndThreadSafe) {
  QuantOptions o;
  o.calibration_samples = 64;
  const QuantizedModel a = QuantizeModel(*net_, *train_, Normalize, o, 9);
  const QuantizedModel b = QuantizeModel(*net_, *train_, Normalize, o, 9);
  EXPECT_EQ(a.net.input().scale, b.net.input().scale);
  for (size_t i = 0; i < a.net.layers().size(); ++i) {
    EXPECT_EQ(a.net.layers()[i].output.scale, b.net.layers()[i].output.scale);
    EXPECT_EQ(a.net.layers()[i].weights, b.net.layers()[i].weights);
  }
  EXPECT_EQ(SampleIndices(100, 10, 9), SampleIndices(100, 10, 9));
  EXPECT_NE(SampleIndices(100, 10, 9), SampleIndices(100, 10, 10));
  auto idx = SampleIndices(100, 100, 1);
  std::sort(idx.begin(), idx.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(idx[i], i);

  // Two models analysed at once give what they give alone.
  const Split small_test{test_->images.slice(0, 0, 100), test_->labels.slice(0, 0, 100)};
  space::FactorizeNet other = TrainedNet(*train_, 20, 6);
  const QuantReport alone1 = AnalyseModel(*net_, *train_, small_test, Normalize, o, 4);
  const QuantReport alone2 = AnalyseModel(other, *train_, small_test, Normalize, o, 4);
  QuantReport r1, r2;
  std::thread t1([&] { r1 = AnalyseModel(*net_, *train_, small_test, Normalize, o, 4); });
  std::thread t2([&] { r2 = AnalyseModel(other, *train_, small_test, Normalize, o, 4); });
  t1.join();
  t2.join();
  EXPECT_EQ(r1.metrics.acc_q, alone1.metrics.acc_q);
  EXPECT_EQ(r1.metrics.qmse, alone1.metrics.qmse);
  EXPECT_EQ(r2.metrics.qmse, alone2.metrics.qmse);
  EXPECT_EQ(r2.layers[3].sqnr_db, alone2.layers[3].sqnr_db);
}

}  // namespace
}  // namespace fnas::evaluators
