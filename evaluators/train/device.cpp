#include "evaluators/train/device.h"

#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include <optional>

#include "common/error.h"

namespace fnas::evaluators {

c10::Device ParseDevice(const std::string& device) {
  std::optional<c10::Device> d;
  try {
    d.emplace(device);
  } catch (const c10::Error&) {
  }
  if (!d || !(d->is_cpu() || d->is_cuda())) {
    throw ConfigError("execution.device = '" + device + "': expected cpu, cuda or cuda:N");
  }
  if (d->is_cuda()) {
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (count == 0) {
      throw ConfigError("execution.device = '" + device +
                        "': this LibTorch build has no usable CUDA; build against a CUDA "
                        "LibTorch (docs/distributed.md, GPUs) or use execution.device: cpu");
    }
    if (d->has_index() && d->index() >= count) {
      throw ConfigError("execution.device = '" + device + "': this machine has " +
                        std::to_string(count) +
                        " CUDA device(s), cuda:0 .. cuda:" + std::to_string(count - 1));
    }
  }
  return *d;
}

}  // namespace fnas::evaluators
