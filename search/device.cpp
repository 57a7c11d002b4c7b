// The parts of search/execution.h that ask LibTorch (threads, CUDA devices),
// apart so that execution.cpp's pure functions link without LibTorch (the
// factorize-nas front program's `status` uses them).
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <string>

#include "common/error.h"
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

void CheckDevice(const ExecutionOptions& options) {
  if (options.device.rfind("cuda", 0) != 0) return;
  if (!torch::cuda::is_available()) {
    throw ConfigError("execution.device = '" + options.device +
                      "': this LibTorch build has no usable CUDA (torch::cuda::is_available() "
                      "is false); use execution.device: cpu");
  }
  if (options.device.size() > 5) {
    const int n = std::stoi(options.device.substr(5));
    const int count = static_cast<int>(torch::cuda::device_count());
    if (n >= count) {
      throw ConfigError("execution.device = '" + options.device + "': this machine has " +
                        std::to_string(count) +
                        " CUDA device(s), cuda:0 .. cuda:" + std::to_string(count - 1));
    }
  }
}

}  // namespace fnas::search
