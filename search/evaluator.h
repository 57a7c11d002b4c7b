// The seam between the search driver and whatever evaluates one candidate
// (train -> quantize -> evaluate -> analyse). The driver owns scheduling, the
// store and signals; an Evaluator owns one trial's computation.
//
// An Evaluator's Run is called concurrently from several worker threads, one
// trial per call: it must not share mutable state between calls (or must lock
// it). Everything a trial needs is in its TrialSpec, so a trial could run in
// another process.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "evaluators/records.h"
#include "space/candidate.h"

namespace fnas::search {

struct TrialSpec {
  int64_t trial_id = 0;
  std::string study;
  space::Candidate candidate;
  std::shared_ptr<const Config> config;  // the study's config (data, training, quantization)

  int epochs = 1;                  // the epoch budget
  std::vector<int> record_epochs;  // ascending: epochs whose validation QuantReport is recorded
  // Ascending, a subset of record_epochs: the pruning rungs, where the
  // validation report uses RungQuantOptions and OnEpoch may prune the trial.
  std::vector<int> rung_epochs;
  uint64_t seed = 0;           // this trial's seed (from the study seed and the candidate)
  int threads = 1;             // intra-op threads at the start (already set on the calling
                               // thread); an EpochVerdict may change them
  std::string device = "cpu";  // cpu | cuda | cuda:N

  std::string checkpoint_dir;  // this trial's folder for checkpoints (exists)
  // Resume: the store has committed `start_epoch` epochs, the last of them with
  // the checkpoint `resume_checkpoint` (model, optimizer, RNG state); 0 and ""
  // = a fresh start. An evaluator that overwrites one checkpoint file may find
  // it one epoch ahead (the process died between writing it and the store's
  // commit): it then reports that epoch with OnEpoch before going on, so the
  // store misses no epoch.
  int start_epoch = 0;
  std::string resume_checkpoint;

  // Where the checkpoint after `epoch` goes: <checkpoint_dir>/epoch-<epoch>.pt.
  std::string CheckpointPath(int epoch) const;
  bool RecordsEpoch(int epoch) const;
  bool IsRung(int epoch) const;
  // The quantization options of the validation report at `epoch`: the study's,
  // with pruning.evaluation and pruning.calibration_samples at a rung.
  evaluators::QuantOptions ValidationQuantOptions(int epoch) const;
};

// The driver's answer to a finished epoch: go on, or stop the trial as
// PRUNED (the store already records it PRUNED with `reason`).
struct EpochVerdict {
  bool prune = false;
  std::string reason;
  // > 0: the driver changed the trial's intra-op threads to this many, already
  // set on the calling thread (tail balancing: execution.tail_balance); the
  // epochs that follow, and the final evaluation, run with them. 0: unchanged.
  // Only for trials run in this process: never set for remote evaluators, and
  // not carried over the wire.
  int threads = 0;
};

// What the evaluator reports while it runs. Called from the trial's own
// thread; implementations are thread-safe across trials.
class TrialObserver {
 public:
  virtual ~TrialObserver() = default;
  // After every epoch, once its checkpoint is written to `checkpoint`: either
  // spec.CheckpointPath(epoch) (the driver then deletes the previous epoch's
  // file once this one is committed) or one file the evaluator overwrites. `validation` is the
  // quantized model's report on the validation split when spec.RecordsEpoch(epoch), else null. The
  // driver commits the epoch and the checkpoint path in one transaction, with
  // the pruning decision at a rung. When the verdict says prune, the evaluator
  // stops at once and returns kPruned.
  virtual EpochVerdict OnEpoch(const evaluators::EpochRecord& record,
                               const evaluators::QuantReport* validation,
                               const std::string& checkpoint) = 0;
  // Within an epoch, as often as convenient (the driver throttles display).
  virtual void OnProgress(int epoch, int batch, int batches, double loss, double images_per_s) = 0;
  // Checked after each OnEpoch: when true and epochs remain (or the final
  // evaluation has not started), the evaluator returns kInterrupted.
  virtual bool StopRequested() const = 0;
  // Checked before writing each checkpoint: true once another process took
  // the study over (this one was paused past its lease). The evaluator then
  // writes no file; the next OnEpoch throws (db::OwnershipLost).
  virtual bool Abandoned() const { return false; }
};

struct TrialOutcome {
  enum class Status { kCompleted, kInterrupted, kFailed, kPruned };
  Status status = Status::kFailed;
  std::string message;  // why it failed (kFailed), stopped or was pruned (the verdict's reason)
  int epochs_done = 0;
  evaluators::QuantReport test;  // final model on the test split (kCompleted)
};

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Runs one trial. A failure may be returned (kFailed) or thrown; either way
  // the driver records the trial FAILED with the message and goes on.
  virtual TrialOutcome Run(const TrialSpec& spec, TrialObserver& observer) = 0;
};

// Builds the evaluator of a study. `options` is the text after "name:" in
// --evaluator (e.g. "scripted:epoch_ms=50"), empty if none.
using EvaluatorFactory =
    std::function<std::unique_ptr<Evaluator>(const Config& config, const std::string& options)>;

// The evaluators this build knows ("scripted", and "training" once it is
// registered). Not thread-safe: register before searching.
void RegisterEvaluator(const std::string& name, EvaluatorFactory factory);
bool HasEvaluator(const std::string& name);
// "name" or "name:options"; throws UsageError naming the known evaluators.
std::unique_ptr<Evaluator> MakeEvaluator(const std::string& spec, const Config& config);

}  // namespace fnas::search
