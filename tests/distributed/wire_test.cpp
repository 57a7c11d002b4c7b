// The one serializer of the messages between ranks: every field of every
// message type survives Encode -> Decode bit for bit (NaN and infinities
// included), and bytes of another build are refused with a message.
#include "distributed/wire.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace fnas::distributed {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Same bits (so NaN equals NaN, and -0 differs from 0).
bool Same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

evaluators::QuantReport SampleReport() {
  evaluators::QuantReport q;
  q.metrics = {1024, 0.91, 0.875, 3.8461538461538463, kNan, 1e-300, -1};
  q.method = "percentile";
  q.methods.push_back({"percentile", q.metrics});
  q.methods.push_back({"minmax", {1024, 0.91, kInf, -kInf, 0.1, 0.2, 0.97}});
  evaluators::LayerStats l;
  l.op = "conv_64_1.group";
  l.layer = "conv_64_1";
  l.weights = {-1.5, 2.25, 3.75, 0.1 + 0.2};
  l.folded = {-3, 4, 7, 0.4};
  l.activations = {0, 6.000000000000001, 6.000000000000001, 0.6};
  l.sqnr_db = 38.123456789012345;
  q.layers.push_back(l);
  l.op = "dense_1";
  l.layer = "dense_1";
  l.sqnr_db = -0.0;
  q.layers.push_back(l);
  q.phases.push_back({"calibration", 0.25});
  q.phases.push_back({"integer", 1.5});
  return q;
}

void ExpectSame(const evaluators::QuantMetrics& a, const evaluators::QuantMetrics& b) {
  EXPECT_EQ(a.images, b.images);
  for (auto [x, y] : {std::pair{a.acc_fp32, b.acc_fp32},
                      {a.acc_q, b.acc_q},
                      {a.rel_decrease, b.rel_decrease},
                      {a.qmse, b.qmse},
                      {a.qce, b.qce},
                      {a.fake_agreement, b.fake_agreement}}) {
    EXPECT_TRUE(Same(x, y)) << x << " vs " << y;
  }
}

void ExpectSame(const evaluators::RangeStats& a, const evaluators::RangeStats& b) {
  EXPECT_TRUE(Same(a.min, b.min));
  EXPECT_TRUE(Same(a.max, b.max));
  EXPECT_TRUE(Same(a.range, b.range));
  EXPECT_TRUE(Same(a.channel_precision, b.channel_precision));
}

void ExpectSame(const evaluators::QuantReport& a, const evaluators::QuantReport& b) {
  ExpectSame(a.metrics, b.metrics);
  EXPECT_EQ(a.method, b.method);
  ASSERT_EQ(a.methods.size(), b.methods.size());
  for (size_t i = 0; i < a.methods.size(); ++i) {
    EXPECT_EQ(a.methods[i].method, b.methods[i].method);
    ExpectSame(a.methods[i].metrics, b.methods[i].metrics);
  }
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].op, b.layers[i].op);
    EXPECT_EQ(a.layers[i].layer, b.layers[i].layer);
    ExpectSame(a.layers[i].weights, b.layers[i].weights);
    ExpectSame(a.layers[i].folded, b.layers[i].folded);
    ExpectSame(a.layers[i].activations, b.layers[i].activations);
    EXPECT_TRUE(Same(a.layers[i].sqnr_db, b.layers[i].sqnr_db));
  }
  ASSERT_EQ(a.phases.size(), b.phases.size());
  for (size_t i = 0; i < a.phases.size(); ++i) {
    EXPECT_EQ(a.phases[i].name, b.phases[i].name);
    EXPECT_TRUE(Same(a.phases[i].seconds, b.phases[i].seconds));
  }
}

Message RoundTrip(const Message& m) {
  const Message out = Decode(Encode(m));
  EXPECT_EQ(out.type, m.type);
  EXPECT_EQ(out.slot, m.slot);
  return out;
}

TEST(WireTest, ConfigHelloAndSetupFailureRoundTrip) {
  Message m;
  m.type = MessageType::kConfig;
  m.text = "name: s\nspace: {paths: [regular]}\n# ünïcode \x01\n";
  m.source = "/studies/s.yaml";
  m.host = "node-3";
  Message out = RoundTrip(m);
  EXPECT_EQ(out.text, m.text);
  EXPECT_EQ(out.source, m.source);
  EXPECT_EQ(out.host, m.host);

  m = Message{};
  m.type = MessageType::kHello;
  m.slots = 7;
  m.host = "node-4";
  out = RoundTrip(m);
  EXPECT_EQ(out.slots, 7);
  EXPECT_EQ(out.host, "node-4");

  m = Message{};
  m.type = MessageType::kSetupFailed;
  m.text = "execution.device = 'cuda': this LibTorch has no CUDA";
  m.code = 2;
  m.host = "node-5";
  out = RoundTrip(m);
  EXPECT_EQ(out.text, m.text);
  EXPECT_EQ(out.code, 2);
  EXPECT_EQ(out.host, "node-5");
}

TEST(WireTest, SpecKeepsEveryFieldButTheConfig) {
  Message m;
  m.type = MessageType::kSpec;
  m.slot = 3;
  search::TrialSpec& s = m.spec;
  s.trial_id = 1234567890123;
  s.study = "fm-progressive";
  s.candidate.f = {1, 2, 4, 4, 8, 8, 16, 64};
  s.candidate.key = "1.2.4.4.8.8.16.64";
  s.candidate.name = "layers-1.2.4";
  s.epochs = 12;
  s.record_epochs = {2, 4, 6, 12};
  s.rung_epochs = {2, 6};
  s.seed = 0xfedcba9876543210ULL;  // above INT64_MAX
  s.threads = 3;
  s.device = "cuda:1";
  s.checkpoint_dir = "/shared/ckpt/trial-42";
  s.start_epoch = 5;
  s.resume_checkpoint = "/shared/ckpt/trial-42/epoch-5.pt";
  const Message out = RoundTrip(m);
  const search::TrialSpec& t = out.spec;
  EXPECT_EQ(t.trial_id, s.trial_id);
  EXPECT_EQ(t.study, s.study);
  EXPECT_EQ(t.candidate.f, s.candidate.f);
  EXPECT_EQ(t.candidate.key, s.candidate.key);
  EXPECT_EQ(t.candidate.name, s.candidate.name);
  EXPECT_EQ(t.epochs, 12);
  EXPECT_EQ(t.record_epochs, s.record_epochs);
  EXPECT_EQ(t.rung_epochs, s.rung_epochs);
  EXPECT_EQ(t.seed, s.seed);
  EXPECT_EQ(t.threads, 3);
  EXPECT_EQ(t.device, "cuda:1");
  EXPECT_EQ(t.checkpoint_dir, s.checkpoint_dir);
  EXPECT_EQ(t.start_epoch, 5);
  EXPECT_EQ(t.resume_checkpoint, s.resume_checkpoint);
  EXPECT_EQ(t.config, nullptr);  // sent once, with kConfig
}

TEST(WireTest, EpochWithAndWithoutValidationRoundTrips) {
  Message m;
  m.type = MessageType::kEpoch;
  m.slot = 1;
  m.record = {3, kNan, 0.1 + 0.2, 0.8125, 1e-3, 12.5, kInf};
  m.has_validation = true;
  m.validation = SampleReport();
  m.checkpoint = "/shared/ckpt/trial-1/epoch-3.pt";
  Message out = RoundTrip(m);
  EXPECT_EQ(out.record.epoch, 3);
  EXPECT_TRUE(Same(out.record.train_loss, m.record.train_loss));
  EXPECT_TRUE(Same(out.record.train_acc, m.record.train_acc));
  EXPECT_TRUE(Same(out.record.val_acc, m.record.val_acc));
  EXPECT_TRUE(Same(out.record.lr, m.record.lr));
  EXPECT_TRUE(Same(out.record.seconds, m.record.seconds));
  EXPECT_TRUE(Same(out.record.images_per_s, m.record.images_per_s));
  ASSERT_TRUE(out.has_validation);
  ExpectSame(out.validation, m.validation);
  EXPECT_EQ(out.checkpoint, m.checkpoint);

  m.has_validation = false;
  out = RoundTrip(m);
  EXPECT_FALSE(out.has_validation);
  EXPECT_TRUE(out.validation.layers.empty());
}

TEST(WireTest, ProgressVerdictOutcomeShutdownRoundTrip) {
  Message m;
  m.type = MessageType::kProgress;
  m.slot = 2;
  m.epoch = 4;
  m.batch = 17;
  m.batches = 40;
  m.loss = 2.302585092994046;
  m.images_per_s = 1234.5;
  Message out = RoundTrip(m);
  EXPECT_EQ(out.epoch, 4);
  EXPECT_EQ(out.batch, 17);
  EXPECT_EQ(out.batches, 40);
  EXPECT_TRUE(Same(out.loss, m.loss));
  EXPECT_TRUE(Same(out.images_per_s, m.images_per_s));

  for (int flags = 0; flags < 8; ++flags) {
    m = Message{};
    m.type = MessageType::kVerdict;
    m.slot = 0;
    m.verdict = {flags % 2 == 0, "pruned at epoch 2: rank 3 of 4 (keep 2)"};
    m.stop = flags & 1;
    m.abandoned = flags & 2;
    m.abort = flags & 4;
    out = RoundTrip(m);
    EXPECT_EQ(out.verdict.prune, m.verdict.prune);
    EXPECT_EQ(out.verdict.reason, m.verdict.reason);
    EXPECT_EQ(out.stop, m.stop);
    EXPECT_EQ(out.abandoned, m.abandoned);
    EXPECT_EQ(out.abort, m.abort);
  }

  m = Message{};
  m.type = MessageType::kOutcome;
  m.slot = 5;
  m.outcome.status = search::TrialOutcome::Status::kPruned;
  m.outcome.message = "pruned at epoch 1";
  m.outcome.epochs_done = 1;
  m.outcome.test = SampleReport();
  m.error = "/ckpt/epoch-2.pt: cannot write the checkpoint: No space left on device";
  m.environment = true;
  m.run_s = 12.75;
  m.wait_s = 0.03125;
  out = RoundTrip(m);
  EXPECT_EQ(out.run_s, 12.75);
  EXPECT_EQ(out.wait_s, 0.03125);
  EXPECT_EQ(out.outcome.status, search::TrialOutcome::Status::kPruned);
  EXPECT_EQ(out.outcome.message, m.outcome.message);
  EXPECT_EQ(out.outcome.epochs_done, 1);
  ExpectSame(out.outcome.test, m.outcome.test);
  EXPECT_EQ(out.error, m.error);
  EXPECT_TRUE(out.environment);

  m = Message{};
  m.type = MessageType::kShutdown;
  m.code = 130;
  EXPECT_EQ(RoundTrip(m).code, 130);
  m.type = MessageType::kBye;
  RoundTrip(m);
}

TEST(WireTest, ControlMessagesGoToTheControlMailbox) {
  for (MessageType t : {MessageType::kConfig, MessageType::kHello, MessageType::kSetupFailed,
                        MessageType::kSpec, MessageType::kShutdown, MessageType::kBye}) {
    EXPECT_TRUE(IsControl(t)) << MessageTypeName(t);
  }
  for (MessageType t : {MessageType::kProgress, MessageType::kEpoch, MessageType::kVerdict,
                        MessageType::kOutcome}) {
    EXPECT_FALSE(IsControl(t)) << MessageTypeName(t);
  }
}

TEST(WireTest, BytesOfAnotherBuildAreRefusedWithAMessage) {
  for (const std::string& bytes : {std::string("not cbor at all"), std::string(),
                                   std::string("\xa1\x61v\x02", 4)}) {  // {"v": 2}
    try {
      Decode(bytes);
      ADD_FAILURE() << "accepted";
    } catch (const RuntimeError& e) {
      EXPECT_NE(std::string(e.what()).find("same build"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace fnas::distributed
