// Options of the search driver, its execution and its store. Plain structs
// with their defaults written here; config/ fills them from YAML.
#pragma once

#include <string>
#include <vector>

namespace fnas::search {

struct ExecutionOptions {
  std::string device = "cpu";  // cpu | cuda | cuda:N
  // Trials at a time; 0 = one per core (at most the trials left). Measured
  // with bench/workers_threads: on 2 cores, 2 workers x 1 thread ran a search
  // 1.87x (width 1/8) and 1.21x (width 1/2) faster than 1 worker x 2 threads.
  int workers = 0;
  int threads_per_worker = 0;  // intra-op threads per trial; 0 = cores / workers
  bool deterministic = false;  // bit-identical reruns (forces 1 thread per worker)
  // At the tail of a study (nothing queued, some workers idle) a local trial
  // takes the idle workers' threads at its next epoch boundary
  // (TailThreads). Off by default: it pays only where the idle cores are
  // really free, and it makes a tail trial's numbers depend on timing. Never in
  // deterministic mode, nor for trials run by other processes (MPI ranks).
  bool tail_balance = false;
  // The last, partial wave of trials (fewer queued than workers, every worker
  // busy) starts at once beside the running ones, up to workers - 1 more
  // trials sharing the cores, instead of running alone after them while
  // cores idle (Scheduler::Run's tail slots). Each trial keeps its threads,
  // so its numbers do not change. Local trials only; not with tail_balance.
  bool tail_share = true;
};

// The progressive per-layer strategy (search/progressive.h, docs/config.md
// "search.progressive"): from the seeds (space.paths), each step raises one
// layer (or one stage) of each candidate on the front to the next rate of its
// ladder, judged on validation results at the expansion epoch.
struct ProgressiveOptions {
  std::string unit = "layer";  // layer | stage (the convs between two pools)
  // The epoch whose validation results expand the front: >= 1 an epoch, < 1 a
  // fraction of the epoch budget (rounded to the nearest epoch >= 1). Always
  // a recorded epoch. Earlier = workers wait less; later = better judged.
  double expand_epoch = 0.5;
  int max_trials = 32;  // candidates in the study, seeds included (0 = no limit)
  long max_epochs = 0;  // training epochs the study may plan (0 = no limit)
  int per_step = 0;     // candidates one step may propose at most (0 = no limit)
};

struct SearchOptions {
  int record_every = 1;  // layerwise + validation quant metrics every N epochs (0 = final only)
  std::vector<int> record_epochs;  // extra epochs to record
  std::string strategy = "grid";   // grid (space.paths) | progressive
  ProgressiveOptions progressive;  // strategy: progressive
};

// Early pruning (docs/config.md "pruning"): at each rung epoch a trial's
// checkpoint is quantized (calibrated on the training split) and evaluated on
// the validation split; the pruner then keeps or prunes it against the trials
// that already reached that rung (search/pruner.h).
struct PruningOptions {
  std::string pruner = "none";  // none | quant-aware | moasha | asha | median
  // Rung epochs: values >= 1 are epochs, values < 1 fractions of the epoch
  // budget (rounded to the nearest epoch >= 1); each must come before the last
  // epoch. Rung epochs are always recorded epochs.
  std::vector<double> rungs;
  double eta = 3;     // keep the top 1/eta of a rung (quant-aware, moasha, asha)
  int min_peers = 3;  // peers that must have reached the rung before anything is pruned
  double margin = 0;  // accuracy (fraction) a peer must beat a trial by to count as better
  // quant-aware collapse rule: prune when the quint8 relative decrease (%) is
  // above max_rel_decrease, or when the trial's QMSE is among the worst
  // qmse_worst_fraction of its rung (0 = off) and it is not on the first front.
  double max_rel_decrease = 10.0;
  double qmse_worst_fraction = 0.0;
  // How the rung's quantized model is evaluated; empty / 0 = as quantization.
  std::string evaluation;       // integer | fake
  int calibration_samples = 0;  // random training images for activation ranges
};

struct StorageOptions {
  std::string db;           // empty = runs/<name>.db
  std::string checkpoints;  // empty = <db without .db>.ckpt/
};

}  // namespace fnas::search
