// The fixed VGG-like macroarchitecture of FactorizeNet (docs/method.md §1) and the
// table of its factorizable conv layers. A Macro is an immutable value: safe
// to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fnas::space {

// One stage of the plan: `convs` 3x3 convs of `depth` output channels (before
// the width multiplier). A 2x2 max-pool follows every stage but the last.
struct StageOptions {
  int depth = 64;
  int convs = 2;
};

struct MacroOptions {
  int in_channels = 3;   // C of the input C x H x W
  int in_height = 32;
  int in_width = 32;
  double width = 1.0;    // multiplies every depth (stem, stages, not dense)
  int classes = 10;
  int stem_depth = 64;   // the stem conv is never factorized
  std::vector<StageOptions> stages = {{64, 2}, {128, 3}, {256, 3}};
  std::vector<int> dense = {1024, 1024};  // hidden dense sizes; logits follow
  int kernel = 3;
  double bn_eps = 1e-3;      // TensorFlow/Keras default, as in the paper
  double bn_momentum = 0.1;  // LibTorch convention (1 - Keras momentum)
};

// One factorizable conv layer of the table (L1..Ln).
struct ConvLayer {
  std::string name;     // "conv_64_1": stage base depth and position in stage
  int index = 0;        // 0-based among factorizable layers
  int in_depth = 0;     // after the width multiplier
  int out_depth = 0;
  int base_in_depth = 0;  // before the width multiplier (reverse-pyramid ratio)
  int height = 0;       // spatial size of input and output ("same" padding)
  int width = 0;
  bool pool_after = false;  // a 2x2 max-pool follows this layer
};

class Macro {
 public:
  // Validates the options; throws ConfigError naming the bad field.
  explicit Macro(MacroOptions options);

  const MacroOptions& options() const { return options_; }
  int stem_depth() const { return stem_depth_; }
  const std::vector<ConvLayer>& layers() const { return layers_; }
  size_t num_layers() const { return layers_.size(); }
  // Features entering the first dense layer (depth x H x W after the last stage).
  int64_t flat_features() const { return flat_features_; }
  // A depth after the width multiplier: round(depth * width), at least 1.
  int Scaled(int depth) const;
  // The factorization rates a layer can take: 1, 2, 4, ... (powers of two that
  // divide the in-depth), then the in-depth itself (depthwise separable).
  std::vector<int> Ladder(size_t layer) const;

 private:
  MacroOptions options_;
  int stem_depth_ = 0;
  std::vector<ConvLayer> layers_;
  int64_t flat_features_ = 0;
};

}  // namespace fnas::space
