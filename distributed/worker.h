// A worker rank of a study spread over MPI (docs/distributed.md): it receives
// the study's config from rank 0, sets up its evaluator (data loaded once),
// then runs the trial specs rank 0 sends, one thread per slot, with a proxy
// TrialObserver that sends every report to rank 0 and waits for the verdict of
// each epoch. It never opens the database.
#pragma once

#include <functional>
#include <memory>

#include "config/config.h"
#include "distributed/channel.h"
#include "search/evaluator.h"

namespace fnas::distributed {

// Where this rank runs, for its share of the host and its devices.
struct WorkerPlacement {
  int local_rank = 0;  // among the ranks on this host (MPI_COMM_TYPE_SHARED)
  int local_size = 1;  // ranks on this host
  int cores = 0;       // cores of this host; 0 = std::thread::hardware_concurrency()
};

// What a rank does with the study's config: the evaluator that runs its trials.
using EvaluatorMaker = std::function<std::unique_ptr<search::Evaluator>(const Config& config)>;

// The slots of a worker rank: execution.workers, or (0 = auto) its share of
// the host's cores: cores / worker ranks on the host (rank 0 does not train),
// at least 1.
int WorkerSlots(const search::ExecutionOptions& options, int cores, int worker_ranks_on_host);

// Runs this rank (not rank 0) until rank 0 says shutdown; returns the exit
// code: 0, or that of its setup failure (which rank 0 reports as well).
int RunWorker(Channel& channel, const WorkerPlacement& placement, const EvaluatorMaker& make);

}  // namespace fnas::distributed
