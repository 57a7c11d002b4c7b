// Reliability promises of the command-line program (docs/reliability.md):
// queries never write, refused files stay byte-for-byte, two racing `search`
// commands leave the winner's study intact, corrupt checkpoints give one
// clear message, and the front program starts without LibTorch.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "db/store.h"
#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;
using testing::Spawn;
using testing::Wait;

class ReliabilityCliTest : public testing::TempDirTest {
 protected:
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  std::string WriteConfig(const std::string& name, int epochs = 2) const {
    const std::string path = P(name + ".yaml");
    std::ofstream(path) << "name: " << name << "\n"
                        << "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
                        << "space:\n  paths: [regular, depthwise, {uniform: [2, 4]}]\n"
                        << "data: {dataset: synthetic, validation: 256}\n"
                        << "training: {epochs: " << epochs << "}\n"
                        << "execution: {workers: 2}\n";
    return path;
  }
  static std::string Bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The query commands of `db`, in every format, each exiting `code`.
  static std::vector<std::string> Queries(const std::string& db) {
    std::vector<std::string> out;
    for (const char* format : {"table", "csv", "json"}) {
      for (const std::string& q :
           {"status " + db, "front " + db, "trials " + db, "show " + db + " 1"}) {
        out.push_back(q + " --format " + format);
      }
    }
    return out;
  }
};

TEST_F(ReliabilityCliTest, QueriesNeverWriteEvenInAReadOnlyFolder) {
  const std::string db = P("q.db");
  ASSERT_EQ(RunCli("search " + WriteConfig("q") + " --db " + db + " --evaluator scripted -q").code,
            0);
  const std::string before = Bytes(db);
  for (const auto& q : Queries(db)) {
    const auto r = RunCli(q);
    EXPECT_EQ(r.code, 0) << q << "\n" << r.out;
  }
  EXPECT_EQ(Bytes(db), before);
  // A folder the reader may not write (root may write anywhere: run as nobody).
  fs::remove(db + "-wal");
  fs::remove(db + "-shm");
  fs::permissions(dir_, fs::perms::others_read | fs::perms::others_exec | fs::perms::owner_all);
  const std::string as_other =
      getuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  if (getuid() != 0) fs::permissions(dir_, fs::perms::owner_write, fs::perm_options::remove);
  for (const auto& q : Queries(db)) {
    testing::CliResult r;
    const std::string cmd = as_other + FNAS_BINARY + " " + q + " 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
    const int status = pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << q << "\n" << r.out;
  }
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
  EXPECT_EQ(Bytes(db), before);
  EXPECT_FALSE(fs::exists(db + "-wal"));
}

TEST_F(ReliabilityCliTest, RefusedDatabasesNameThePathAndStayByteForByte) {
  std::mt19937 rng(5);
  std::string random(8192, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  std::ofstream(P("empty.db")).flush();
  std::ofstream(P("random.db"), std::ios::binary) << random;
  {
    SQLite::Database other(P("other.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    other.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  }
  ASSERT_EQ(
      RunCli("search " + WriteConfig("n") + " --db " + P("newer.db") + " --evaluator scripted -q")
          .code,
      0);
  SQLite::Database(P("newer.db"), SQLite::OPEN_READWRITE).exec("PRAGMA user_version = 42");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty.db", "empty file, not a study"},
      {"random.db", "not a factorize-nas database"},
      {"other.db", "not a factorize-nas database"},
      {"newer.db", "written by a newer factorize-nas"},
  };
  for (const auto& [name, fragment] : cases) {
    const std::string db = P(name), before = Bytes(db);
    std::vector<std::string> commands = Queries(db);
    commands.push_back("resume " + db + " --evaluator scripted");
    commands.push_back("search " + WriteConfig("x") + " --db " + db + " --evaluator scripted");
    for (const auto& c : commands) {
      const auto r = RunCli(c);
      EXPECT_EQ(r.code, 2) << c << "\n" << r.out;
      EXPECT_NE(r.out.find(db + ": " + fragment), std::string::npos) << c << "\n" << r.out;
    }
    EXPECT_EQ(Bytes(db), before) << name;
  }
}

TEST_F(ReliabilityCliTest, TwoRacingSearchesLeaveTheWinnersStudyIntact) {
  // Both load their data and find no file; one creates the study, the other
  // is refused without deleting anything (it used to remove the winner's
  // database, and the winner went on writing to an unlinked file).
  const std::string cfg = WriteConfig("race", 3), db = P("race.db");
  const pid_t a =
      Spawn({"search", cfg, "--db", db, "--evaluator", "scripted:epoch_ms=100"}, P("a.log"));
  const pid_t b =
      Spawn({"search", cfg, "--db", db, "--evaluator", "scripted:epoch_ms=100"}, P("b.log"));
  const int ra = Wait(a), rb = Wait(b);
  EXPECT_EQ(std::min(ra, rb), 0) << Bytes(P("a.log")) << Bytes(P("b.log"));
  EXPECT_EQ(std::max(ra, rb), 2) << Bytes(P("a.log")) << Bytes(P("b.log"));
  const std::string loser_log = Bytes(P(ra == 0 ? "b.log" : "a.log"));
  EXPECT_TRUE(loser_log.find("created by another process") != std::string::npos ||
              loser_log.find("already holds study 'race'") != std::string::npos)
      << loser_log;
  db::Store store(db, db::Store::Mode::kReadOnly);
  const auto trials = store.Trials();
  ASSERT_EQ(trials.size(), 4u);
  for (const auto& t : trials) EXPECT_EQ(t.state, db::TrialState::kComplete);
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find(".creating-"), std::string::npos) << e.path();
  }
}

TEST_F(ReliabilityCliTest, FrontProgramStartsWithoutLibTorch) {
  // The dynamic loader lists what the program would load, without running it.
  const std::string cmd = std::string("LD_TRACE_LOADED_OBJECTS=1 ") + FNAS_BINARY + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string libs;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) libs.append(buf, n);
  pclose(pipe);
  EXPECT_NE(libs.find("libsqlite3"), std::string::npos) << libs;
  EXPECT_EQ(libs.find("libtorch"), std::string::npos) << libs;
  EXPECT_EQ(libs.find("libc10"), std::string::npos) << libs;
  // --help lists the engine's commands too, and they run through it.
  const auto help = RunCli("--help");
  EXPECT_EQ(help.code, 0);
  for (const char* c : {"search", "resume", "train", "quantize", "export", "front", "status"}) {
    EXPECT_NE(help.out.find(std::string("  ") + c + " "), std::string::npos) << c << help.out;
  }
  const auto search_help = RunCli("search --help");
  EXPECT_EQ(search_help.code, 0);
  EXPECT_NE(search_help.out.find("--db"), std::string::npos) << search_help.out;
}

TEST_F(ReliabilityCliTest, CorruptCheckpointsGiveOneMessageWithoutStackTrace) {
  const std::string cfg = WriteConfig("ck", 1);
  std::mt19937 rng(9);
  std::string random(4096, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  std::ofstream(P("random.ckpt"), std::ios::binary) << random;
  std::ofstream(P("truncated.ckpt"), std::ios::binary) << "PK\x03\x04 truncated";
  for (const char* name : {"random.ckpt", "truncated.ckpt", "missing.ckpt"}) {
    const auto r = RunCli("quantize " + P(name) + " --config " + cfg);
    EXPECT_EQ(r.code, 2) << name << "\n" << r.out;
    EXPECT_NE(r.out.find(P(name) + ": "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Exception raised from"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("frame #"), std::string::npos) << r.out;
    EXPECT_LE(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
}

// Issue #11, problem 4: a search paused (Ctrl-Z) past its lease used to be
// declared dead; `resume` took over and on `fg` both processes exited 1 with
// the work of both aborted. Now `resume` takes over, finishes, and the old
// owner, continued, sees it lost the lease and exits 1 without writing.
TEST_F(ReliabilityCliTest, APausedOwnerLosesItsLeaseCleanlyOnContinue) {
  const std::string cfg = WriteConfig("paused", 4), db = P("paused.db");
  setenv("FNAS_LEASE_S", "1", 1);
  const pid_t old =
      Spawn({"search", cfg, "--db", db, "--evaluator", "scripted:epoch_ms=400"}, P("old.log"));
  // Wait until it has committed an epoch, then pause it.
  for (int i = 0; i < 300; ++i) {
    usleep(50000);
    if (!fs::exists(db)) continue;
    try {
      db::Store s(db, db::Store::Mode::kReadOnly);
      bool epoch = false;
      for (const auto& t : s.Trials()) epoch |= t.epochs_done > 0;
      if (epoch) break;
    } catch (const std::exception&) {
    }
  }
  ASSERT_EQ(kill(old, SIGSTOP), 0);
  usleep(300000);
  const auto status = RunCli("status " + db + " --format csv");
  EXPECT_NE(status.out.find("(paused"), std::string::npos) << status.out;
  usleep(1500000);  // past the 1 s lease
  const auto resumed = RunCli("resume " + db + " --evaluator scripted:epoch_ms=20 --quiet");
  kill(old, SIGCONT);
  const int old_code = Wait(old);
  unsetenv("FNAS_LEASE_S");
  EXPECT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_EQ(old_code, 1) << Bytes(P("old.log"));
  EXPECT_NE(Bytes(P("old.log")).find("lost the study: its lease ran out"), std::string::npos)
      << Bytes(P("old.log"));
  db::Store store(db, db::Store::Mode::kReadOnly);
  const auto trials = store.Trials();
  ASSERT_EQ(trials.size(), 4u);
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, db::TrialState::kComplete) << t.candidate_name << ": " << t.reason;
    EXPECT_EQ(t.epochs_done, 4);
  }
  EXPECT_FALSE(store.CurrentOwner().has_value());  // the new owner released it
  SQLite::Database raw(db, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

// Runs `args` with the study's checkpoint folder `ckpt` on a 4 KiB tmpfs (a
// full disk) in a private mount namespace; -1 if the machine allows none.
static int RunWithFullCheckpointDisk(const std::string& ckpt, const std::string& args,
                                     std::string* out) {
  for (const char* unshare : {"unshare -m", "unshare -Urm"}) {
    const auto probe = testing::RunShell(std::string(unshare) +
                                         " sh -c 'mount -t tmpfs -o size=4k tmpfs " + ckpt + "'");
    if (probe.code != 0) continue;
    const auto r =
        testing::RunShell(std::string(unshare) + " sh -c 'mount -t tmpfs -o size=4k tmpfs " + ckpt +
                          " && exec " + FNAS_BINARY + " " + args + " </dev/null'");
    *out = r.out;
    return r.code;
  }
  return -1;
}

// Issue #11, problem 2: with the checkpoint folder on a full disk every trial
// ended FAILED, the search exited 0, and after space was freed `resume` did
// nothing. Now the trial is INTERRUPTED ("environment: ... No space left on
// device"), no other trial starts, the search exits 1, and resume finishes it.
TEST_F(ReliabilityCliTest, AFullDiskInterruptsTheSearchAndResumeFinishesIt) {
  const std::string db = P("full.db"), ckpt = P("full.ckpt"), cfg = P("full.yaml");
  std::ofstream(cfg) << "name: full\n"
                     << "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
                     << "space:\n  paths: [regular, depthwise]\n"
                     << "data: {dataset: synthetic, synthetic_train: 160, synthetic_test: 40, "
                        "validation: 32}\n"
                     << "training: {epochs: 1, batch_size: 32}\n"
                     << "quantization: {calibration_samples: 32}\n"
                     << "storage: {checkpoints: " << ckpt << "}\n"
                     << "execution: {workers: 1}\n";
  fs::create_directories(ckpt);
  std::string out;
  const int code = RunWithFullCheckpointDisk(ckpt, "search " + cfg + " --db " + db, &out);
  if (code == -1) GTEST_SKIP() << "no tmpfs can be mounted here (needs root or user namespaces)";
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("No space left on device"), std::string::npos) << out;
  EXPECT_NE(out.find("INTERRUPTED, not FAILED"), std::string::npos) << out;
  EXPECT_EQ(out.find("Exception raised from"), std::string::npos) << out;
  {
    db::Store store(db, db::Store::Mode::kReadOnly);
    const auto trials = store.Trials();
    ASSERT_EQ(trials.size(), 1u);  // no trial started after the failure
    EXPECT_EQ(trials[0].state, db::TrialState::kInterrupted);
    EXPECT_EQ(trials[0].reason.rfind("environment: ", 0), 0u) << trials[0].reason;
  }
  // Space freed (the tmpfs is gone with its namespace): resume finishes it.
  const auto resumed = RunCli("resume " + db + " --quiet");
  EXPECT_EQ(resumed.code, 0) << resumed.out;
  db::Store store(db, db::Store::Mode::kReadOnly);
  const auto trials = store.Trials();
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& t : trials) EXPECT_EQ(t.state, db::TrialState::kComplete) << t.reason;
}

// A search whose every trial failed used to exit 0.
TEST_F(ReliabilityCliTest, ASearchWhoseEveryTrialFailedExits1) {
  const std::string cfg = WriteConfig("allfail", 2), db = P("allfail.db");
  const auto r =
      RunCli("search " + cfg + " --db " + db +
             " --evaluator scripted:fail=regular+depthwise+uniform-f2+uniform-f4 --quiet");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("every trial of this run failed (4)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--state FAILED"), std::string::npos) << r.out;
  // One success among failures is a normal search.
  const auto some = RunCli("search " + cfg + " --db " + P("some.db") +
                           " --evaluator scripted:fail=regular+depthwise --quiet");
  EXPECT_EQ(some.code, 0) << some.out;
}

}  // namespace
}  // namespace fnas
