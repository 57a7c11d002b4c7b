#include "evaluators/train/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "tests/testing/temp_dir.h"

namespace fnas::evaluators {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/fnas_dataset_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& f) const { return path_ + "/" + f; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void WriteGzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

void Put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// IDX images: n images of rows x cols, pixel (i, r, c) = (i * 7 + r * cols + c) % 256.
std::vector<uint8_t> IdxImages(int n, int rows, int cols) {
  std::vector<uint8_t> b;
  Put32(b, 0x00000803);
  Put32(b, n);
  Put32(b, rows);
  Put32(b, cols);
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < rows * cols; ++p) b.push_back(static_cast<uint8_t>((i * 7 + p) % 256));
  }
  return b;
}

std::vector<uint8_t> IdxLabels(const std::vector<int>& labels) {
  std::vector<uint8_t> b;
  Put32(b, 0x00000801);
  Put32(b, static_cast<uint32_t>(labels.size()));
  for (int l : labels) b.push_back(static_cast<uint8_t>(l));
  return b;
}

// CIFAR-10 records: label i % 10, pixel p of record i = (i + p) % 256.
std::vector<uint8_t> CifarRecords(int n, int first = 0) {
  std::vector<uint8_t> b;
  for (int i = first; i < first + n; ++i) {
    b.push_back(static_cast<uint8_t>(i % 10));
    for (int p = 0; p < 3072; ++p) b.push_back(static_cast<uint8_t>((i + p) % 256));
  }
  return b;
}

template <typename F>
std::string DataErrorOf(F f) {
  return testing::ErrorOf<DataError>(f);
}

TEST(Cifar10Reader, ReadsRecordsInOrder) {
  TempDir dir;
  WriteBytes(dir / "a.bin", CifarRecords(3, 0));
  WriteBytes(dir / "b.bin", CifarRecords(2, 3));
  Split s = ReadCifar10({dir / "a.bin", dir / "b.bin"});
  ASSERT_EQ(s.size(), 5);
  EXPECT_EQ(s.images.sizes(), (std::vector<int64_t>{5, 3, 32, 32}));
  EXPECT_EQ(s.images.dtype(), torch::kUInt8);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.labels[i].item<int64_t>(), i % 10);
  // Record 4, channel 1 (green plane), row 2, col 5: pixel index 1024 + 69.
  EXPECT_EQ(s.images[4][1][2][5].item<uint8_t>(), (4 + 1024 + 69) % 256);
}

TEST(Cifar10Reader, BadFilesNameThePathAndTheProblem) {
  TempDir dir;
  std::vector<uint8_t> cut = CifarRecords(2);
  cut.resize(cut.size() - 100);
  WriteBytes(dir / "cut.bin", cut);
  std::string msg = DataErrorOf([&] { ReadCifar10({dir / "cut.bin"}); });
  EXPECT_NE(msg.find(dir / "cut.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("wrong size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3073"), std::string::npos) << msg;

  std::vector<uint8_t> bad = CifarRecords(3);
  bad[2 * 3073] = 10;  // label of record 2
  WriteBytes(dir / "label.bin", bad);
  msg = DataErrorOf([&] { ReadCifar10({dir / "label.bin"}); });
  EXPECT_NE(msg.find("label 10 of record 2 out of range"), std::string::npos) << msg;

  WriteBytes(dir / "empty.bin", {});
  EXPECT_NE(DataErrorOf([&] { ReadCifar10({dir / "empty.bin"}); }).find("wrong size 0"),
            std::string::npos);
  msg = DataErrorOf([&] { ReadCifar10({dir / "missing.bin"}); });
  EXPECT_NE(msg.find(dir / "missing.bin"), std::string::npos) << msg;
}

TEST(IdxReader, ReadsRawAndGzip) {
  TempDir dir;
  WriteBytes(dir / "img", IdxImages(4, 3, 5));
  WriteGzip(dir / "img.gz", IdxImages(4, 3, 5));
  WriteBytes(dir / "lab", IdxLabels({3, 0, 9, 1}));
  WriteGzip(dir / "lab.gz", IdxLabels({3, 0, 9, 1}));
  for (const char* suffix : {"", ".gz"}) {
    torch::Tensor img = ReadIdxImages(dir / (std::string("img") + suffix));
    EXPECT_EQ(img.sizes(), (std::vector<int64_t>{4, 1, 3, 5}));
    EXPECT_EQ(img[2][0][1][4].item<uint8_t>(), (2 * 7 + 1 * 5 + 4) % 256);
    torch::Tensor lab = ReadIdxLabels(dir / (std::string("lab") + suffix), 10);
    EXPECT_EQ(lab.dtype(), torch::kLong);
    EXPECT_EQ(lab[2].item<int64_t>(), 9);
  }
}

TEST(IdxReader, BadFilesNameThePathAndTheProblem) {
  TempDir dir;
  // Bad magic: a label file read as images.
  WriteBytes(dir / "lab", IdxLabels({1, 2}));
  std::string msg = DataErrorOf([&] { ReadIdxImages(dir / "lab"); });
  EXPECT_NE(msg.find(dir / "lab"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad IDX magic 0x00000801 (expected 0x00000803"), std::string::npos) << msg;

  // Truncated data: the header declares 4 images, 3.5 are there.
  std::vector<uint8_t> img = IdxImages(4, 2, 2);
  img.resize(img.size() - 2);
  WriteBytes(dir / "cut", img);
  msg = DataErrorOf([&] { ReadIdxImages(dir / "cut"); });
  EXPECT_NE(msg.find("wrong size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("16 bytes of data) but the file holds 14 (truncated)"), std::string::npos)
      << msg;

  // Label out of range.
  WriteBytes(dir / "lab10", IdxLabels({1, 10, 2}));
  msg = DataErrorOf([&] { ReadIdxLabels(dir / "lab10", 10); });
  EXPECT_NE(msg.find("label 10 of record 1 out of range (expected 0..9)"), std::string::npos)
      << msg;

  // A gzip stream cut in the middle.
  WriteGzip(dir / "full.gz", IdxImages(50, 28, 28));
  std::ifstream in(dir / "full.gz", std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  WriteBytes(dir / "half.gz", gz);
  msg = DataErrorOf([&] { ReadIdxImages(dir / "half.gz"); });
  EXPECT_NE(msg.find(dir / "half.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  // Too short for a header.
  WriteBytes(dir / "tiny", {0, 0});
  EXPECT_NE(DataErrorOf([&] { ReadIdxImages(dir / "tiny"); }).find("too short"), std::string::npos);
}

// Found by fuzz/idx_fuzzer.cpp (fuzz/regressions/idx/): zero images of
// 3840075489 x 2459341056 pixels matched the file's size (no data) and
// LibTorch crashed (SIGSEGV) building the empty tensor.
TEST(IdxReader, AnImpossibleImageSizeIsRefusedEvenWithoutImages) {
  TempDir dir;
  WriteBytes(dir / "huge", {0, 0, 8, 3, 0, 0, 0, 0, 0xe4, 0xe2, 0xe6, 0xe1, 0x92, 0x96, 0x91, 0});
  const std::string msg = DataErrorOf([&] { ReadIdxImages(dir / "huge"); });
  EXPECT_NE(msg.find(dir / "huge"), std::string::npos) << msg;
  EXPECT_NE(msg.find("IDX dimension 2 is 3840075489 (expected 1..65536)"), std::string::npos)
      << msg;
}

space::MacroOptions Model(int c, int h, int w, int classes = 10) {
  space::MacroOptions m;
  m.in_channels = c;
  m.in_height = h;
  m.in_width = w;
  m.classes = classes;
  return m;
}

TEST(LoadDataset, CifarDirectorySplitsBySeed) {
  TempDir dir;
  for (int i = 1; i <= 5; ++i) {
    WriteBytes(dir / ("data_batch_" + std::to_string(i) + ".bin"), CifarRecords(20, 20 * i));
  }
  WriteBytes(dir / "test_batch.bin", CifarRecords(15, 1000));
  DataOptions o;
  o.dataset = "cifar10";
  o.path = dir.path();
  o.validation = 30;
  o.train_subset = 50;
  o.test_subset = 10;
  Dataset a = LoadDataset(o, Model(3, 32, 32), 7);
  EXPECT_EQ(a.name, "cifar10");
  EXPECT_EQ(a.classes, 10);
  EXPECT_EQ(a.validation.size(), 30);
  EXPECT_EQ(a.train.size(), 50);
  EXPECT_EQ(a.test.size(), 10);
  // Validation and training are disjoint: the first pixel of record i is i % 256 (i < 256 here).
  auto ids = [](const Split& s) {
    std::set<int> out;
    for (int64_t i = 0; i < s.size(); ++i) out.insert(s.images[i][0][0][0].item<uint8_t>());
    return out;
  };
  std::set<int> tr = ids(a.train), va = ids(a.validation);
  EXPECT_EQ(tr.size(), 50u);
  EXPECT_EQ(va.size(), 30u);
  for (int v : va) EXPECT_FALSE(tr.count(v)) << v;
  // Same seed, same split; another seed, another split.
  Dataset b = LoadDataset(o, Model(3, 32, 32), 7);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.validation.labels, b.validation.labels));
  Dataset c = LoadDataset(o, Model(3, 32, 32), 8);
  EXPECT_FALSE(torch::equal(a.validation.images, c.validation.images));

  // Normalized training images have mean 0 and std 1 per channel.
  torch::Tensor x = a.normalization(a.train.images).to(torch::kFloat64);
  for (int ch = 0; ch < 3; ++ch) {
    EXPECT_NEAR(x.select(1, ch).mean().item<double>(), 0.0, 1e-5);
    EXPECT_NEAR(x.select(1, ch).std(false).item<double>(), 1.0, 1e-4);
  }

  // The model must fit; validation must leave training images.
  EXPECT_NE(DataErrorOf([&] {
              LoadDataset(o, Model(1, 32, 32), 7);
            }).find("images are 3x32x32 but model.input is [1, 32, 32]"),
            std::string::npos);
  o.validation = 100;
  EXPECT_NE(
      DataErrorOf([&] { LoadDataset(o, Model(3, 32, 32), 7); }).find("leaves no training images"),
      std::string::npos);
  o.validation = 10;
  fs::remove(dir / "data_batch_3.bin");
  EXPECT_NE(DataErrorOf([&] { LoadDataset(o, Model(3, 32, 32), 7); }).find("data_batch_3.bin"),
            std::string::npos);
}

TEST(Dataset, NormalizeIsHandComputed) {
  const Normalization normalize{{0.5f}, {0.25f}};
  torch::Tensor u8 = torch::tensor({0, 255, 51}, torch::kUInt8).view({3, 1, 1, 1});
  torch::Tensor x = normalize(u8);
  EXPECT_FLOAT_EQ(x[0].item<float>(), -2.0f);  // (0 - 0.5) / 0.25
  EXPECT_FLOAT_EQ(x[1].item<float>(), 2.0f);   // (1 - 0.5) / 0.25
  EXPECT_NEAR(x[2].item<float>(), (0.2f - 0.5f) / 0.25f, 1e-6);
}

TEST(LoadDataset, IdxDirectoryRawFiles) {
  TempDir dir;
  WriteBytes(dir / "train-images-idx3-ubyte", IdxImages(12, 28, 28));
  WriteBytes(dir / "train-labels-idx1-ubyte", IdxLabels({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}));
  WriteGzip(dir / "t10k-images-idx3-ubyte.gz", IdxImages(3, 28, 28));
  WriteGzip(dir / "t10k-labels-idx1-ubyte.gz", IdxLabels({4, 5, 6}));
  DataOptions o;
  o.dataset = "mnist";
  o.path = dir.path();
  o.validation = 2;
  Dataset d = LoadDataset(o, Model(1, 28, 28), 1);
  EXPECT_EQ(d.train.size(), 10);
  EXPECT_EQ(d.validation.size(), 2);
  EXPECT_EQ(d.test.size(), 3);
  // Labels and images of another count.
  WriteBytes(dir / "train-labels-idx1-ubyte", IdxLabels({0, 1, 2}));
  EXPECT_NE(DataErrorOf([&] { LoadDataset(o, Model(1, 28, 28), 1); }).find("3 labels but"),
            std::string::npos);
}

TEST(LoadDataset, MissingFashionMnistSaysWhichPackage) {
  DataOptions o;
  o.dataset = "fashion_mnist";
  o.path = "/nonexistent/fashion-mnist";
  const std::string msg = DataErrorOf([&] { LoadDataset(o, Model(1, 28, 28), 1); });
  EXPECT_NE(msg.find("/nonexistent/fashion-mnist"), std::string::npos) << msg;
  EXPECT_NE(msg.find("apt-get install dataset-fashion-mnist"), std::string::npos) << msg;
}

TEST(LoadDataset, DebianFashionMnistWhenPresent) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  DataOptions o;  // the defaults: fashion_mnist from its Debian directory
  o.validation = 5000;
  o.test_subset = 1000;
  Dataset d = LoadDataset(o, Model(1, 28, 28), 42);
  EXPECT_EQ(d.source, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(d.train.size(), 55000);
  EXPECT_EQ(d.validation.size(), 5000);
  EXPECT_EQ(d.test.size(), 1000);
  EXPECT_EQ(d.train.images.sizes(), (std::vector<int64_t>{55000, 1, 28, 28}));
  // Fashion-MNIST is balanced: 6000 images of each class in the 60000.
  torch::Tensor all = torch::cat({d.train.labels, d.validation.labels});
  torch::Tensor counts = torch::bincount(all);
  EXPECT_EQ(counts.min().item<int64_t>(), 6000);
  EXPECT_EQ(counts.max().item<int64_t>(), 6000);
  // The well-known mean pixel of Fashion-MNIST is about 0.286.
  EXPECT_NEAR(d.normalization.mean[0], 0.286, 0.003);
}

TEST(SyntheticDataset, DeterministicShapedAndLabelled) {
  DataOptions o;
  o.dataset = "synthetic";
  o.synthetic_train = 100;
  o.synthetic_test = 20;
  o.validation = 10;
  Dataset a = LoadDataset(o, Model(3, 12, 10, 4), 5);
  EXPECT_EQ(a.train.images.sizes(), (std::vector<int64_t>{90, 3, 12, 10}));
  EXPECT_EQ(a.validation.size(), 10);
  EXPECT_EQ(a.test.size(), 20);
  EXPECT_EQ(a.classes, 4);
  EXPECT_LT(a.train.labels.max().item<int64_t>(), 4);
  EXPECT_EQ(a.test.labels.bincount().min().item<int64_t>(), 5);
  Dataset b = LoadDataset(o, Model(3, 12, 10, 4), 5);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.test.images, b.test.images));
  Dataset c = LoadDataset(o, Model(3, 12, 10, 4), 6);
  EXPECT_FALSE(torch::equal(a.train.images, c.train.images));
  // The classes differ in their mean image (the class pattern), not only in noise:
  // class 0 varies along x, class 1 along y.
  torch::Tensor x = a.test.images.to(torch::kFloat32);
  torch::Tensor var_x0 = x.index({a.test.labels == 0}).var(3).mean();
  torch::Tensor var_y0 = x.index({a.test.labels == 0}).var(2).mean();
  EXPECT_GT(var_x0.item<float>(), 2 * var_y0.item<float>());
}

}  // namespace
}  // namespace fnas::evaluators
