// The device a model trains on, from the text of execution.device.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace fnas::evaluators {

// `device` ("cpu", "cuda", "cuda:N") as a torch::Device. Throws ConfigError
// naming execution.device and its value when the text is no such device, when
// this LibTorch build has no usable CUDA (Debian's is CPU-only: the message
// says how to build against a CUDA LibTorch), or when cuda:N is beyond the
// machine's GPUs.
c10::Device ParseDevice(const std::string& device);

}  // namespace fnas::evaluators
