// The bad-input corpus (issue #11, docs/reliability.md): configs, datasets,
// checkpoints and databases a user may hand the program by mistake. Every case
// exits with its expected code (2 bad input, 1 runtime failure; never a
// signal), prints one message without a library stack trace that names the
// file (and, for configs, the key, the value and file:line) and what was
// expected, and leaves a database it was given byte-for-byte unchanged.
//
// Configs are files in tests/bad_input/configs/, each stating its exit code
// and message fragments in its first lines ("# expect: 2", "# message: ...");
// the other cases are built here, from one valid dataset, checkpoint and study.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>

#include "tests/testing/cli.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string BigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// An IDX file of unsigned bytes: magic 0x0800 | dims, the sizes, the data.
std::string Idx(const std::vector<uint32_t>& sizes, const std::string& data) {
  std::string out = BigEndian(0x0800u | static_cast<uint32_t>(sizes.size()));
  for (uint32_t s : sizes) out += BigEndian(s);
  return out + data;
}

// The checks every case shares: the exit code, no signal, no stack trace, one
// error line, and every fragment.
void ExpectRefusal(const std::string& what, const testing::CliResult& r, int code,
                   const std::vector<std::string>& fragments) {
  EXPECT_EQ(r.code, code) << what << "\n" << r.out;
  EXPECT_EQ(r.out.find("Exception raised from"), std::string::npos) << what << "\n" << r.out;
  EXPECT_EQ(r.out.find("frame #"), std::string::npos) << what << "\n" << r.out;
  EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << what << "\n" << r.out;
  size_t errors = 0;
  for (size_t at = r.out.find("error: "); at != std::string::npos;
       at = r.out.find("error: ", at + 1)) {
    ++errors;
  }
  EXPECT_EQ(errors, 1u) << what << "\n" << r.out;
  for (const auto& f : fragments) {
    EXPECT_NE(r.out.find(f), std::string::npos) << what << ": no '" << f << "' in\n" << r.out;
  }
}

// --- Configs: `factorize-nas space FILE` (the config loader, no training) ---

TEST(BadInputCorpus, ConfigsNameKeyValueAndLine) {
  const fs::path dir = testing::SourcePath("tests/bad_input/configs");
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    ++cases;
    std::ifstream in(entry.path());
    int code = -1;
    std::vector<std::string> fragments;
    for (std::string line; std::getline(in, line) && line.rfind("# ", 0) == 0;) {
      if (line.rfind("# expect: ", 0) == 0) code = std::stoi(line.substr(10));
      if (line.rfind("# message: ", 0) == 0) fragments.push_back(line.substr(11));
    }
    ASSERT_NE(code, -1) << entry.path() << ": no '# expect: CODE' line";
    ASSERT_FALSE(fragments.empty()) << entry.path() << ": no '# message: ...' line";
    const std::string path = entry.path().string();
    ExpectRefusal(path, RunCli("space " + path), code, fragments);
  }
  EXPECT_GE(cases, 40);
}

TEST(BadInputCorpus, MissingAndUnreadableConfigFiles) {
  const std::string missing = testing::SourcePath("tests/bad_input/no-such-config.yaml");
  ExpectRefusal("missing", RunCli("space " + missing), 2, {missing, "cannot read the config file"});
  const std::string dir = testing::SourcePath("tests/bad_input/configs");
  ExpectRefusal("a directory", RunCli("space " + dir), 2, {dir});
}

// --- Datasets, checkpoints, databases: one shared valid set of each ---

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("fnas-bad-input-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string P(const std::string& name) { return (dir_ / name).string(); }

  // A valid IDX dataset (64 training, 16 test images of 1x28x28, 10 classes) in
  // `name`/, or with `change` applied to its files first.
  static std::string Dataset(const std::string& name,
                             const std::function<void(const std::string&)>& change = {}) {
    const std::string d = P(name);
    fs::create_directories(d);
    std::mt19937 rng(3);
    for (const auto& [prefix, n] : {std::pair<std::string, uint32_t>{"train", 64}, {"t10k", 16}}) {
      std::string pixels(n * 28 * 28, '\0'), labels(n, '\0');
      for (char& c : pixels) c = static_cast<char>(rng());
      for (uint32_t i = 0; i < n; ++i) labels[i] = static_cast<char>(i % 10);
      WriteBytes(d + "/" + prefix + "-images-idx3-ubyte", Idx({n, 28, 28}, pixels));
      WriteBytes(d + "/" + prefix + "-labels-idx1-ubyte", Idx({n}, labels));
    }
    if (change) change(d);
    return d;
  }
  // A study config (2 candidates, 1 epoch) on `data` ("synthetic" or an IDX folder).
  static std::string Config(const std::string& name, const std::string& data = "synthetic",
                            const std::string& model = "width: 0.125, dense: [16]") {
    const std::string path = P(name + ".yaml");
    std::ofstream out(path);
    out << "name: " << name << "\n"
        << "model: {input: [1, 28, 28], " << model << "}\n"
        << "space:\n  paths: [regular, depthwise]\n";
    if (data == "synthetic") {
      out << "data: {dataset: synthetic, synthetic_train: 160, synthetic_test: 40, validation: "
             "32}\n";
    } else {
      out << "data: {dataset: idx, path: " << data << ", validation: 16}\n";
    }
    out << "training: {epochs: 1, batch_size: 32}\n"
        << "quantization: {calibration_samples: 32}\n"
        << "storage: {checkpoints: " << P(name + ".ckpt") << "}\n"
        << "execution: {workers: 1}\n";
    return path;
  }
  // `search` on a dataset: refused while loading it, no database left behind.
  static void ExpectDatasetRefused(const std::string& what, const std::string& data,
                                   const std::vector<std::string>& fragments) {
    const std::string db = P(what + ".db");
    ExpectRefusal(what, RunCli("search " + Config(what, data) + " --db " + db + " --quiet"), 2,
                  fragments);
    EXPECT_FALSE(fs::exists(db)) << what;
  }
  // A valid checkpoint of candidate `regular`, trained once for the suite.
  static std::string Checkpoint() {
    static std::string path;
    if (!path.empty()) return path;
    const std::string dir = P("trained");
    const auto r = RunCli("train " + Config("train") + " --candidate regular --checkpoint-dir " +
                          dir + " --threads 1");
    EXPECT_EQ(r.code, 0) << r.out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().extension() == ".ckpt") path = e.path().string();
    }
    EXPECT_FALSE(path.empty()) << "train wrote no .ckpt file in " << dir << "\n" << r.out;
    return path;
  }
  // A valid study database (scripted trials: no training).
  static std::string Study(const std::string& name) {
    const std::string db = P(name + ".db");
    const auto r = RunCli("search " + Config(name) + " --db " + db + " --evaluator scripted -q");
    EXPECT_EQ(r.code, 0) << r.out;
    return db;
  }

  static fs::path dir_;
};

fs::path BadInputTest::dir_;

TEST_F(BadInputTest, DatasetsNameTheFileAndWhatWasExpected) {
  const std::string tr = "/train-images-idx3-ubyte", tl = "/train-labels-idx1-ubyte";
  ExpectDatasetRefused("d-missing-folder", P("no-such-folder"),
                       {P("no-such-folder") + ": no such directory", "data.path"});
  ExpectDatasetRefused(
      "d-missing-file",
      Dataset("missing-file",
              [](const std::string& d) { fs::remove(d + "/t10k-labels-idx1-ubyte"); }),
      {"t10k-labels-idx1-ubyte.gz: missing (expected t10k-labels-idx1-ubyte.gz or "
       "t10k-labels-idx1-ubyte in"});
  ExpectDatasetRefused(
      "d-truncated-images",
      Dataset("truncated", [&](const std::string& d) { fs::resize_file(d + tr, 1000); }),
      {tr + ": wrong size: the header declares 64 28 28", "(truncated)"});
  ExpectDatasetRefused("d-trailing-bytes",
                       Dataset("trailing",
                               [&](const std::string& d) {
                                 std::ofstream(d + tl, std::ios::app | std::ios::binary) << "xx";
                               }),
                       {tl + ": wrong size", "(trailing bytes)"});
  ExpectDatasetRefused("d-empty-file",
                       Dataset("empty", [&](const std::string& d) { WriteBytes(d + tl, ""); }),
                       {tl + ": too short for an IDX file (0 bytes)"});
  ExpectDatasetRefused("d-wrong-magic",
                       Dataset("magic",
                               [&](const std::string& d) {
                                 std::string b = Bytes(d + tr);
                                 b[3] = 1;  // a 1-D file where 3-D images are expected
                                 WriteBytes(d + tr, b);
                               }),
                       {tr + ": bad IDX magic 0x00000801 (expected 0x00000803"});
  ExpectDatasetRefused("d-labels-out-of-range",
                       Dataset("labels",
                               [&](const std::string& d) {
                                 std::string b = Bytes(d + tl);
                                 b[8 + 5] = 12;
                                 WriteBytes(d + tl, b);
                               }),
                       {tl + ": label 12 of record 5 out of range (expected 0..9)"});
  ExpectDatasetRefused(
      "d-count-mismatch",
      Dataset("count",
              [&](const std::string& d) { WriteBytes(d + tl, Idx({63}, std::string(63, '\1'))); }),
      {tl + ": 63 labels but", "holds 64 images"});
  ExpectDatasetRefused(
      "d-wrong-image-size",
      Dataset("size",
              [&](const std::string& d) {
                WriteBytes(d + tr, Idx({64, 32, 32}, std::string(64 * 32 * 32, '\0')));
              }),
      {"test images of another shape than the training images"});
  ExpectDatasetRefused("d-corrupt-gzip",
                       Dataset("gzip",
                               [&](const std::string& d) {
                                 fs::remove(d + tr);
                                 WriteBytes(d + tr + ".gz",
                                            "\x1f\x8b\x08\x00 not really gzip data");
                               }),
                       {tr + ".gz: "});
}

TEST_F(BadInputTest, CheckpointsNameTheFileAndWhatWasExpected) {
  const std::string good = Checkpoint();
  ASSERT_FALSE(good.empty());
  const std::string cfg = Config("ck");
  const std::string bytes = Bytes(good);
  const auto quantize = [&](const std::string& path, const std::string& config) {
    return RunCli("quantize " + path + " --config " + config + " --threads 1");
  };
  WriteBytes(P("half.pt"), bytes.substr(0, bytes.size() / 2));
  ExpectRefusal("c-truncated", quantize(P("half.pt"), cfg), 2,
                {P("half.pt") + ": not a factorize-nas checkpoint, or a corrupt one"});
  std::mt19937 rng(5);
  std::string random(bytes.size(), '\0');
  for (char& c : random) c = static_cast<char>(rng());
  WriteBytes(P("random.pt"), random);
  ExpectRefusal("c-random", quantize(P("random.pt"), cfg), 2,
                {P("random.pt") + ": not a factorize-nas checkpoint"});
  WriteBytes(P("empty.pt"), "");
  ExpectRefusal("c-empty", quantize(P("empty.pt"), cfg), 2, {P("empty.pt") + ": "});
  ExpectRefusal("c-missing", quantize(P("missing.pt"), cfg), 2,
                {P("missing.pt") + ": no such checkpoint"});
  ExpectRefusal("c-directory", quantize(dir_.string(), cfg), 2,
                {dir_.string() + ": is a directory, not a checkpoint file"});
  // One bit flipped in the largest stored tensor's bytes (the zip stores them
  // uncompressed; LibTorch's reader does not check the zip's CRC): the
  // checkpoint's own checksum refuses it.
  std::string flipped = bytes;
  const size_t data = flipped.find("data/0");
  ASSERT_NE(data, std::string::npos);
  const size_t at = data + 200;  // inside the record that follows its name
  ASSERT_LT(at, flipped.size());
  flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
  WriteBytes(P("flipped.pt"), flipped);
  ExpectRefusal("c-crc-corrupt", quantize(P("flipped.pt"), cfg), 2,
                {P("flipped.pt") + ": corrupt checkpoint (zip entry "});
  // Of another model (the config's width differs from the training's).
  ExpectRefusal("c-other-model",
                quantize(good, Config("wide", "synthetic", "width: 0.25, dense: [16]")), 2,
                {good + ": tensor 'stem.conv.weight' has shape", "another macro?"});
  EXPECT_EQ(Bytes(good), bytes);
}

TEST_F(BadInputTest, DatabasesAreNamedAndLeftByteForByte) {
  const std::string study = Study("other");
  std::mt19937 rng(7);
  std::string random(8192, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  WriteBytes(P("empty.db"), "");
  WriteBytes(P("random.db"), random);
  WriteBytes(P("truncated.db"), Bytes(study).substr(0, 4096));
  {
    SQLite::Database foreign(P("foreign.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    foreign.exec("CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada')");
  }
  fs::copy_file(study, P("newer.db"));
  {
    SQLite::Database newer(P("newer.db"), SQLite::OPEN_READWRITE);
    newer.exec("PRAGMA user_version = 999");
  }
  struct Case {
    std::string file;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"empty.db", {"empty"}},
      {"random.db", {"not"}},
      {"truncated.db", {"a damaged SQLite file"}},
      {"foreign.db", {"not a factorize-nas database"}},
      {"newer.db", {"written by a newer factorize-nas (schema version 999"}},
  };
  for (const auto& c : cases) {
    const std::string path = P(c.file), before = Bytes(path);
    std::vector<std::string> fragments = c.fragments;
    fragments.push_back(path + ": ");
    for (const char* command : {"status", "front", "trials", "resume"}) {
      ExpectRefusal(c.file + " " + command, RunCli(std::string(command) + " " + path), 2,
                    fragments);
    }
    EXPECT_EQ(Bytes(path), before) << c.file;
    EXPECT_FALSE(fs::exists(path + "-wal")) << c.file;
  }
  ExpectRefusal("missing", RunCli("status " + P("missing.db")), 2,
                {P("missing.db") + ": no such database"});
  EXPECT_FALSE(fs::exists(P("missing.db")));
  ExpectRefusal("directory", RunCli("front " + dir_.string()), 2,
                {dir_.string() + ": is a directory"});
  // Another study's database given to `search`.
  const std::string before = Bytes(study);
  ExpectRefusal("another study", RunCli("search " + Config("mine") + " --db " + study), 2,
                {study + " holds another study, 'other'"});
  EXPECT_EQ(Bytes(study), before);
}

TEST_F(BadInputTest, AReadOnlyFolderIsNamed) {
  // A database to create in a folder this user may not write (root may write
  // anywhere: run as nobody).
  const std::string ro = P("read-only");
  fs::create_directories(ro);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                          fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(dir_, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  const std::string cfg = Config("ro");
  fs::permissions(cfg, fs::perms::others_read, fs::perm_options::add);
  const std::string as_other =
      getuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  const auto r = testing::RunShell(as_other + FNAS_BINARY + " search " + cfg + " --db " + ro +
                                   "/s.db --evaluator scripted -q </dev/null");
  ExpectRefusal("read-only folder", r, 1, {ro + "/"});
  EXPECT_TRUE(fs::is_empty(ro));
}

TEST_F(BadInputTest, AFullDiskForTheDatabaseIsNamed) {
  const std::string full = P("full-disk");
  fs::create_directories(full);
  for (const char* unshare : {"unshare -m", "unshare -Urm"}) {
    if (testing::RunShell(std::string(unshare) + " true").code != 0) continue;
    const auto r =
        testing::RunShell(std::string(unshare) + " sh -c 'mount -t tmpfs -o size=12k tmpfs " +
                          full + " && exec " + FNAS_BINARY + " search " + Config("fulldb") +
                          " --db " + full + "/s.db --evaluator scripted -q </dev/null'");
    if (r.out.find("mount:") != std::string::npos) continue;
    ExpectRefusal("full disk", r, 1, {full + "/", "full"});
    return;
  }
  GTEST_SKIP() << "no tmpfs can be mounted here (needs root or user namespaces)";
}

}  // namespace
}  // namespace fnas
