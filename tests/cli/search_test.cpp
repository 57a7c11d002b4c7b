// The search, resume and query commands as a user runs them, with the
// scripted evaluator (hidden --evaluator option): no training. Includes a
// real kill -9 of a running `factorize-nas search` and Ctrl-C handling.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "db/store.h"
#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::RunCli;
using testing::Spawn;
using testing::Wait;

class SearchCliTest : public testing::TempDirTest {
 protected:
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  std::string WriteConfig(const std::string& name, const std::string& extra = "",
                          int epochs = 3) const {
    const std::string path = P(name + ".yaml");
    std::ofstream(path) << "name: " << name << "\n"
                        << "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
                        << "space:\n  paths: [regular, depthwise, {uniform: [2, 4]}]\n"
                        << "data: {dataset: synthetic}\n"
                        << "training: {epochs: " << epochs << "}\n"
                        << "execution: {workers: 2}\n"
                        << extra;
    return path;
  }

  // Waits until the study at `db` has committed at least `epochs` epochs in total.
  static bool WaitForEpochs(const std::string& db, int epochs) {
    return testing::WaitUntil([&] {
      int done = 0;
      for (const auto& t : TrialsOf(db)) done += t.epochs_done;
      return done >= epochs;
    });
  }
  // Waits until `n` trials are RUNNING.
  static bool WaitForRunning(const std::string& db, size_t n) {
    return testing::WaitUntil([&] { return TrialsOf(db).size() >= n; });
  }
  // The study's trials, or none while its file is not there or not readable yet.
  static std::vector<db::TrialRow> TrialsOf(const std::string& db) {
    if (!fs::exists(db)) return {};
    try {
      return db::Store(db, db::Store::Mode::kReadOnly).Trials();
    } catch (const std::exception&) {
      return {};
    }
  }
  static std::map<std::string, db::TrialRow> TrialsByKey(const std::string& path) {
    db::Store store(path, db::Store::Mode::kReadOnly);
    std::map<std::string, db::TrialRow> out;
    for (const auto& t : store.Trials()) out[t.candidate_key] = t;
    return out;
  }
};

TEST_F(SearchCliTest, SearchThenQueryInEveryFormat) {
  const std::string cfg = WriteConfig("q");
  const std::string db = P("q.db");
  auto r = RunCli("search " + cfg + " --db " + db + " --evaluator scripted");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("trial 1 regular"), std::string::npos) << r.out;  // plain log lines
  EXPECT_NE(r.out.find("done: 4 trials"), std::string::npos) << r.out;

  r = RunCli("front " + db + " --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto front = nlohmann::json::parse(r.out);
  ASSERT_EQ(front.size(), 4u);  // accuracy falls with every factorization step here
  EXPECT_EQ(front[0]["candidate"], "depthwise");
  EXPECT_EQ(front[3]["candidate"], "regular");
  for (size_t i = 1; i < front.size(); ++i) {
    EXPECT_LT(front[i - 1]["macs_conv"].get<int64_t>(), front[i]["macs_conv"].get<int64_t>());
  }
  r = RunCli("front " + db + " --metric fp32 --format csv");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("trial_id,candidate,factorization,macs_conv", 0), 0u) << r.out;

  r = RunCli("trials " + db + " --state COMPLETE --format csv");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5) << r.out;
  r = RunCli("trials " + db + " --state FAILED --format csv");
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(RunCli("trials " + db + " --state DONE").code, 2);

  r = RunCli("show " + db + " uniform-f2 --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto show = nlohmann::json::parse(r.out);
  EXPECT_EQ(show["trial"]["candidate"], "uniform-f2");
  EXPECT_EQ(show["epochs"].size(), 3u);
  EXPECT_EQ(show["layers"].size(), 8u);
  EXPECT_FALSE(show["layerwise"].empty());
  r = RunCli("show " + db + " 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("depthwise separable"), std::string::npos) << r.out;
  EXPECT_EQ(RunCli("show " + db + " 99").code, 2);

  r = RunCli("status " + db + " --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto status = nlohmann::json::parse(r.out);
  EXPECT_EQ(status[0]["state"], "finished");
  EXPECT_EQ(status[0]["complete"], 4);
  EXPECT_EQ(status[0]["pending"], 0);
}

TEST_F(SearchCliTest, SearchRefusesAnExistingStudyAndPointsToResume) {
  const std::string cfg = WriteConfig("twice");
  const std::string db = P("twice.db");
  ASSERT_EQ(RunCli("search " + cfg + " --db " + db + " --evaluator scripted --quiet").code, 0);
  const auto r = RunCli("search " + cfg + " --db " + db + " --evaluator scripted");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("factorize-nas resume " + db), std::string::npos) << r.out;
  // Resume of a finished study has nothing to do and changes nothing.
  const auto before = TrialsByKey(db);
  const auto again = RunCli("resume " + db + " --evaluator scripted");
  EXPECT_EQ(again.code, 0) << again.out;
  const auto after = TrialsByKey(db);
  for (const auto& [key, t] : before) EXPECT_EQ(after.at(key).ended_at, t.ended_at);
}

TEST_F(SearchCliTest, BadInputLeavesNoDatabaseBehind) {
  const std::string db = P("bad.db");
  // An invalid config.
  const std::string bad = P("bad.yaml");
  std::ofstream(bad) << "name: bad\nspace: {paths: [regular]}\ntraining: {epochs: 0}\n";
  auto r = RunCli("search " + bad + " --db " + db + " --evaluator scripted");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("training.epochs"), std::string::npos) << r.out;
  // CUDA asked of a CPU-only LibTorch.
  r = RunCli("search " + WriteConfig("gpu", "", 3) + " --db " + db + " --evaluator scripted");
  ASSERT_EQ(r.code, 0) << r.out;  // (sanity: the same config on cpu works)
  fs::remove(db);
  std::ofstream(P("gpu2.yaml")) << ReadFile(P("gpu.yaml")) << "";
  const std::string gpu = P("gpu2.yaml");
  {
    std::string text = ReadFile(gpu);
    text.replace(text.find("execution: {workers: 2}"), 23, "execution: {workers: 2, device: cuda}");
    std::ofstream(gpu) << text;
  }
  r = RunCli("search " + gpu + " --db " + db + " --evaluator scripted");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("execution.device = 'cuda'"), std::string::npos) << r.out;
  // An unknown evaluator.
  r = RunCli("search " + WriteConfig("ev") + " --db " + db + " --evaluator nonesuch");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_FALSE(fs::exists(db));
  EXPECT_FALSE(fs::exists(db + "-wal"));
  // A file that is not ours is refused and left alone.
  std::ofstream(db) << "my notes\n";
  r = RunCli("search " + WriteConfig("notes") + " --db " + db + " --evaluator scripted");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("not a factorize-nas database"), std::string::npos) << r.out;
  EXPECT_EQ(ReadFile(db), "my notes\n");
}

TEST_F(SearchCliTest, FailedTrialIsRecordedAndTheSearchGoesOn) {
  const std::string db = P("f.db");
  const auto r = RunCli("search " + WriteConfig("f") + " --db " + db +
                        " --evaluator scripted:fail=depthwise --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto trials = TrialsByKey(db);
  ASSERT_EQ(trials.size(), 4u);
  int failed = 0;
  for (const auto& [key, t] : trials) {
    if (t.state == db::TrialState::kFailed) {
      ++failed;
      EXPECT_EQ(t.candidate_name, "depthwise");
      EXPECT_NE(t.reason.find("scripted failure"), std::string::npos);
    }
  }
  EXPECT_EQ(failed, 1);
}

TEST_F(SearchCliTest, ResumeAfterKill9EqualsAnUninterruptedRun) {
  const std::string cfg = WriteConfig("k", "", 4);
  const std::string ref = P("ref.db"), db = P("k.db");
  ASSERT_EQ(RunCli("search " + cfg + " --db " + ref + " --evaluator scripted --quiet").code, 0);

  const pid_t pid =
      Spawn({"search", cfg, "--db", db, "--evaluator", "scripted:epoch_ms=300"}, P("k.log"));
  ASSERT_TRUE(WaitForEpochs(db, 2)) << ReadFile(P("k.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(120));  // mid-epoch
  kill(pid, SIGKILL);
  ASSERT_EQ(Wait(pid), -SIGKILL);
  {
    const auto killed = TrialsByKey(db);
    bool running = false;
    for (const auto& [key, t] : killed) running |= t.state == db::TrialState::kRunning;
    EXPECT_TRUE(running);  // left behind by the dead process
    const auto status = RunCli("status " + db + " --format json");
    ASSERT_EQ(status.code, 0) << status.out;
    const auto s = nlohmann::json::parse(status.out);
    EXPECT_EQ(s[0]["state"], "stopped");
    EXPECT_EQ(s[0]["running"], 0);
    EXPECT_GE(s[0]["stale"].get<int>(), 1);
  }
  const auto r = RunCli("resume " + db + " --evaluator scripted");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resumes after epoch"), std::string::npos) << r.out;
  const auto want = TrialsByKey(ref), got = TrialsByKey(db);
  ASSERT_EQ(got.size(), 4u);  // no duplicates
  int restarted = 0;
  for (const auto& [key, t] : want) {
    const db::TrialRow& g = got.at(key);
    EXPECT_EQ(g.state, db::TrialState::kComplete) << key;
    EXPECT_EQ(g.epochs_done, 4);
    EXPECT_DOUBLE_EQ(g.test.acc_q, t.test.acc_q) << key;
    EXPECT_DOUBLE_EQ(g.test.qmse, t.test.qmse) << key;
    restarted += g.attempts > 1;
  }
  EXPECT_GE(restarted, 1);
  db::Store store(db, db::Store::Mode::kReadWrite);
  EXPECT_FALSE(store.CurrentOwner().has_value());
}

TEST_F(SearchCliTest, QuietPrintsNothingWhenAllGoesWell) {
  const std::string cfg = WriteConfig("quiet");
  // The same run without --quiet prints its progress and outcome.
  const auto loud = RunCli("search " + cfg + " --db " + P("loud.db") + " --evaluator scripted");
  ASSERT_EQ(loud.code, 0) << loud.out;
  EXPECT_NE(loud.out.find("done: 4 trials"), std::string::npos) << loud.out;
  const auto quiet =
      RunCli("search " + cfg + " --db " + P("quiet.db") + " --evaluator scripted --quiet");
  EXPECT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.out, "");  // stdout and stderr
  const auto resumed = RunCli("resume " + P("quiet.db") + " --evaluator scripted --quiet");
  EXPECT_EQ(resumed.code, 0);
  EXPECT_EQ(resumed.out, "");
  EXPECT_EQ(TrialsByKey(P("quiet.db")).size(), 4u);
}

TEST_F(SearchCliTest, SecondProcessOnTheSameStudyIsRefused) {
  const std::string cfg = WriteConfig("two", "", 4);
  const std::string db = P("two.db");
  const pid_t pid =
      // Slow enough epochs that the study is still running when the second
      // process has started (loading LibTorch takes seconds on a busy machine).
      Spawn({"search", cfg, "--db", db, "--evaluator", "scripted:epoch_ms=1500"}, P("two.log"));
  ASSERT_TRUE(WaitForEpochs(db, 1)) << ReadFile(P("two.log"));
  const auto r = RunCli("resume " + db + " --evaluator scripted");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("being run by process " + std::to_string(pid)), std::string::npos) << r.out;
  kill(pid, SIGINT);
  EXPECT_EQ(Wait(pid), 130);
}

TEST_F(SearchCliTest, CtrlCInterruptsCleanlyAndResumeFinishes) {
  const std::string cfg = WriteConfig("c", "", 4);
  const std::string db = P("c.db");
  // Epochs long enough (24 s in all) that the search still runs when Ctrl-C comes,
  // even when `status` takes seconds to start on a busy machine.
  const pid_t pid =
      Spawn({"search", cfg, "--db", db, "--evaluator", "scripted:epoch_ms=3000"}, P("c.log"));
  ASSERT_TRUE(WaitForEpochs(db, 1)) << ReadFile(P("c.log"));
  {
    const auto status = RunCli("status " + db + " --format json");
    ASSERT_EQ(status.code, 0) << status.out;
    const auto s = nlohmann::json::parse(status.out);
    EXPECT_EQ(s[0]["state"], "running");
    EXPECT_GE(s[0]["running"].get<int>(), 1);
    EXPECT_EQ(s[0]["stale"], 0);
    EXPECT_NE(s[0]["owner"].get<std::string>().find(std::to_string(pid) + "@"), std::string::npos);
  }
  kill(pid, SIGINT);
  EXPECT_EQ(Wait(pid), 130);
  const std::string log = ReadFile(P("c.log"));
  EXPECT_NE(log.find("stopping"), std::string::npos) << log;
  EXPECT_NE(log.find("continue with: factorize-nas resume " + db), std::string::npos) << log;
  const auto stopped = TrialsByKey(db);
  int interrupted = 0;
  for (const auto& [key, t] : stopped) {
    EXPECT_NE(t.state, db::TrialState::kRunning) << key;
    if (t.state == db::TrialState::kInterrupted) {
      ++interrupted;
      EXPECT_EQ(t.checkpoint_epoch, t.epochs_done);  // finished its epoch, checkpointed
      EXPECT_TRUE(fs::exists(t.checkpoint));
    }
  }
  EXPECT_GE(interrupted, 1);
  EXPECT_LT(stopped.size(), 4u + 1);

  const auto r = RunCli("resume " + db + " --evaluator scripted --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto done = TrialsByKey(db);
  ASSERT_EQ(done.size(), 4u);
  for (const auto& [key, t] : done) EXPECT_EQ(t.state, db::TrialState::kComplete) << key;
}

TEST_F(SearchCliTest, SecondCtrlCExitsAtOnceLeavingAConsistentDatabase) {
  const std::string cfg = WriteConfig("cc", "", 4);
  const std::string db = P("cc.db");
  const pid_t pid =
      Spawn({"search", cfg, "--db", db, "--evaluator", "scripted:epoch_ms=5000"}, P("cc.log"));
  ASSERT_TRUE(WaitForRunning(db, 2)) << ReadFile(P("cc.log"));
  kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(pid, SIGINT);
  EXPECT_EQ(Wait(pid), 130);
  EXPECT_NE(ReadFile(P("cc.log")).find("interrupted again"), std::string::npos);
  // It did not wait for the running trials' 5 s first epoch to end.
  for (const auto& [key, t] : TrialsByKey(db)) {
    EXPECT_EQ(t.state, db::TrialState::kRunning) << key;
    EXPECT_EQ(t.epochs_done, 0) << key;
  }
  {
    SQLite::Database check(db, SQLite::OPEN_READWRITE);
    EXPECT_EQ(check.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  const auto r = RunCli("resume " + db + " --evaluator scripted --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto& [key, t] : TrialsByKey(db)) EXPECT_EQ(t.state, db::TrialState::kComplete);
}

}  // namespace
}  // namespace fnas
