#include "evaluators/train/checkpoint.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "space/plan.h"
#include "tests/testing/temp_dir.h"

namespace fnas::evaluators {
namespace {

namespace fs = std::filesystem;

space::MacroOptions SmallMacro() {
  space::MacroOptions m;
  m.in_channels = 1;
  m.in_height = m.in_width = 8;
  m.width = 0.125;
  m.dense = {16};
  m.classes = 4;
  return m;
}

std::string TempDir() {
  char tmpl[] = "/tmp/fnas_ckpt_XXXXXX";
  return mkdtemp(tmpl);
}

template <typename F>
std::string DataErrorOf(F f) {
  return testing::ErrorOf<DataError>(f);
}

TEST(Checkpoint, RoundTripsWeightsBuffersAndState) {
  const std::string dir = TempDir();
  const space::Macro macro(SmallMacro());
  const space::Candidate cand = space::MakeCandidate(macro, space::UniformFactorization(macro, 2));
  torch::manual_seed(1);
  space::FactorizeNet a(space::BuildPlan(macro, cand.f));
  // Make the BN running statistics non-trivial.
  a->train();
  a->forward(torch::randn({4, 1, 8, 8}));

  TrainingState s;
  s.candidate_key = cand.key;
  s.epoch = 3;
  s.records = {{1, 2.0, 0.25, 0.3, 0.01, 1.5, 100.0}, {2, 1.5, 0.5, 0.55, 0.001, 1.25, 120.0}};
  for (const auto& p : a->named_parameters()) s.momentum[p.key()] = torch::randn(p.value().sizes());
  at::Generator g = at::detail::createCPUGenerator(9);
  s.order_rng = g.get_state();
  s.augment_rng = at::detail::createCPUGenerator(10).get_state();
  const std::string path = CheckpointFile(dir + "/sub", cand);
  EXPECT_EQ(path, dir + "/sub/uniform-f2.ckpt");
  SaveCheckpoint(path, *a, s);
  ASSERT_TRUE(fs::exists(path));
  // Nothing but the checkpoint is left in the directory (the temporary was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir + "/sub"), fs::directory_iterator()), 1);

  torch::manual_seed(2);
  space::FactorizeNet b(space::BuildPlan(macro, cand.f));
  TrainingState r = LoadCheckpoint(path, *b);
  EXPECT_EQ(r.candidate_key, cand.key);
  EXPECT_EQ(r.epoch, 3);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[1].epoch, 2);
  EXPECT_DOUBLE_EQ(r.records[1].val_acc, 0.55);
  EXPECT_DOUBLE_EQ(r.records[1].images_per_s, 120.0);
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b->named_parameters()[p.key()])) << p.key();
    EXPECT_TRUE(torch::equal(s.momentum[p.key()], r.momentum.at(p.key()))) << p.key();
  }
  for (const auto& x : a->named_buffers()) {
    EXPECT_TRUE(torch::equal(x.value(), b->named_buffers()[x.key()])) << x.key();
  }
  // The RNG state continues the same sequence.
  at::Generator g2 = at::detail::createCPUGenerator(0);
  g2.set_state(r.order_rng);
  EXPECT_TRUE(
      torch::equal(torch::randperm(50, g, torch::kLong), torch::randperm(50, g2, torch::kLong)));

  LoadedModel m = LoadModelCheckpoint(path, macro);
  EXPECT_EQ(m.candidate.name, "uniform-f2");
  EXPECT_EQ(m.epoch, 3);
  EXPECT_FALSE(m.model->is_training());
  torch::Tensor x = torch::randn({2, 1, 8, 8});
  a->eval();
  EXPECT_TRUE(torch::equal(a->forward(x), m.model->forward(x)));
  fs::remove_all(dir);
}

TEST(Checkpoint, BadFilesNameThePath) {
  const std::string dir = TempDir();
  const space::Macro macro(SmallMacro());
  EXPECT_NE(DataErrorOf([&] {
              LoadModelCheckpoint(dir + "/none.ckpt", macro);
            }).find(dir + "/none.ckpt: no such checkpoint"),
            std::string::npos);
  { std::ofstream(dir + "/junk.ckpt") << "not a checkpoint"; }
  EXPECT_NE(DataErrorOf([&] {
              LoadModelCheckpoint(dir + "/junk.ckpt", macro);
            }).find("not a factorize-nas checkpoint"),
            std::string::npos);
  // A checkpoint of a network with another dense size.
  const space::Candidate cand = space::MakeCandidate(macro, space::RegularFactorization(macro));
  space::FactorizeNet a(space::BuildPlan(macro, cand.f));
  TrainingState s;
  s.candidate_key = cand.key;
  SaveCheckpoint(dir + "/r.ckpt", *a, s);
  space::MacroOptions other = SmallMacro();
  other.dense = {32};
  const std::string msg =
      DataErrorOf([&] { LoadModelCheckpoint(dir + "/r.ckpt", space::Macro(other)); });
  EXPECT_NE(msg.find("dense_1.weight' has shape [16, 128], the network expects [32, 128]"),
            std::string::npos)
      << msg;
  // Another candidate's checkpoint cannot be loaded into this network.
  space::FactorizeNet dw(space::BuildPlan(macro, space::DepthwiseFactorization(macro)));
  EXPECT_NE(
      DataErrorOf([&] { LoadCheckpoint(dir + "/r.ckpt", *dw); }).find("checkpoint of candidate"),
      std::string::npos);
  fs::remove_all(dir);
}

// Bytes damaged inside a tensor's data (LibTorch's reader does not check the
// zip's CRCs, so such a file used to load silently), a truncated file and a
// stale temporary of a killed writer.
TEST(Checkpoint, DamagedFilesAreRefusedByTheirChecksum) {
  const std::string dir = TempDir();
  const space::Macro macro(SmallMacro());
  const space::Candidate cand = space::MakeCandidate(macro, space::RegularFactorization(macro));
  space::FactorizeNet a(space::BuildPlan(macro, cand.f));
  TrainingState s;
  s.candidate_key = cand.key;
  s.epoch = 1;
  const std::string path = dir + "/r.ckpt";
  // A temporary left by a process that no longer exists (pid 2^22 + 1 is
  // above Linux's pid_max) is removed by the next write.
  { std::ofstream(dir + "/old.ckpt.tmp.4194305") << "half a checkpoint"; }
  SaveCheckpoint(path, *a, s);
  EXPECT_FALSE(fs::exists(dir + "/old.ckpt.tmp.4194305"));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The first weight tensor's data: the largest run of the stored records is
  // data; flip one bit in the middle of the file's tensor area.
  const size_t at = bytes.find("data/0");
  ASSERT_NE(at, std::string::npos);
  std::string damaged = bytes;
  const size_t target = at + 200;  // inside the record that follows its name
  ASSERT_LT(target, damaged.size());
  damaged[target] = static_cast<char>(damaged[target] ^ 0x10);
  std::ofstream(dir + "/bad.ckpt", std::ios::binary) << damaged;
  std::ofstream(dir + "/short.ckpt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  space::FactorizeNet b(space::BuildPlan(macro, cand.f));
  const std::string bad = DataErrorOf([&] { LoadCheckpoint(dir + "/bad.ckpt", *b); });
  EXPECT_NE(bad.find("bad.ckpt: corrupt checkpoint (zip entry "), std::string::npos) << bad;
  const std::string truncated = DataErrorOf([&] { LoadCheckpoint(dir + "/short.ckpt", *b); });
  EXPECT_NE(truncated.find("short.ckpt: not a factorize-nas checkpoint, or a corrupt one"),
            std::string::npos)
      << truncated;
  for (const std::string& m : {bad, truncated}) {
    EXPECT_EQ(m.find("Exception raised from"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  // The intact file still loads.
  EXPECT_EQ(LoadCheckpoint(path, *b).epoch, 1);
  fs::remove_all(dir);
}

// The regular candidate of SmallMacro: its network and a state to save.
struct Regular {
  space::Macro macro{SmallMacro()};
  space::Candidate cand = space::MakeCandidate(macro, space::RegularFactorization(macro));
  space::FactorizeNet net{space::BuildPlan(macro, cand.f)};
  TrainingState state = [this] {
    TrainingState s;
    s.candidate_key = cand.key;
    s.epoch = 1;
    return s;
  }();
  // Another network of the same candidate, to load into.
  space::FactorizeNet Fresh() const { return space::FactorizeNet(space::BuildPlan(macro, cand.f)); }
};

// Issue #11, problem 2: a write the file system refuses (here a file size
// limit, as a full disk would: no mount needed) is an EnvironmentError, which
// the search retries, not a failure of the candidate; the previous checkpoint
// stays and no temporary is left.
TEST(Checkpoint, AFullDiskIsAnEnvironmentErrorAndKeepsThePreviousFile) {
  const std::string dir = TempDir();
  Regular r;
  const std::string path = dir + "/r.ckpt";
  SaveCheckpoint(path, *r.net, r.state);
  const auto size = fs::file_size(path);
  ASSERT_GT(size, 8192u);
  const pid_t child = fork();
  if (child == 0) {
    signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
    const rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    r.state.epoch = 2;
    try {
      SaveCheckpoint(path, *r.net, r.state);
    } catch (const EnvironmentError& e) {
      const std::string m = e.what();
      _exit(m.find("cannot write the checkpoint: File too large") != std::string::npos ? 0 : 3);
    } catch (...) {
      _exit(2);
    }
    _exit(1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error, 2: not an EnvironmentError, 3: message";
  space::FactorizeNet b = r.Fresh();
  EXPECT_EQ(LoadCheckpoint(path, *b).epoch, 1);
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
  fs::remove_all(dir);
}

// Found by fuzz/checkpoint_fuzzer.cpp (fuzz/regressions/checkpoint/): a
// truncated archive made LibTorch's in-memory zip reader copy past the end of
// its buffer. Every prefix of a checkpoint is refused with a DataError.
TEST(Checkpoint, EveryTruncationIsRefused) {
  const std::string dir = TempDir();
  Regular r;
  SaveCheckpoint(dir + "/r.ckpt", *r.net, r.state);
  std::ifstream in(dir + "/r.ckpt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  space::FactorizeNet b = r.Fresh();
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 8) {
    std::ofstream(dir + "/cut.ckpt", std::ios::binary | std::ios::trunc) << bytes.substr(0, n);
    const std::string m = DataErrorOf([&] { LoadCheckpoint(dir + "/cut.ckpt", *b); });
    EXPECT_NE(m.find("cut.ckpt: not a factorize-nas checkpoint"), std::string::npos)
        << n << " bytes: " << m;
  }
  fs::remove_all(dir);
}

// The inputs fuzz/checkpoint_fuzzer.cpp stopped on: a truncation that made
// LibTorch's zip reader read past its buffer, and a damaged string length
// that made its unpickler reserve 4 GiB. Both are refused by the archive's
// CRCs before LibTorch reads them.
TEST(Checkpoint, FuzzerFindingsAreRefusedCheaply) {
  space::FactorizeNet b = Regular().Fresh();
  int files = 0;
  for (const auto& e : fs::directory_iterator(FNAS_SOURCE_DIR "/fuzz/regressions/checkpoint")) {
    ++files;
    const std::string path = e.path().string();
    const std::string m = DataErrorOf([&] { LoadCheckpoint(path, *b); });
    EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << m;
    EXPECT_NE(m.find("corrupt"), std::string::npos) << m;
  }
  EXPECT_GE(files, 2);
}

}  // namespace
}  // namespace fnas::evaluators
