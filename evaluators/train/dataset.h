// Datasets held in memory as raw uint8 pixels, with the train / validation /
// test splits a study uses. A Dataset is immutable once loaded: safe to share
// between threads (trials read it concurrently).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "evaluators/options.h"
#include "evaluators/train/split.h"
#include "space/macro.h"

namespace fnas::evaluators {

struct Dataset {
  std::string name;    // cifar10, fashion_mnist, mnist, idx, synthetic
  std::string source;  // the directory (or "synthetic(seed=...)")
  int channels = 0, height = 0, width = 0, classes = 0;
  Split train;       // what training sees (after the validation split and subset)
  Split validation;  // carved from the training set; for decisions (pruning)
  Split test;        // never used for decisions
  // Per channel, from the training split (mean 0 / std 1 when data.normalize
  // is off): apply it to any split, normalization(images).
  Normalization normalization;
};

// Loads the dataset of `options`, checks it fits the model's input shape and
// classes, carves the validation split and subsets with `seed`. Throws
// DataError naming the path and what was expected.
Dataset LoadDataset(const DataOptions& options, const space::MacroOptions& model, uint64_t seed);

// The directory LoadDataset reads for `options` (data.path, or the dataset's
// default: /usr/share/datasets/fashion-mnist for fashion_mnist).
std::string DatasetDirectory(const DataOptions& options);

// --- Readers (used by LoadDataset; exposed for tests and tools). Each throws
// DataError naming the path and what was expected.

// CIFAR-10 binary version: records of 1 label byte + 3072 pixel bytes
// (3 x 32 x 32, channel planes). Concatenates the files in order.
Split ReadCifar10(const std::vector<std::string>& files);
// IDX files (MNIST / Fashion-MNIST), gzip'd or raw (detected from the bytes).
// Images: magic 0x00000803, uint8 [N, 1, rows, cols]. Labels: magic
// 0x00000801, int64 [N], each < `classes`.
torch::Tensor ReadIdxImages(const std::string& path);
torch::Tensor ReadIdxLabels(const std::string& path, int classes);

// A deterministic, learnable synthetic dataset: class c is a sinusoidal
// grating (frequency and orientation set by c, random phase) plus Gaussian
// noise, with a class tint per channel. Shape and classes from `model`; the
// train split holds `options.synthetic_train` images before the validation
// split is carved. Same seed => same bytes.
Dataset MakeSyntheticDataset(const DataOptions& options, const space::MacroOptions& model,
                             uint64_t seed);

}  // namespace fnas::evaluators
