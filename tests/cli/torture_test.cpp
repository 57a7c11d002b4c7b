// The kill-and-resume torture test (issue #11, docs/reliability.md): a small
// real search (synthetic data, 4 candidates, 12 epochs, 2 workers, the rung
// machinery of pruning on, deterministic) is killed with SIGKILL at 22 points
// chosen inside every phase (common/crashpoint.h: mid-epoch, a checkpoint
// written but not renamed, renamed but not committed, inside a database
// transaction, during calibration, at a rung, when a trial starts and between
// trials) and at random moments, stopped with SIGTERM and SIGINT, paused with
// SIGSTOP/SIGCONT, and resumed by two racing processes. After every kill the
// database passes PRAGMA integrity_check and holds each candidate at most
// once; at the end every candidate has exactly one final trial, no checkpoint
// is half-written or orphaned, and the trials table equals that of an
// uninterrupted run, number for number.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "db/store.h"
#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::Spawn;
using testing::Wait;

class TortureTest : public testing::TempDirTest {
 protected:
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  std::string WriteConfig(const std::string& name) const {
    const std::string path = P(name + ".yaml");
    std::ofstream(path)
        << "name: torture\n"
        << "seed: 11\n"
        << "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
        << "space:\n  paths: [regular, depthwise, {uniform: [2, 4]}]\n"
        << "data: {dataset: synthetic, synthetic_train: 192, synthetic_test: 64, validation: "
           "32}\n"
        << "training: {epochs: 16, batch_size: 32}\n"
        << "quantization: {calibration_samples: 32}\n"
        // Rung evaluations and decisions at epoch 2; min_peers keeps every
        // trial, so that the result does not depend on the order of arrival.
        << "pruning: {pruner: quant-aware, rungs: [2], min_peers: 1000}\n"
        << "search: {record_every: 1}\n"
        << "execution: {workers: 2, deterministic: true}\n"
        << "storage: {checkpoints: " << P(name + ".ckpt") << "}\n";
    return path;
  }
  static std::string Bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Epochs committed so far (0 while there is no database).
  static int EpochsDone(const std::string& db) {
    if (!fs::exists(db)) return 0;
    try {
      db::Store store(db, db::Store::Mode::kReadOnly);
      int n = 0;
      for (const auto& t : store.Trials()) n += t.epochs_done;
      return n;
    } catch (const std::exception&) {
      return 0;
    }
  }
  // Whether the spawned `pid` has exited (it stays a zombie until Wait).
  static bool Exited(pid_t pid) {
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
  }
  // What must hold after every kill: an intact file, no candidate twice.
  static void ExpectConsistent(const std::string& db, const std::string& when) {
    if (!fs::exists(db)) return;  // killed before the study's file appeared
    SQLite::Database raw(db, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok") << when;
    EXPECT_EQ(raw.execAndGet("SELECT count(*) - count(DISTINCT candidate_id) FROM trials").getInt(),
              0)
        << when;
    SQLite::Statement fk(raw, "PRAGMA foreign_key_check");
    EXPECT_FALSE(fk.executeStep()) << when;  // no row: no dangling reference
  }
  // The first `search`, or `resume` once the study exists.
  std::vector<std::string> RunArgs(const std::string& cfg, const std::string& db) const {
    if (fs::exists(db)) return {"resume", db, "--quiet"};
    return {"search", cfg, "--db", db, "--quiet"};
  }
};

TEST_F(TortureTest, KilledAtEveryPhaseAndResumedEqualsAnUninterruptedRun) {
  // The reference: one uninterrupted run.
  const std::string ref_db = P("reference.db");
  const auto ref =
      testing::RunCli("search " + WriteConfig("reference") + " --db " + ref_db + " --quiet");
  ASSERT_EQ(ref.code, 0) << ref.out;

  const std::string cfg = WriteConfig("torture"), db = P("torture.db");
  int runs = 0;
  // A log per run; `log` is the latest.
  std::string log;
  const auto next_log = [&] { return log = P("run-" + std::to_string(++runs) + ".log"); };
  // SIGKILL inside every phase, several times each, as the study advances.
  // Each kill comes early in its run (the N-th hit counts from the run's
  // start), so that the study, 64 epochs in all, outlasts them on any
  // machine (with 24, a fast one finished it after 19 kills; with 48, the
  // last partial wave starting beside the others (execution.tail_share)
  // finished it after 19 too).
  const std::vector<std::pair<std::string, int>> points = {{"trial-started", 1},
                                                           {"batch", 1},
                                                           {"checkpoint-written", 1},
                                                           {"checkpoint-renamed", 1},
                                                           {"transaction", 3},
                                                           {"calibration", 1},
                                                           {"batch", 8},
                                                           {"rung", 1},
                                                           {"checkpoint-written", 2},
                                                           {"transaction", 6},
                                                           {"calibration", 2},
                                                           {"checkpoint-renamed", 2},
                                                           {"trial-started", 2},
                                                           {"batch", 3},
                                                           {"transaction", 12},
                                                           {"rung", 1},
                                                           {"checkpoint-written", 1},
                                                           {"calibration", 1},
                                                           {"trial-complete", 1},
                                                           {"checkpoint-renamed", 1},
                                                           {"transaction", 4},
                                                           {"trial-complete", 1}};
  int killed = 0;
  std::string history;
  for (const auto& [point, n] : points) {
    const int code =
        Wait(Spawn(RunArgs(cfg, db), next_log(),
                   {{"FNAS_CRASH_AT", point}, {"FNAS_CRASH_AFTER", std::to_string(n)}}));
    history += point + "#" + std::to_string(n) + " -> " + std::to_string(code) + "\n";
    EXPECT_TRUE(code == -SIGKILL || code == 0) << history << Bytes(log);
    killed += code == -SIGKILL;
    ExpectConsistent(db, history);
  }
  // At random moments.
  std::mt19937 rng(2026);
  for (int i = 0; i < 3; ++i) {
    const int before = EpochsDone(db);
    const pid_t pid = Spawn(RunArgs(cfg, db), next_log());
    // Once it made progress, a random moment later.
    testing::WaitUntil([&] { return EpochsDone(db) > before || Exited(pid); });
    usleep(std::uniform_int_distribution<int>(0, 400000)(rng));
    kill(pid, SIGKILL);
    const int code = Wait(pid);
    history += "random kill -> " + std::to_string(code) + "\n";
    killed += code == -SIGKILL;
    ExpectConsistent(db, history);
  }
  EXPECT_GE(killed, 20) << history;
  // SIGTERM and SIGINT: a clean stop (130), trials INTERRUPTED or finished.
  for (const int sig : {SIGTERM, SIGINT}) {
    const int before = EpochsDone(db);
    const pid_t pid = Spawn(RunArgs(cfg, db), next_log());
    testing::WaitUntil([&] { return EpochsDone(db) > before || Exited(pid); });
    kill(pid, sig);
    const int code = Wait(pid);
    history += std::string(strsignal(sig)) + " -> " + std::to_string(code) + "\n";
    EXPECT_TRUE(code == 130 || code == 0) << history << Bytes(log);
    ExpectConsistent(db, history);
    db::Store store(db, db::Store::Mode::kReadOnly);
    for (const auto& t : store.Trials()) {
      EXPECT_NE(t.state, db::TrialState::kRunning) << history << "trial " << t.id;
    }
  }
  // SIGSTOP for a while (shorter than the lease), then SIGCONT: it goes on.
  // Two racing processes finish the study: one runs it, the other is refused
  // (or finds nothing left).
  {
    const pid_t a = Spawn(RunArgs(cfg, db), next_log());
    usleep(300000);
    kill(a, SIGSTOP);
    const pid_t b = Spawn({"resume", db, "--quiet"}, P("b.log"));
    usleep(1500000);
    kill(a, SIGCONT);
    const int ca = Wait(a), cb = Wait(b);
    history += "stopped+continued -> " + std::to_string(ca) + ", racer -> " + std::to_string(cb);
    EXPECT_TRUE(ca == 0 || ca == 1) << history << Bytes(log);
    EXPECT_TRUE(cb == 0 || cb == 1) << history << Bytes(P("b.log"));
    EXPECT_TRUE(ca == 0 || cb == 0) << history;
    if (cb == 1) {
      EXPECT_NE(Bytes(P("b.log")).find("the study is being run by process"), std::string::npos)
          << Bytes(P("b.log"));
    }
  }
  const auto last = testing::RunCli("resume " + db + " --quiet");
  EXPECT_EQ(last.code, 0) << last.out;
  ExpectConsistent(db, "at the end");

  // Every candidate exactly once, finished; the same numbers as the reference.
  db::Store store(db, db::Store::Mode::kReadOnly), reference(ref_db, db::Store::Mode::kReadOnly);
  std::map<std::string, db::TrialRow> want;
  for (const auto& t : reference.Trials()) want[t.candidate_key] = t;
  const auto trials = store.Trials();
  ASSERT_EQ(trials.size(), want.size());
  ASSERT_EQ(trials.size(), 4u);
  for (const auto& t : trials) {
    const db::TrialRow& w = want.at(t.candidate_key);
    EXPECT_EQ(t.state, db::TrialState::kComplete) << t.candidate_name << ": " << t.reason;
    EXPECT_EQ(t.epochs_done, w.epochs_done) << t.candidate_name;
    EXPECT_EQ(t.test.images, w.test.images) << t.candidate_name;
    EXPECT_EQ(t.test.acc_fp32, w.test.acc_fp32) << t.candidate_name;
    EXPECT_EQ(t.test.acc_q, w.test.acc_q) << t.candidate_name;
    EXPECT_EQ(t.test.qmse, w.test.qmse) << t.candidate_name;
    EXPECT_EQ(t.test.qce, w.test.qce) << t.candidate_name;
  }
  // Checkpoints: exactly the committed one of each trial; no temporary.
  std::set<std::string> committed, on_disk;
  for (const auto& t : trials) {
    ASSERT_FALSE(t.checkpoint.empty()) << t.candidate_name;
    committed.insert(fs::weakly_canonical(t.checkpoint).string());
  }
  for (const auto& e : fs::recursive_directory_iterator(P("torture.ckpt"))) {
    if (e.is_regular_file()) on_disk.insert(fs::weakly_canonical(e.path()).string());
  }
  EXPECT_EQ(on_disk, committed) << history;
}

}  // namespace
}  // namespace fnas
