// How trials map onto the machine: worker count, intra-op threads, devices,
// per-trial seeds and recorded epochs. Pure functions except where noted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "search/options.h"

namespace fnas::search {

// Trials at a time: execution.workers, or (0 = auto) one per core, at most
// `trials` (the trials left to run), at least 1.
int WorkerCount(const ExecutionOptions& options, int cores, int trials);
// Intra-op threads of each of `workers` workers: threads_per_worker, or
// cores / workers (at least 1); 1 in deterministic mode.
int ThreadsPerWorker(const ExecutionOptions& options, int cores, int workers);
// Tail balancing: the intra-op threads a running trial should use from its
// next epoch on, when `busy` workers run a trial and `queued` items wait. `base` is
// ThreadsPerWorker(options, cores, workers). While anything is queued, or with
// tail_balance off or in deterministic mode: `base`. Otherwise the study's
// threads - workers x threads_per_worker when that is set, else the `cores` -
// shared among the busy workers, never fewer than `base`.
int TailThreads(const ExecutionOptions& options, int cores, int workers, int base, int busy,
                int queued);

// Sets the calling thread's intra-op thread count (at::set_num_threads). With
// LibTorch's OpenMP backend (this build) the count is per calling thread, so
// each worker thread sets its own (verified by tests/search/driver_test: two
// threads with 1 and 3 threads each keep theirs, also after a backward pass).
// Returns at::get_num_threads() afterwards.
int SetIntraOpThreads(int threads);

// Throws ConfigError when execution.device asks for CUDA that this LibTorch
// build or this machine does not have (names the key and the value).
void CheckDevice(const ExecutionOptions& options);
// CheckDevice, then: the number of CUDA devices when execution.device asks
// for CUDA (0 for cpu); in deterministic mode cuDNN is told to pick
// deterministic algorithms and not to benchmark (process-wide).
int PrepareDevices(const ExecutionOptions& options);
// The device of worker `slot`: cpu, the configured cuda:N, or for "cuda" the
// GPUs round-robin (cuda:slot % count).
std::string WorkerDevice(const ExecutionOptions& options, int slot, int cuda_devices);

// A trial's seed: the study seed mixed with the candidate key (SplitMix64 over
// FNV-1a), so a candidate gets the same seed in every run of the study.
uint64_t TrialSeed(uint64_t study_seed, const std::string& candidate_key);

// Epochs whose validation report is recorded: every record_every-th epoch,
// the listed record_epochs within the budget, the progressive strategy's
// expansion epoch, and always the last epoch; ascending, each once.
// The progressive strategy's expansion epoch for an epoch budget: the
// configured epoch, or fraction of `epochs` rounded to the nearest; in
// [1, epochs].
int ExpandEpoch(const ProgressiveOptions& options, int epochs);

std::vector<int> RecordEpochs(const SearchOptions& options, int epochs);

}  // namespace fnas::search
