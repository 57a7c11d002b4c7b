// The parts of search/execution.h that ask LibTorch (threads, CUDA devices),
// apart so that execution.cpp's pure functions link without LibTorch (the
// factorize-nas front program's `status` uses them).
#include "evaluators/train/device.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <string>

#include "search/execution.h"

namespace fnas::search {

int SetIntraOpThreads(int threads) {
  // ATen's OpenMP backend initializes each thread lazily, on its first
  // parallel call, from the process-wide count (the last set_num_threads of
  // any thread). Trigger that initialization first so it cannot later replace
  // this thread's own count with another worker's.
  (void)at::get_num_threads();
  at::set_num_threads(std::max(1, threads));
  return at::get_num_threads();
}

void CheckDevice(const ExecutionOptions& options) { (void)evaluators::ParseDevice(options.device); }

int PrepareDevices(const ExecutionOptions& options) {
  CheckDevice(options);
  if (options.device.rfind("cuda", 0) != 0) return 0;
  if (options.deterministic) {
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }
  return static_cast<int>(torch::cuda::device_count());
}

}  // namespace fnas::search
