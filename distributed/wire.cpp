#include "distributed/wire.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace fnas::distributed {

using json = nlohmann::json;

namespace {

json ToJson(const evaluators::QuantMetrics& m) {
  return {{"images", m.images},      {"acc_fp32", m.acc_fp32}, {"acc_q", m.acc_q},
          {"rel", m.rel_decrease},   {"qmse", m.qmse},         {"qce", m.qce},
          {"fake", m.fake_agreement}};
}
void FromJson(const json& j, evaluators::QuantMetrics& m) {
  m.images = j.at("images").get<int64_t>();
  m.acc_fp32 = j.at("acc_fp32").get<double>();
  m.acc_q = j.at("acc_q").get<double>();
  m.rel_decrease = j.at("rel").get<double>();
  m.qmse = j.at("qmse").get<double>();
  m.qce = j.at("qce").get<double>();
  m.fake_agreement = j.at("fake").get<double>();
}

json ToJson(const evaluators::RangeStats& r) {
  return json::array({r.min, r.max, r.range, r.channel_precision});
}
void FromJson(const json& j, evaluators::RangeStats& r) {
  r.min = j.at(0).get<double>();
  r.max = j.at(1).get<double>();
  r.range = j.at(2).get<double>();
  r.channel_precision = j.at(3).get<double>();
}

json ToJson(const evaluators::QuantReport& q) {
  json methods = json::array(), layers = json::array(), phases = json::array();
  for (const auto& m : q.methods)
    methods.push_back({{"method", m.method}, {"m", ToJson(m.metrics)}});
  for (const auto& l : q.layers) {
    layers.push_back({{"op", l.op},
                      {"layer", l.layer},
                      {"w", ToJson(l.weights)},
                      {"f", ToJson(l.folded)},
                      {"a", ToJson(l.activations)},
                      {"sqnr", l.sqnr_db}});
  }
  for (const auto& p : q.phases) phases.push_back({{"name", p.name}, {"s", p.seconds}});
  return {{"metrics", ToJson(q.metrics)},
          {"method", q.method},
          {"methods", methods},
          {"layers", layers},
          {"phases", phases}};
}
void FromJson(const json& j, evaluators::QuantReport& q) {
  FromJson(j.at("metrics"), q.metrics);
  q.method = j.at("method").get<std::string>();
  q.methods.clear();
  for (const json& m : j.at("methods")) {
    evaluators::MethodMetrics mm;
    mm.method = m.at("method").get<std::string>();
    FromJson(m.at("m"), mm.metrics);
    q.methods.push_back(std::move(mm));
  }
  q.layers.clear();
  for (const json& l : j.at("layers")) {
    evaluators::LayerStats s;
    s.op = l.at("op").get<std::string>();
    s.layer = l.at("layer").get<std::string>();
    FromJson(l.at("w"), s.weights);
    FromJson(l.at("f"), s.folded);
    FromJson(l.at("a"), s.activations);
    s.sqnr_db = l.at("sqnr").get<double>();
    q.layers.push_back(std::move(s));
  }
  q.phases.clear();
  for (const json& p : j.at("phases")) {
    q.phases.push_back({p.at("name").get<std::string>(), p.at("s").get<double>()});
  }
}

json ToJson(const evaluators::EpochRecord& r) {
  return json::array(
      {r.epoch, r.train_loss, r.train_acc, r.val_acc, r.lr, r.seconds, r.images_per_s});
}
void FromJson(const json& j, evaluators::EpochRecord& r) {
  r.epoch = j.at(0).get<int>();
  r.train_loss = j.at(1).get<double>();
  r.train_acc = j.at(2).get<double>();
  r.val_acc = j.at(3).get<double>();
  r.lr = j.at(4).get<double>();
  r.seconds = j.at(5).get<double>();
  r.images_per_s = j.at(6).get<double>();
}

json ToJson(const search::TrialSpec& s) {
  return {{"trial", s.trial_id},
          {"study", s.study},
          {"f", s.candidate.f},
          {"key", s.candidate.key},
          {"name", s.candidate.name},
          {"epochs", s.epochs},
          {"record", s.record_epochs},
          {"rungs", s.rung_epochs},
          {"seed", s.seed},
          {"threads", s.threads},
          {"device", s.device},
          {"dir", s.checkpoint_dir},
          {"start", s.start_epoch},
          {"resume", s.resume_checkpoint}};
}
void FromJson(const json& j, search::TrialSpec& s) {
  s.trial_id = j.at("trial").get<int64_t>();
  s.study = j.at("study").get<std::string>();
  s.candidate.f = j.at("f").get<space::Factorization>();
  s.candidate.key = j.at("key").get<std::string>();
  s.candidate.name = j.at("name").get<std::string>();
  s.epochs = j.at("epochs").get<int>();
  s.record_epochs = j.at("record").get<std::vector<int>>();
  s.rung_epochs = j.at("rungs").get<std::vector<int>>();
  s.seed = j.at("seed").get<uint64_t>();
  s.threads = j.at("threads").get<int>();
  s.device = j.at("device").get<std::string>();
  s.checkpoint_dir = j.at("dir").get<std::string>();
  s.start_epoch = j.at("start").get<int>();
  s.resume_checkpoint = j.at("resume").get<std::string>();
}

json ToJson(const search::TrialOutcome& o) {
  return {{"status", static_cast<int>(o.status)},
          {"message", o.message},
          {"epochs", o.epochs_done},
          {"test", ToJson(o.test)}};
}
void FromJson(const json& j, search::TrialOutcome& o) {
  const int status = j.at("status").get<int>();
  if (status < 0 || status > static_cast<int>(search::TrialOutcome::Status::kPruned)) {
    throw RuntimeError("unknown trial status " + std::to_string(status));
  }
  o.status = static_cast<search::TrialOutcome::Status>(status);
  o.message = j.at("message").get<std::string>();
  o.epochs_done = j.at("epochs").get<int>();
  FromJson(j.at("test"), o.test);
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kConfig:
      return "config";
    case MessageType::kHello:
      return "hello";
    case MessageType::kSetupFailed:
      return "setup-failed";
    case MessageType::kSpec:
      return "spec";
    case MessageType::kProgress:
      return "progress";
    case MessageType::kEpoch:
      return "epoch";
    case MessageType::kVerdict:
      return "verdict";
    case MessageType::kOutcome:
      return "outcome";
    case MessageType::kShutdown:
      return "shutdown";
    case MessageType::kBye:
      return "bye";
  }
  return "unknown";
}

bool IsControl(MessageType type) {
  switch (type) {
    case MessageType::kProgress:
    case MessageType::kEpoch:
    case MessageType::kVerdict:
    case MessageType::kOutcome:
      return false;
    default:
      return true;
  }
}

std::string Encode(const Message& m) {
  json j = {{"v", 1}, {"type", static_cast<int>(m.type)}, {"slot", m.slot}};
  switch (m.type) {
    case MessageType::kConfig:
      j["text"] = m.text;
      j["source"] = m.source;
      j["host"] = m.host;
      break;
    case MessageType::kHello:
      j["slots"] = m.slots;
      j["host"] = m.host;
      break;
    case MessageType::kSetupFailed:
      j["text"] = m.text;
      j["code"] = m.code;
      j["host"] = m.host;
      break;
    case MessageType::kSpec:
      j["spec"] = ToJson(m.spec);
      break;
    case MessageType::kProgress:
      j["p"] = {m.epoch, m.batch, m.batches, m.loss, m.images_per_s};
      break;
    case MessageType::kEpoch:
      j["record"] = ToJson(m.record);
      if (m.has_validation) j["validation"] = ToJson(m.validation);
      j["checkpoint"] = m.checkpoint;
      break;
    case MessageType::kVerdict:
      j["prune"] = m.verdict.prune;
      j["reason"] = m.verdict.reason;
      j["flags"] = {m.stop, m.abandoned, m.abort};
      break;
    case MessageType::kOutcome:
      j["outcome"] = ToJson(m.outcome);
      j["error"] = m.error;
      j["environment"] = m.environment;
      j["times"] = {m.run_s, m.wait_s};
      break;
    case MessageType::kShutdown:
      j["code"] = m.code;
      break;
    case MessageType::kBye:
      break;
  }
  const std::vector<std::uint8_t> bytes = json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

Message Decode(const std::string& bytes) {
  Message m;
  try {
    const json j = json::from_cbor(bytes);
    if (j.at("v").get<int>() != 1) {
      throw RuntimeError("message of protocol version " + j.at("v").dump() +
                         ", this build speaks version 1 (run the same build on every rank)");
    }
    const int type = j.at("type").get<int>();
    if (type < static_cast<int>(MessageType::kConfig) ||
        type > static_cast<int>(MessageType::kBye)) {
      throw RuntimeError("unknown message type " + std::to_string(type));
    }
    m.type = static_cast<MessageType>(type);
    m.slot = j.at("slot").get<int>();
    switch (m.type) {
      case MessageType::kConfig:
        m.text = j.at("text").get<std::string>();
        m.source = j.at("source").get<std::string>();
        m.host = j.at("host").get<std::string>();
        break;
      case MessageType::kHello:
        m.slots = j.at("slots").get<int>();
        m.host = j.at("host").get<std::string>();
        break;
      case MessageType::kSetupFailed:
        m.text = j.at("text").get<std::string>();
        m.code = j.at("code").get<int>();
        m.host = j.at("host").get<std::string>();
        break;
      case MessageType::kSpec:
        FromJson(j.at("spec"), m.spec);
        break;
      case MessageType::kProgress: {
        const json& p = j.at("p");
        m.epoch = p.at(0).get<int>();
        m.batch = p.at(1).get<int>();
        m.batches = p.at(2).get<int>();
        m.loss = p.at(3).get<double>();
        m.images_per_s = p.at(4).get<double>();
        break;
      }
      case MessageType::kEpoch:
        FromJson(j.at("record"), m.record);
        m.has_validation = j.contains("validation");
        if (m.has_validation) FromJson(j.at("validation"), m.validation);
        m.checkpoint = j.at("checkpoint").get<std::string>();
        break;
      case MessageType::kVerdict: {
        m.verdict.prune = j.at("prune").get<bool>();
        m.verdict.reason = j.at("reason").get<std::string>();
        const json& f = j.at("flags");
        m.stop = f.at(0).get<bool>();
        m.abandoned = f.at(1).get<bool>();
        m.abort = f.at(2).get<bool>();
        break;
      }
      case MessageType::kOutcome:
        FromJson(j.at("outcome"), m.outcome);
        m.error = j.at("error").get<std::string>();
        m.environment = j.at("environment").get<bool>();
        m.run_s = j.at("times").at(0).get<double>();
        m.wait_s = j.at("times").at(1).get<double>();
        break;
      case MessageType::kShutdown:
        m.code = j.at("code").get<int>();
        break;
      case MessageType::kBye:
        break;
    }
  } catch (const json::exception& e) {
    throw RuntimeError(std::string("malformed message between ranks: ") + e.what() +
                       " (run the same build of factorize-nas on every rank)");
  }
  return m;
}

}  // namespace fnas::distributed
