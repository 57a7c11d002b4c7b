// Images to run a model on (`predict`): an IDX image file (MNIST /
// Fashion-MNIST, gzip'd or raw), a CIFAR-10 binary batch, or a directory of
// PNG files (8-bit grey or RGB, decoded by libpng). Free functions.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace fnas::cli {

struct ImageSet {
  torch::Tensor images;            // uint8 [N][C][H][W]
  torch::Tensor labels;            // int64 [N], undefined when the source has none
  std::vector<std::string> names;  // "0", "1", ... or the PNG file names
};

// Reads `path` and checks that its images are C x H x W; at most `limit`
// images (0 = all). Throws DataError naming the file and what was expected.
ImageSet ReadImages(const std::string& path, int channels, int height, int width, int64_t limit);

}  // namespace fnas::cli
