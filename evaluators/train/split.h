// A split of images as the evaluators exchange it, and the input
// normalization that turns its raw pixels into the network's input: all that
// the quantization code (evaluators/quant) needs from the training side.
// Immutable values once built: safe to share between threads.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace fnas::evaluators {

// One split: images uint8 [N, C, H, W] (raw pixels), labels int64 [N].
struct Split {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// Per-channel normalization on the [0, 1] pixel scale: uint8 NCHW -> float32
// ((x / 255 - mean) / std). Empty mean/std = x / 255 only. A Dataset holds the
// one of its training split; every caller (training, quantization, export,
// benchmarks) applies that same object.
struct Normalization {
  std::vector<float> mean, std;  // one per channel, or both empty

  torch::Tensor operator()(const torch::Tensor& images_u8) const;
};

}  // namespace fnas::evaluators
