#include "cli/images.h"

#include <png.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "evaluators/train/dataset.h"

namespace fnas::cli {

namespace {

namespace fs = std::filesystem;

std::string Shape(int c, int h, int w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

// One PNG as uint8 [C][H][W] planes.
std::vector<uint8_t> ReadPng(const fs::path& path, int channels, int height, int width) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    throw DataError(path.string() + ": not a readable PNG (" + image.message + ")");
  }
  const auto fail = [&](const std::string& why) {
    png_image_free(&image);
    throw DataError(path.string() + ": " + why);
  };
  if (image.format & PNG_FORMAT_FLAG_LINEAR) fail("16-bit PNG; expected 8-bit grey or RGB");
  if (image.format & PNG_FORMAT_FLAG_ALPHA) fail("PNG with alpha; expected 8-bit grey or RGB");
  const bool color = image.format & PNG_FORMAT_FLAG_COLOR;
  if (color != (channels == 3)) {
    fail(std::string(color ? "RGB" : "grey") + " PNG; the model expects " +
         (channels == 3 ? "RGB" : "grey") + " images");
  }
  if (static_cast<int>(image.height) != height || static_cast<int>(image.width) != width) {
    fail(std::to_string(image.width) + "x" + std::to_string(image.height) +
         " pixels; the model expects " + std::to_string(width) + "x" + std::to_string(height));
  }
  image.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  std::vector<uint8_t> interleaved(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, interleaved.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw DataError(path.string() + ": cannot decode (" + message + ")");
  }
  const int64_t plane = int64_t{height} * width;
  std::vector<uint8_t> planes(interleaved.size());
  for (int64_t p = 0; p < plane; ++p) {
    for (int c = 0; c < channels; ++c) planes[c * plane + p] = interleaved[p * channels + c];
  }
  return planes;
}

ImageSet ReadPngDirectory(const fs::path& dir, int channels, int height, int width, int64_t limit) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() && ext == ".png") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw DataError(dir.string() + ": no .png files in this directory");
  if (limit > 0 && static_cast<int64_t>(files.size()) > limit) files.resize(limit);
  const int64_t size = int64_t{channels} * height * width;
  ImageSet set;
  set.images =
      torch::empty({static_cast<int64_t>(files.size()), channels, height, width}, torch::kUInt8);
  for (size_t i = 0; i < files.size(); ++i) {
    const auto px = ReadPng(files[i], channels, height, width);
    std::copy(px.begin(), px.end(), set.images.data_ptr<uint8_t>() + i * size);
    set.names.push_back(files[i].filename().string());
  }
  return set;
}

bool LooksLikeIdx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(head), 4);
  const bool gzip = head[0] == 0x1f && head[1] == 0x8b;
  const bool idx = head[0] == 0 && head[1] == 0 && head[2] == 0x08;
  return gzip || idx;
}

}  // namespace

ImageSet ReadImages(const std::string& path, int channels, int height, int width, int64_t limit) {
  if (!fs::exists(path)) throw DataError(path + ": no such file or directory");
  if (fs::is_directory(path)) return ReadPngDirectory(path, channels, height, width, limit);
  ImageSet set;
  if (LooksLikeIdx(path)) {
    set.images = evaluators::ReadIdxImages(path);
  } else {
    const evaluators::Split s = evaluators::ReadCifar10({path});
    set.images = s.images;
    set.labels = s.labels;
  }
  const auto& sz = set.images.sizes();
  if (sz[1] != channels || sz[2] != height || sz[3] != width) {
    throw DataError(path + ": images are " + Shape(sz[1], sz[2], sz[3]) + "; the model expects " +
                    Shape(channels, height, width));
  }
  if (limit > 0 && set.images.size(0) > limit) {
    set.images = set.images.narrow(0, 0, limit);
    if (set.labels.defined()) set.labels = set.labels.narrow(0, 0, limit);
  }
  for (int64_t i = 0; i < set.images.size(0); ++i) set.names.push_back(std::to_string(i));
  return set;
}

}  // namespace fnas::cli
