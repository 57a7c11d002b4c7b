#include "search/execution.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.h"

namespace fnas::search {

int WorkerCount(const ExecutionOptions& options, int cores, int trials) {
  if (options.workers > 0) return options.workers;
  // Auto: one trial per core (measured by bench/workers_threads: 2 workers x
  // 1 thread beat 1 x 2 by 1.2-1.9x on 2 cores), never more than trials left.
  return std::max(1, std::min(cores, trials));
}

int ThreadsPerWorker(const ExecutionOptions& options, int cores, int workers) {
  if (options.deterministic) return 1;
  if (options.threads_per_worker > 0) return options.threads_per_worker;
  return std::max(1, cores / std::max(1, workers));
}

int TailThreads(const ExecutionOptions& options, int cores, int workers, int base, int busy,
                int queued) {
  if (!options.tail_balance || options.deterministic || queued > 0 || busy <= 0) return base;
  const int pool = options.threads_per_worker > 0 ? workers * options.threads_per_worker : cores;
  return std::max(base, pool / busy);
}

std::string WorkerDevice(const ExecutionOptions& options, int slot, int cuda_devices) {
  if (options.device == "cuda") {
    return "cuda:" + std::to_string(cuda_devices > 0 ? slot % cuda_devices : 0);
  }
  return options.device;
}

uint64_t TrialSeed(uint64_t study_seed, const std::string& candidate_key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : candidate_key) {
    h ^= ch;
    h *= 0x100000001b3ULL;
  }
  uint64_t z = study_seed ^ h;
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int ExpandEpoch(const ProgressiveOptions& options, int epochs) {
  const double e = options.expand_epoch;
  const long epoch = e < 1.0 ? std::lround(e * epochs) : std::lround(e);
  return static_cast<int>(std::clamp<long>(epoch, 1, std::max(1, epochs)));
}

std::vector<int> RecordEpochs(const SearchOptions& options, int epochs) {
  std::set<int> out;
  if (options.record_every > 0) {
    for (int e = options.record_every; e <= epochs; e += options.record_every) out.insert(e);
  }
  for (int e : options.record_epochs) {
    if (e >= 1 && e <= epochs) out.insert(e);
  }
  if (options.strategy == "progressive") out.insert(ExpandEpoch(options.progressive, epochs));
  if (epochs >= 1) out.insert(epochs);
  return {out.begin(), out.end()};
}

}  // namespace fnas::search
