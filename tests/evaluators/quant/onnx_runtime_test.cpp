// From a trained checkpoint to ONNX Runtime, as a user would (docs/deploy.md):
// train a tiny factorized net on real Fashion-MNIST, export it as our integer
// model and as quint8 (QOperator and exact integer operators) and fp32 ONNX,
// have onnx.checker accept the files, run them in ONNX Runtime (npm
// onnxruntime-node) on real test images and compare with `predict` on the
// integer model and on the checkpoint.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/testing/cli.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;
using testing::RunShell;
using testing::SourcePath;

constexpr const char* kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr const char* kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
constexpr int kTestImages = 500;

class OnnxRuntime : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/fnas_onnx_XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/tiny.yaml") << R"(
name: onnx
seed: 5
model: {input: [1, 28, 28], width: 0.125, classes: 10, dense: [32]}
space: {paths: [uniform: [2]]}
data: {dataset: fashion_mnist, validation: 100, train_subset: 3000, test_subset: 100}
training: {epochs: 2, batch_size: 32, lr: 0.05, milestones: [0.5]}
quantization: {calibration_samples: 200, percentile: 1.0, eval_batch: 64}
execution: {workers: 1, threads_per_worker: 1}
storage: {db: )" + dir_ + "/onnx.db}\n";
    // A one-candidate study: its trial's checkpoint is what the tests export.
    const auto r = RunCli("search " + dir_ + "/tiny.yaml --quiet");
    ASSERT_EQ(r.code, 0) << r.out;
    for (const auto& e : fs::recursive_directory_iterator(dir_ + "/onnx.ckpt")) {
      if (e.is_regular_file()) ckpt_ = e.path().string();  // the trial's one checkpoint
    }
    ASSERT_FALSE(ckpt_.empty()) << r.out;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  // The checks share one trained study (training is the slow part), so they
  // run as the steps of one test.
  static void ExportedModelsAgreeWithLibTorchAndTheIntegerPath();
  static void PredictReadsPngDirectoriesLikeIdx();
  static void ExportAndPredictFromAStudyTrial();
  static std::string dir_, ckpt_;
};
std::string OnnxRuntime::dir_, OnnxRuntime::ckpt_;

void OnnxRuntime::ExportedModelsAgreeWithLibTorchAndTheIntegerPath() {
  const std::string source = ckpt_ + " --config " + dir_ + "/tiny.yaml";
  const std::string q8 = dir_ + "/model.onnx", fp32 = dir_ + "/model_fp32.onnx";
  const std::string exact = dir_ + "/model_exact.onnx";
  auto r = RunCli("export " + source + " --format onnx --out " + q8);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("QOperator"), std::string::npos) << r.out;
  r = RunCli("export " + source + " --format onnx-fp32 --out " + fp32);
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunCli("export " + source + " --out " + dir_ + "/int8");
  ASSERT_EQ(r.code, 0) << r.out;
  // The exact model with every layer's output (its logits are the same).
  r = RunCli("export " + source + " --format onnx-exact --layer-outputs --out " + exact);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("exact integer operators"), std::string::npos) << r.out;

  // onnx.checker (Debian's python3-onnx) accepts the three files; the
  // QOperator one holds a QLinearConv for each of the 17 convs and the 2 dense
  // layers, the exact one a ConvInteger per conv and a MatMulInteger per dense.
  r = RunShell(
      "/usr/bin/python3 -c \"import onnx, sys, collections\n"
      "for f in sys.argv[1:]:\n"
      "    m = onnx.load(f); onnx.checker.check_model(m, full_check=True)\n"
      "    print(f, m.opset_import[0].version, "
      "sorted(collections.Counter(n.op_type for n in m.graph.node).items()))\" " +
      q8 + " " + fp32 + " " + exact);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("('QLinearConv', 19)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("('ConvInteger', 17)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("('MatMulInteger', 2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("('BatchNormalization', 17)"), std::string::npos) << r.out;

  // Our outputs on the first images of the test file: uint8 logits of the
  // integer model, fp32 logits of the checkpoint.
  const std::string limit = " --limit " + std::to_string(kTestImages) + " --format csv";
  r = RunCli("predict " + dir_ + "/int8 " + kImages + " --codes" + limit);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ofstream(dir_ + "/codes.csv") << r.out;
  r = RunCli("predict " + source + " " + kImages + " --logits" + limit);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ofstream(dir_ + "/fp32.csv") << r.out;

  // Per layer: the model with every layer's output, and our integer path's
  // outputs from the independent numpy reader on the same raw pixels.
  r = RunCli("export " + source + " --format onnx --layer-outputs --out " + dir_ + "/layers.onnx");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunShell(
      "/usr/bin/python3 -c \"import gzip, sys\n"
      "open(sys.argv[2], 'wb').write(gzip.open(sys.argv[1]).read()[16:16 + 784 * " +
      std::to_string(kTestImages) + "])\" " + kImages + " " + dir_ + "/pixels.u8");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunShell("/usr/bin/python3 " + SourcePath("scripts/run_integer_model.py") + " " + dir_ +
               "/int8 " + dir_ + "/pixels.u8 " + dir_ + "/numpy.u8 --trace " + dir_ + "/trace");
  ASSERT_EQ(r.code, 0) << r.out;

  r = RunShell("node " + SourcePath("tests/onnx/check_onnx_runtime.js") + " " + q8 + " " + fp32 +
               " " + kImages + " " + std::to_string(kTestImages) + " " + dir_ + "/codes.csv " +
               dir_ + "/fp32.csv " + kLabels + " --exact " + exact + " --layers " + dir_ +
               "/layers.onnx " + dir_ + "/trace --manifest " + dir_ + "/int8/manifest.json");
  std::printf("%s", r.out.c_str());  // the figures, in the test log
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("quint8: top-1 agreement"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("conv_256_3.point_out"), std::string::npos) << r.out;
  // The QOperator model's first conv differs from ours only by double rounding.
  EXPECT_NE(r.out.find("stem (first conv, identical inputs)"), std::string::npos) << r.out;
  // Every image's uint8 logits from the exact model are ours, bit for bit.
  EXPECT_NE(r.out.find("exact:  uint8 logits equal to our integer path on " +
                       std::to_string(kTestImages) + " of " + std::to_string(kTestImages)),
            std::string::npos)
      << r.out;
  // The numpy reader's logits are our integer path's (predict --codes).
  std::ifstream np(dir_ + "/numpy.u8", std::ios::binary);
  const std::string numpy((std::istreambuf_iterator<char>(np)), std::istreambuf_iterator<char>());
  std::ifstream codes(dir_ + "/codes.csv");
  std::string line, expected;
  std::getline(codes, line);  // header
  while (std::getline(codes, line)) {
    std::stringstream cells(line);
    std::string cell;
    for (int c = 0; std::getline(cells, cell, ','); ++c) {
      if (c >= 2) expected.push_back(static_cast<char>(std::stoi(cell)));
    }
  }
  EXPECT_EQ(numpy.size(), size_t{kTestImages} * 10);
  EXPECT_TRUE(numpy == expected);
}

void OnnxRuntime::PredictReadsPngDirectoriesLikeIdx() {
  // Three test images written as 8-bit grey PNGs by python3's zlib (an
  // independent encoder) give the same labels as the IDX file.
  const std::string png = dir_ + "/png";
  fs::create_directories(png);
  const auto w = RunShell(
      "/usr/bin/python3 -c \"import gzip, struct, zlib, sys\n"
      "d = gzip.open(sys.argv[1]).read()[16:]\n"
      "for i in range(3):\n"
      "    px = d[i*784:(i+1)*784]\n"
      "    raw = b''.join(b'\\\\x00' + px[r*28:(r+1)*28] for r in range(28))\n"
      "    def chunk(t, b): return struct.pack('>I', len(b)) + t + b + "
      "struct.pack('>I', zlib.crc32(t + b))\n"
      "    open('%s/img%d.png' % (sys.argv[2], i), 'wb').write(b'\\\\x89PNG\\\\r\\\\n\\\\x1a\\\\n' "
      "+ "
      "chunk(b'IHDR', struct.pack('>IIBBBBB', 28, 28, 8, 0, 0, 0, 0)) + "
      "chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))\" " +
      std::string(kImages) + " " + png);
  ASSERT_EQ(w.code, 0) << w.out;
  const std::string int8 = dir_ + "/int8_png";
  auto r = RunCli("export " + ckpt_ + " --config " + dir_ + "/tiny.yaml --out " + int8);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto from_png = RunCli("predict " + int8 + " " + png + " --codes --format csv");
  ASSERT_EQ(from_png.code, 0) << from_png.out;
  const auto from_idx =
      RunCli("predict " + int8 + " " + kImages + " --limit 3 --codes --format csv");
  ASSERT_EQ(from_idx.code, 0) << from_idx.out;
  // Same rows but for the image column (file names vs indices).
  const auto strip = [](const std::string& csv) {
    std::string out;
    size_t pos = 0;
    while (pos < csv.size()) {
      const size_t end = csv.find('\n', pos);
      const std::string line = csv.substr(pos, end - pos);
      out += line.substr(line.find(',')) + "\n";
      if (end == std::string::npos) break;
      pos = end + 1;
    }
    return out;
  };
  EXPECT_EQ(strip(from_png.out), strip(from_idx.out)) << from_png.out << from_idx.out;
  EXPECT_NE(from_png.out.find("img2.png"), std::string::npos) << from_png.out;

  // A file that is neither IDX nor CIFAR-10: named error, exit 2.
  r = RunCli("predict " + int8 + " " + dir_ + "/tiny.yaml");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("tiny.yaml"), std::string::npos) << r.out;
}

void OnnxRuntime::ExportAndPredictFromAStudyTrial() {
  // DB TRIAL by candidate name and by trial id: the same bytes as from the checkpoint.
  const std::string db = dir_ + "/onnx.db";
  auto r = RunCli("export " + db + " uniform-f2 --format onnx --out " + dir_ + "/trial.onnx");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunCli("export " + db + " 1 --format onnx --out " + dir_ + "/trial1.onnx");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunCli("export " + ckpt_ + " --config " + dir_ + "/tiny.yaml --format onnx --out " + dir_ +
             "/ckpt.onnx");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto bytes = [](const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(bytes(dir_ + "/trial.onnx"), bytes(dir_ + "/ckpt.onnx"));
  EXPECT_EQ(bytes(dir_ + "/trial1.onnx"), bytes(dir_ + "/ckpt.onnx"));
  r = RunCli("predict " + db + " uniform-f2 " + kImages + " --limit 5 --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"predicted\""), std::string::npos) << r.out;
  r = RunCli("export " + db + " no-such-candidate --out " + dir_ + "/x.onnx");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no trial"), std::string::npos) << r.out;
}

TEST_F(OnnxRuntime, FromAStudyTrialToOnnxRuntimeAndPredict) {
  {
    SCOPED_TRACE("ONNX export checked in ONNX Runtime");
    ExportedModelsAgreeWithLibTorchAndTheIntegerPath();
  }
  {
    SCOPED_TRACE("predict on a PNG directory");
    PredictReadsPngDirectoriesLikeIdx();
  }
  {
    SCOPED_TRACE("export and predict DB TRIAL");
    ExportAndPredictFromAStudyTrial();
  }
}

}  // namespace
}  // namespace fnas
