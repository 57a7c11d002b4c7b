#include "evaluators/train/dataset.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace fnas::evaluators {

namespace {

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
constexpr int64_t kCifarRecord = 1 + 3 * 32 * 32;

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool DirExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string JoinPath(const std::string& dir, const std::string& file) {
  if (dir.empty() || dir.back() == '/') return dir + file;
  return dir + "/" + file;
}

// The whole file, decompressed when it is gzip'd (zlib reads raw files as they are).
std::vector<uint8_t> ReadMaybeGzip(const std::string& path) {
  if (!FileExists(path)) throw DataError(path + ": no such file");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw DataError(path + ": cannot open");
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    const int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      throw DataError(path + ": corrupt or truncated gzip data (" + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  // A gzip stream cut short reads as a short file without an error on some
  // zlib versions; gzclose_r reports it.
  const int rc = gzclose(f);
  if (rc != Z_OK && rc != Z_BUF_ERROR) {
    throw DataError(path + ": corrupt or truncated gzip data (zlib error " + std::to_string(rc) +
                    ")");
  }
  if (rc == Z_BUF_ERROR) throw DataError(path + ": truncated gzip data (unexpected end of file)");
  return out;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Parses an IDX header of `dims` dimensions of unsigned bytes; returns the sizes.
std::vector<int64_t> IdxHeader(const std::vector<uint8_t>& bytes, int dims,
                               const std::string& path) {
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(dims);
  if (bytes.size() < 4) {
    throw DataError(path + ": too short for an IDX file (" + std::to_string(bytes.size()) +
                    " bytes)");
  }
  const uint32_t magic = BigEndian32(bytes.data());
  if (magic != expected_magic) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "bad IDX magic 0x%08x (expected 0x%08x, %d-D unsigned bytes)",
                  magic, expected_magic, dims);
    throw DataError(path + ": " + buf);
  }
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() < header) throw DataError(path + ": truncated IDX header");
  std::vector<int64_t> sizes;
  // The data size, saturated: three sizes of up to 2^32 - 1 overflow int64.
  int64_t total = 1;
  const int64_t kMax = int64_t{1} << 62;
  for (int d = 0; d < dims; ++d) {
    sizes.push_back(BigEndian32(bytes.data() + 4 + 4 * d));
    // The size of one record (an image's rows and columns) must be sane even
    // when there are no records: LibTorch crashes on a tensor of 0 x 4e9 x 2e9.
    if (d > 0 && (sizes.back() < 1 || sizes.back() > 65536)) {
      throw DataError(path + ": IDX dimension " + std::to_string(d + 1) + " is " +
                      std::to_string(sizes.back()) + " (expected 1..65536)");
    }
    total = sizes.back() != 0 && total > kMax / sizes.back() ? kMax : total * sizes.back();
  }
  const int64_t have = static_cast<int64_t>(bytes.size() - header);
  if (have != total) {
    std::ostringstream os;
    os << path << ": wrong size: the header declares";
    for (int64_t s : sizes) os << " " << s;
    os << " (" << total << " bytes of data) but the file holds " << have
       << (have < total ? " (truncated)" : " (trailing bytes)");
    throw DataError(os.str());
  }
  return sizes;
}

// Indices 0..n-1 in an order fixed by `gen`.
std::vector<int64_t> Permutation(int64_t n, at::Generator& gen) {
  torch::Tensor p = torch::randperm(n, gen, torch::kLong);
  return std::vector<int64_t>(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + n);
}

Split Select(const Split& s, std::vector<int64_t> idx) {
  std::sort(idx.begin(), idx.end());
  torch::Tensor t = torch::tensor(idx, torch::kLong);
  return {s.images.index_select(0, t).contiguous(), s.labels.index_select(0, t).contiguous()};
}

void CheckLabels(const torch::Tensor& labels, int classes, const std::string& path) {
  if (labels.numel() == 0) return;
  const int64_t max = labels.max().item<int64_t>();
  if (max >= classes) {
    const int64_t at = labels.argmax().item<int64_t>();
    throw DataError(path + ": label " + std::to_string(max) + " of record " + std::to_string(at) +
                    " out of range (expected 0.." + std::to_string(classes - 1) + ")");
  }
}

// The IDX files of `dir` (gzip'd or raw): {train images, train labels, test images, test labels}.
std::vector<std::string> IdxFiles(const std::string& dir, const std::string& dataset) {
  const char* names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  std::vector<std::string> out;
  for (const char* n : names) {
    const std::string raw = JoinPath(dir, n), gz = raw + ".gz";
    if (FileExists(gz)) {
      out.push_back(gz);
    } else if (FileExists(raw)) {
      out.push_back(raw);
    } else {
      std::string msg = gz + ": missing (expected " + n + ".gz or " + n + " in " + dir + ")";
      if (dataset == "fashion_mnist") {
        msg +=
            "; install Debian's Fashion-MNIST with `apt-get install dataset-fashion-mnist`, "
            "or set data.path";
      }
      throw DataError(msg);
    }
  }
  return out;
}

}  // namespace

torch::Tensor Normalization::operator()(const torch::Tensor& images_u8) const {
  torch::Tensor x = images_u8.to(torch::kFloat32).div_(255.0f);
  if (mean.empty()) return x;
  const int64_t c = static_cast<int64_t>(mean.size());
  torch::Tensor m =
      torch::from_blob(const_cast<float*>(mean.data()), {1, c, 1, 1}, torch::kFloat32);
  torch::Tensor s = torch::from_blob(const_cast<float*>(std.data()), {1, c, 1, 1}, torch::kFloat32);
  return x.sub_(m).div_(s);
}

std::string DatasetDirectory(const DataOptions& options) {
  if (!options.path.empty()) return options.path;
  if (options.dataset == "fashion_mnist") return kFashionMnistDir;
  return "";
}

Split ReadCifar10(const std::vector<std::string>& files) {
  std::vector<torch::Tensor> images, labels;
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path + ": missing or unreadable (expected a CIFAR-10 binary batch)");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    const int64_t size = static_cast<int64_t>(bytes.size());
    if (size == 0 || size % kCifarRecord != 0) {
      throw DataError(path + ": wrong size " + std::to_string(size) +
                      " bytes (expected a positive multiple of " + std::to_string(kCifarRecord) +
                      " = 1 label byte + 3072 pixel bytes per record; truncated record?)");
    }
    const int64_t n = size / kCifarRecord;
    torch::Tensor raw = torch::from_blob(bytes.data(), {n, kCifarRecord}, torch::kUInt8);
    torch::Tensor lab = raw.select(1, 0).to(torch::kLong);
    CheckLabels(lab, 10, path);
    images.push_back(raw.slice(1, 1).reshape({n, 3, 32, 32}).clone());
    labels.push_back(lab);
  }
  if (images.empty()) throw DataError("no CIFAR-10 batch files given");
  return {torch::cat(images), torch::cat(labels)};
}

torch::Tensor ReadIdxImages(const std::string& path) {
  std::vector<uint8_t> bytes = ReadMaybeGzip(path);
  const std::vector<int64_t> s = IdxHeader(bytes, 3, path);
  return torch::from_blob(bytes.data() + 16, {s[0], 1, s[1], s[2]}, torch::kUInt8).clone();
}

torch::Tensor ReadIdxLabels(const std::string& path, int classes) {
  std::vector<uint8_t> bytes = ReadMaybeGzip(path);
  const std::vector<int64_t> s = IdxHeader(bytes, 1, path);
  torch::Tensor labels = torch::from_blob(bytes.data() + 8, {s[0]}, torch::kUInt8).to(torch::kLong);
  CheckLabels(labels, classes, path);
  return labels;
}

Dataset MakeSyntheticDataset(const DataOptions& options, const space::MacroOptions& model,
                             uint64_t seed) {
  Dataset d;
  d.name = "synthetic";
  d.source = "synthetic(seed=" + std::to_string(seed) + ")";
  d.channels = model.in_channels;
  d.height = model.in_height;
  d.width = model.in_width;
  d.classes = model.classes;
  at::Generator gen = at::detail::createCPUGenerator(seed ^ 0x5eed5eedULL);
  const int64_t C = d.channels, H = d.height, W = d.width, K = d.classes;
  // Per class: a tint per channel in [0.6, 1.0] (the sign of the grating is the class's too).
  torch::Tensor tint = torch::rand({K, C}, gen) * 0.4 + 0.6;
  torch::Tensor xs = torch::arange(W, torch::kFloat32).div(W).view({1, 1, W});
  torch::Tensor ys = torch::arange(H, torch::kFloat32).div(H).view({1, H, 1});
  auto make = [&](int64_t n) {
    Split s;
    s.labels = torch::arange(n, torch::kLong).remainder(K);
    torch::Tensor phase = torch::rand({n, 1, 1}, gen) * (2 * M_PI);
    // Class c: orientation c % 2 (along x or y), c / 2 + 1 cycles per image.
    torch::Tensor freq = (s.labels.div(2, "floor") + 1).to(torch::kFloat32).view({n, 1, 1});
    torch::Tensor along_y = s.labels.remainder(2).to(torch::kBool).view({n, 1, 1});
    torch::Tensor coord = torch::where(along_y, ys.expand({n, H, W}), xs.expand({n, H, W}));
    torch::Tensor pattern = torch::sin(coord * freq * (2 * M_PI) + phase);  // [n, H, W]
    torch::Tensor t = tint.index_select(0, s.labels).view({n, C, 1, 1});
    torch::Tensor noise = torch::randn({n, C, H, W}, gen) * 0.15;
    torch::Tensor img = 0.5 + 0.35 * t * pattern.unsqueeze(1) + noise;
    s.images = img.mul(255).round().clamp(0, 255).to(torch::kUInt8).contiguous();
    return s;
  };
  d.train = make(options.synthetic_train);
  d.test = make(options.synthetic_test);
  return d;
}

Dataset LoadDataset(const DataOptions& options, const space::MacroOptions& model, uint64_t seed) {
  Dataset d;
  const std::string& kind = options.dataset;
  if (kind == "synthetic") {
    d = MakeSyntheticDataset(options, model, seed);
  } else {
    const std::string dir = DatasetDirectory(options);
    if (dir.empty())
      throw DataError("data.path is empty: dataset '" + kind + "' needs a directory");
    if (!DirExists(dir)) {
      std::string msg = dir + ": no such directory (data.path for dataset '" + kind + "')";
      if (kind == "fashion_mnist") {
        msg +=
            "; install Debian's Fashion-MNIST with `apt-get install dataset-fashion-mnist`, "
            "or set data.path";
      }
      throw DataError(msg);
    }
    d.name = kind;
    d.source = dir;
    if (kind == "cifar10") {
      std::vector<std::string> train_files;
      for (int i = 1; i <= 5; ++i) {
        train_files.push_back(JoinPath(dir, "data_batch_" + std::to_string(i) + ".bin"));
      }
      d.train = ReadCifar10(train_files);
      d.test = ReadCifar10({JoinPath(dir, "test_batch.bin")});
      d.classes = 10;
    } else if (kind == "fashion_mnist" || kind == "mnist" || kind == "idx") {
      const std::vector<std::string> f = IdxFiles(dir, kind);
      // Generic IDX: labels may go up to the model's classes.
      d.classes = kind == "idx" ? model.classes : 10;
      d.train = {ReadIdxImages(f[0]), ReadIdxLabels(f[1], d.classes)};
      d.test = {ReadIdxImages(f[2]), ReadIdxLabels(f[3], d.classes)};
      for (int i = 0; i < 2; ++i) {
        const Split& s = i == 0 ? d.train : d.test;
        if (s.images.size(0) != s.labels.size(0)) {
          throw DataError(f[2 * i + 1] + ": " + std::to_string(s.labels.size(0)) + " labels but " +
                          f[2 * i] + " holds " + std::to_string(s.images.size(0)) + " images");
        }
      }
      if (d.test.images.sizes().slice(1) != d.train.images.sizes().slice(1)) {
        throw DataError(f[2] + ": test images of another shape than the training images");
      }
    } else {
      throw DataError("unknown dataset '" + kind +
                      "' (expected cifar10, fashion_mnist, mnist, idx or synthetic)");
    }
    d.channels = static_cast<int>(d.train.images.size(1));
    d.height = static_cast<int>(d.train.images.size(2));
    d.width = static_cast<int>(d.train.images.size(3));
  }

  // The model must fit the data.
  if (d.channels != model.in_channels || d.height != model.in_height || d.width != model.in_width) {
    std::ostringstream os;
    os << d.source << ": images are " << d.channels << "x" << d.height << "x" << d.width
       << " but model.input is [" << model.in_channels << ", " << model.in_height << ", "
       << model.in_width << "]";
    throw DataError(os.str());
  }
  if (d.classes > model.classes) {
    throw DataError(d.source + ": the dataset has " + std::to_string(d.classes) +
                    " classes but model.classes is " + std::to_string(model.classes));
  }

  // Validation carved from the training set, then the subsets, all fixed by the seed.
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const int64_t n = d.train.size();
  if (options.validation >= n) {
    throw DataError(d.source + ": data.validation = " + std::to_string(options.validation) +
                    " leaves no training images (the training set holds " + std::to_string(n) +
                    ")");
  }
  const std::vector<int64_t> perm = Permutation(n, gen);
  const std::vector<int64_t> val_idx(perm.begin(), perm.begin() + options.validation);
  std::vector<int64_t> train_idx(perm.begin() + options.validation, perm.end());
  if (options.train_subset > 0 && options.train_subset < static_cast<int64_t>(train_idx.size())) {
    train_idx.resize(options.train_subset);
  }
  Split full = std::move(d.train);
  d.validation = Select(full, val_idx);
  d.train = Select(full, train_idx);
  if (options.test_subset > 0 && options.test_subset < d.test.size()) {
    std::vector<int64_t> test_idx = Permutation(d.test.size(), gen);
    test_idx.resize(options.test_subset);
    d.test = Select(d.test, test_idx);
  }

  // Per-channel statistics of the training split, on the [0, 1] scale.
  d.normalization.mean.assign(d.channels, 0.0f);
  d.normalization.std.assign(d.channels, 1.0f);
  if (options.normalize) {
    // Sums of x and x^2 per channel, in chunks: no float copy of the whole split.
    const int64_t total = d.train.size();
    torch::Tensor sum = torch::zeros({d.channels}, torch::kFloat64);
    torch::Tensor sq = torch::zeros({d.channels}, torch::kFloat64);
    for (int64_t b = 0; b < total; b += 4096) {
      torch::Tensor x = d.train.images.slice(0, b, std::min(total, b + 4096)).to(torch::kFloat64);
      sum += x.sum({0, 2, 3});
      sq += x.mul_(x).sum({0, 2, 3});
    }
    const double count = static_cast<double>(total) * d.height * d.width;
    for (int c = 0; c < d.channels; ++c) {
      const double m = sum[c].item<double>() / count;
      const double var = std::max(0.0, sq[c].item<double>() / count - m * m);
      d.normalization.mean[c] = static_cast<float>(m / 255.0);
      d.normalization.std[c] = std::max(static_cast<float>(std::sqrt(var) / 255.0), 1e-6f);
    }
  }
  return d;
}

}  // namespace fnas::evaluators
