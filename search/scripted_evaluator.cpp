#include "search/scripted_evaluator.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "space/plan.h"

namespace fnas::search {

namespace {

int ParseInt(const std::string& key, const std::string& value, int lo) {
  try {
    size_t used = 0;
    const int v = std::stoi(value, &used);
    if (used == value.size() && v >= lo) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("scripted evaluator: " + key + " = '" + value +
                   "': expected an integer >= " + std::to_string(lo));
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void WriteCheckpoint(const std::string& path, const std::string& key, int epoch, double state) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", state);
    out << "scripted-checkpoint 1\nkey " << key << "\nepoch " << epoch << "\nstate " << buf << "\n";
    out.close();
    if (!out) {
      const std::string why = std::strerror(errno);
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw EnvironmentError(tmp + ": cannot write the checkpoint: " + why);
    }
  }
  std::filesystem::rename(tmp, path);
}

double ReadCheckpoint(const std::string& path, const std::string& key, int epoch) {
  std::ifstream in(path);
  std::string magic, k_key, k_epoch, k_state, got_key;
  int version = 0, got_epoch = -1;
  double state = 0;
  if (!(in >> magic >> version >> k_key >> got_key >> k_epoch >> got_epoch >> k_state >> state) ||
      magic != "scripted-checkpoint") {
    throw RuntimeError(path + ": cannot read the checkpoint to resume from");
  }
  if (got_key != key || got_epoch != epoch) {
    throw RuntimeError(path + ": checkpoint of " + got_key + " epoch " + std::to_string(got_epoch) +
                       ", expected " + key + " epoch " + std::to_string(epoch));
  }
  return state;
}

evaluators::QuantReport Report(const TrialSpec& spec, double degree, int epoch, double state) {
  evaluators::QuantReport report;
  report.metrics = ScriptedEvaluator::Metrics(degree, epoch, state);
  const space::Plan plan = space::BuildPlan(spec.config->macro(), spec.candidate.f);
  int i = 0;
  for (const auto& op : plan.ops) {
    if (op.kind != space::Op::Kind::kConv && op.kind != space::Op::Kind::kDense) continue;
    evaluators::LayerStats l;
    l.op = op.name;
    l.layer = op.layer;
    const double s = 1.0 + 0.1 * i++ + 0.01 * epoch;
    l.weights = {-s, s, 2 * s, 0.5};
    l.folded = {-2 * s, 2 * s, 4 * s, 0.4};
    l.activations = {0.0, 3 * s, 3 * s, 0.6};
    l.sqnr_db = 40.0 - 2.0 * degree - 0.1 * i;
    report.layers.push_back(l);
  }
  return report;
}

}  // namespace

ScriptedOptions ParseScriptedOptions(const std::string& text) {
  ScriptedOptions o;
  for (const std::string& item : Split(text, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throw UsageError("scripted evaluator: '" + item + "': expected key=value");
    }
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "epoch_ms") {
      o.epoch_ms = ParseInt(key, value, 0);
    } else if (key == "batches") {
      o.batches = ParseInt(key, value, 1);
    } else if (key == "fail") {
      o.fail = Split(value, '+');
    } else if (key == "fail_epoch") {
      o.fail_epoch = ParseInt(key, value, 1);
    } else if (key == "fail_mode") {
      if (value != "throw" && value != "return" && value != "environment") {
        throw UsageError("scripted evaluator: fail_mode = '" + value +
                         "': expected throw, return or environment");
      }
      o.fail_throws = value != "return";
      o.fail_environment = value == "environment";
    } else {
      throw UsageError("scripted evaluator: unknown option '" + key +
                       "' (known: epoch_ms, batches, fail, fail_epoch, fail_mode)");
    }
  }
  return o;
}

double ScriptedEvaluator::Degree(const space::Candidate& candidate) {
  if (candidate.f.empty()) return 0;
  double sum = 0;
  for (int f : candidate.f) sum += std::log2(static_cast<double>(f));
  return sum / static_cast<double>(candidate.f.size());
}

double ScriptedEvaluator::Loss(double degree, int epoch) { return (1.0 + 0.1 * degree) / epoch; }

evaluators::QuantMetrics ScriptedEvaluator::Metrics(double degree, int epoch, double state) {
  evaluators::QuantMetrics m;
  m.images = 100;
  m.acc_fp32 = 0.9 - 0.02 * degree - 0.3 / epoch;
  m.acc_q = m.acc_fp32 - 0.005 * degree;
  m.rel_decrease = evaluators::RelativeDecrease(m.acc_fp32, m.acc_q);
  m.qmse = 1e-3 * state;
  m.qce = 1e-3 * degree;
  return m;
}

TrialOutcome ScriptedEvaluator::Run(const TrialSpec& spec, TrialObserver& observer) {
  const double d = Degree(spec.candidate);
  bool fails = false;
  for (const auto& f : options_.fail) fails |= f == spec.candidate.name || f == spec.candidate.key;
  double state = 0;
  if (spec.start_epoch > 0) {
    state = ReadCheckpoint(spec.resume_checkpoint, spec.candidate.key, spec.start_epoch);
  }
  TrialOutcome out;
  out.epochs_done = spec.start_epoch;
  for (int e = spec.start_epoch + 1; e <= spec.epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    const double loss = Loss(d, e);
    for (int b = 1; b <= options_.batches; ++b) {
      if (options_.epoch_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(options_.epoch_ms) /
                                    options_.batches);
      }
      observer.OnProgress(e, b, options_.batches, loss, 1000.0);
    }
    if (fails && e == options_.fail_epoch) {
      if (options_.fail_environment) {
        throw EnvironmentError(spec.CheckpointPath(e) +
                               ": cannot write the checkpoint: No space left on device");
      }
      const std::string msg = "scripted failure of " + spec.candidate.name + " in epoch " +
                              std::to_string(e) + " (loss is nan)";
      if (options_.fail_throws) throw RuntimeError(msg);
      out.status = TrialOutcome::Status::kFailed;
      out.message = msg;
      return out;
    }
    state += loss;
    const std::string path = spec.CheckpointPath(e);
    if (!observer.Abandoned()) WriteCheckpoint(path, spec.candidate.key, e, state);
    evaluators::EpochRecord r;
    r.epoch = e;
    r.train_loss = loss;
    r.train_acc = 1.0 - 0.5 / e - 0.01 * d;
    r.val_acc = Metrics(d, e, state).acc_fp32;
    r.lr = spec.config ? spec.config->training.lr : 0.0;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.images_per_s = 1000.0;
    EpochVerdict verdict;
    if (spec.RecordsEpoch(e)) {
      const evaluators::QuantReport val = Report(spec, d, e, state);
      verdict = observer.OnEpoch(r, &val, path);
    } else {
      verdict = observer.OnEpoch(r, nullptr, path);
    }
    out.epochs_done = e;
    if (verdict.prune) {
      out.status = TrialOutcome::Status::kPruned;
      out.message = verdict.reason;
      return out;
    }
    if (observer.StopRequested() && e < spec.epochs) {
      out.status = TrialOutcome::Status::kInterrupted;
      out.message = "stopped after epoch " + std::to_string(e);
      return out;
    }
  }
  out.status = TrialOutcome::Status::kCompleted;
  out.test = Report(spec, d, spec.epochs, state);
  return out;
}

}  // namespace fnas::search
