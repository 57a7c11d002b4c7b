// Datasets held in memory as raw uint8 pixels, with the train / validation /
// test splits a study uses. A Dataset is immutable once loaded: safe to share
// between threads (trials read it concurrently).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "evaluators/options.h"
#include "space/macro.h"

namespace fnas::evaluators {

// One split: images uint8 [N, C, H, W] (raw pixels), labels int64 [N].
struct Split {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct Dataset {
  std::string name;       // cifar10, fashion_mnist, mnist, idx, synthetic
  std::string source;     // the directory (or "synthetic(seed=...)")
  int channels = 0, height = 0, width = 0, classes = 0;
  Split train;            // what training sees (after the validation split and subset)
  Split validation;       // carved from the training set; for decisions (pruning)
  Split test;             // never used for decisions
  // Per channel, on the [0, 1] pixel scale, from the training split (0 / 1 when
  // normalization is off).
  std::vector<float> mean, std;

  // uint8 NCHW -> float32 ((x / 255 - mean) / std).
  torch::Tensor Normalize(const torch::Tensor& images_u8) const;
};

// Loads the dataset of `options`, checks it fits the model's input shape and
// classes, carves the validation split and subsets with `seed`. Throws
// DataError naming the path and what was expected.
Dataset LoadDataset(const DataOptions& options, const space::MacroOptions& model, uint64_t seed);

}  // namespace fnas::evaluators
