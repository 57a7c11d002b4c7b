// Options of the evaluators: data, training and quantization. Plain structs
// with their defaults written here; config/ fills them from YAML
// (docs/config.md documents every key).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fnas::evaluators {

struct DataOptions {
  // cifar10 | fashion_mnist | mnist | idx | synthetic
  std::string dataset = "fashion_mnist";
  // Directory of the files; empty = the dataset's default
  // (/usr/share/datasets/fashion-mnist for fashion_mnist).
  std::string path;
  int validation = 5000;       // images carved from the training set for decisions
  int train_subset = 0;        // use only this many training images (0 = all)
  int test_subset = 0;         // use only this many test images (0 = all)
  bool normalize = true;       // per-channel mean/std from the training split
  int synthetic_train = 2048;  // synthetic dataset sizes (train includes validation)
  int synthetic_test = 512;
};

struct AugmentOptions {
  bool enabled = true;
  double shift = 0.1;  // max fraction of the side, each direction
  double zoom = 0.1;   // scale drawn from [1 - zoom, 1 + zoom]
  bool hflip = true;
  bool vflip = true;
  double rotation = 15.0;  // max degrees, either way
};

// Weight initializers of thesis ch. 4 for conv layers (dense layers and the
// stem keep glorot_uniform). `scale` is a for rand_uniform (U(-a, a)), sigma
// for rand_normal, C for mod_glorot_uniform; unused otherwise.
struct InitOptions {
  // glorot_uniform | glorot_normal | he_uniform | he_normal | rand_uniform |
  // rand_normal | mod_glorot_uniform
  std::string name = "glorot_uniform";
  double scale = 0.0;
};

struct TrainOptions {
  int epochs = 200;
  int batch_size = 128;
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 0.0;
  // Epochs at which lr is multiplied by gamma. Values < 1 are fractions of the
  // epoch budget (0.375 of 200 = 75), so a shortened run keeps the shape.
  std::vector<double> milestones = {75, 120, 170};
  double gamma = 0.1;
  InitOptions init;
  AugmentOptions augment;
};

struct QuantOptions {
  int calibration_samples = 1024;  // random training images for activation ranges
  // How activation ranges are chosen from the calibration histograms:
  // minmax | percentile | mse | entropy (evaluators/quant/calibration.h). The
  // pruner and the front use this one.
  std::string calibration = "minmax";
  double percentile = 1.0;  // top/bottom clipping of `percentile`, percent
  // Further methods whose quint8 metrics are recorded beside the primary one
  // (same histograms, one more integer pass each).
  std::vector<std::string> record_methods;
  std::string mode = "integer";  // integer | fake (quantize-dequantize in float)
  int eval_batch = 256;
  // Images of the evaluated split (its first ones) on which the layerwise
  // SQNR is measured; 0 = all.
  int sqnr_samples = 256;
  // Also run the fake-quant path and report its top-1 agreement with the
  // integer path (one more float pass).
  bool fake_agreement = false;
};

}  // namespace fnas::evaluators
