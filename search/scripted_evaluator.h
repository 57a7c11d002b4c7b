// A fake evaluator for tests and development: no training, deterministic
// metrics computed from the candidate, real checkpoint files (a few lines of
// text) so resume paths are exercised, and scripted failures and delays.
// Thread-safe: Run keeps no state between calls.
//
// The numbers (d = mean over layers of log2 f, so regular = 0):
//   loss(e)      = (1 + 0.1 d) / e               train_acc(e) = 1 - 0.5 / e - 0.01 d
//   fp32 acc(e)  = 0.9 - 0.02 d - 0.3 / e        quint8 acc(e) = fp32 acc(e) - 0.005 d
//   state(e)     = state(e-1) + loss(e)          (carried by the checkpoint)
//   final test: the accuracies at the last epoch, qmse = 1e-3 state(E), qce = 1e-3 d.
// A resumed trial that did not continue from its checkpoint ends with another qmse.
#pragma once

#include <string>
#include <vector>

#include "search/evaluator.h"

namespace fnas::search {

struct ScriptedOptions {
  int epoch_ms = 0;               // wall time of one epoch (slept over the batches)
  int batches = 4;                // OnProgress calls per epoch
  std::vector<std::string> fail;  // candidates (name or key) that fail
  int fail_epoch = 1;             // ... during this epoch
  bool fail_throws = true;        // throw RuntimeError (true) or return kFailed
  bool fail_environment = false;  // throw EnvironmentError (a full disk) instead
};

// "epoch_ms=50,batches=2,fail=uniform-f2+depthwise,fail_epoch=1,fail_mode=return"
// (fail_mode: throw, return or environment);
// throws UsageError naming a bad key or value.
ScriptedOptions ParseScriptedOptions(const std::string& text);

class ScriptedEvaluator : public Evaluator {
 public:
  explicit ScriptedEvaluator(ScriptedOptions options = {}) : options_(std::move(options)) {}
  TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) override;

  // The formulas above, for tests.
  static double Degree(const space::Candidate& candidate);
  static double Loss(double degree, int epoch);
  static evaluators::QuantMetrics Metrics(double degree, int epoch, double state);

 private:
  ScriptedOptions options_;
};

}  // namespace fnas::search
