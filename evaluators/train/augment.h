// Data augmentation on a batch of normalized images [N, C, H, W] (float):
// random shift, zoom, rotation (one affine warp with bilinear sampling,
// border padding, like Keras' fill_mode "nearest"), horizontal and vertical
// flips (each with probability 1/2). Every image draws its own parameters
// from the caller's generator: same generator state, same output. Free
// function; thread-safe for distinct generators.
#pragma once

#include <torch/torch.h>

#include "evaluators/options.h"

namespace fnas::evaluators {

// The augmented batch (a new tensor; `images` is not modified). Returns
// `images` itself when augmentation is disabled. Draws 6 uniforms per image
// from `gen` whenever it is enabled, whichever transforms are on.
torch::Tensor Augment(const torch::Tensor& images, const AugmentOptions& options,
                      at::Generator& gen);

// The affine sampling matrices [N, 2, 3] (affine_grid convention: output
// coordinates in [-1, 1] -> input coordinates) for per-image shift (tx, ty:
// fractions of the width / height), zoom factor s (> 1 shows more of the
// image, i.e. zooms out), rotation (radians, in pixel space) and flips
// (+1 or -1), all tensors [N]. Exposed for tests.
torch::Tensor AffineTheta(const torch::Tensor& tx, const torch::Tensor& ty,
                          const torch::Tensor& zoom, const torch::Tensor& angle,
                          const torch::Tensor& flip_x, const torch::Tensor& flip_y, int64_t height,
                          int64_t width);

}  // namespace fnas::evaluators
