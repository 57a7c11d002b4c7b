// `factorize-nas search/resume --mpi` under mpirun on this machine
// (oversubscribed: more ranks than cores): the same study rows as one
// process; a worker rank killed with SIGKILL ends the job, and `resume` on
// another number of ranks loses nothing and duplicates nothing; one tiny real
// training proves that specs and records round-trip with the real evaluator.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "db/store.h"
#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace fnas {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::RunCli;
using testing::RunShell;

// mpirun as this machine allows it: root needs the permission, and more ranks
// than cores need --oversubscribe.
std::string Mpirun(int ranks) {
  std::string cmd = std::string(FNAS_MPIEXEC) + " --oversubscribe -np " + std::to_string(ranks);
  if (getuid() == 0) cmd += " --allow-run-as-root";
  return cmd + " " + FNAS_BINARY + " ";
}

class MpiTest : public testing::TempDirTest {
 protected:
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  std::string WriteConfig(const std::string& name, int epochs, const std::string& extra = "") {
    const std::string path = P(name + ".yaml");
    std::ofstream(path) << "name: " << name << "\n"
                        << "seed: 3\n"
                        << "model: {input: [1, 28, 28], width: 0.125, dense: [16]}\n"
                        << "space:\n  paths: [regular, {uniform: [2, 4, 8]}, depthwise]\n"
                        << "data: {dataset: synthetic}\n"
                        << "training: {epochs: " << epochs << "}\n"
                        << "search: {record_every: 1}\n"
                        << "execution: {workers: 1, deterministic: true}\n"
                        << extra;
    return path;
  }

  static std::map<std::string, db::TrialRow> TrialsByKey(const std::string& path) {
    db::Store store(path, db::Store::Mode::kReadOnly);
    std::map<std::string, db::TrialRow> out;
    for (const auto& t : store.Trials()) out[t.candidate_key] = t;
    return out;
  }
  static int EpochsDone(const std::string& path) {
    if (!fs::exists(path)) return 0;
    try {
      int done = 0;
      for (const auto& t : db::Store(path, db::Store::Mode::kReadOnly).Trials()) {
        done += t.epochs_done;
      }
      return done;
    } catch (const std::exception&) {
      return 0;
    }
  }
  // The pid of the process of MPI rank `rank` started (directly) by `parent`.
  static pid_t RankPid(pid_t parent, int rank) {
    const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::istringstream stat(ReadFile(e.path() / "stat"));
      std::string pid, comm, state;
      pid_t ppid = 0;
      stat >> pid >> comm >> state >> ppid;
      if (ppid != parent) continue;
      const std::string env = ReadFile(e.path() / "environ");
      std::istringstream vars(env);
      std::string var;
      while (std::getline(vars, var, '\0')) {
        if (var == want) return std::stoi(name);
      }
    }
    return 0;
  }
};

TEST_F(MpiTest, ThreeRanksGiveTheTrialsTableOfOneProcess) {
  const std::string cfg = WriteConfig("same", 3);
  auto r = RunCli("search " + cfg + " --db " + P("one.db") + " --evaluator scripted --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunShell(Mpirun(3) + "search " + cfg + " --db " + P("mpi.db") +
               " --mpi --evaluator scripted </dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("mpi: 2 worker rank(s), 2 trial slot(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("done: 5 trials"), std::string::npos) << r.out;

  // The tables as a user reads them, but for the columns of time and place.
  const auto columns = [](const std::string& db) {
    const auto t = nlohmann::json::parse(RunCli("trials " + db + " --format json").out);
    std::map<std::string, std::string> out;
    for (auto row : t) {
      for (const char* k : {"trial", "worker", "host", "pid", "started", "ended", "seconds",
                            "started_at", "ended_at", "heartbeat"}) {
        row.erase(k);
      }
      out[row["candidate"].get<std::string>()] = row.dump();
    }
    return out;
  };
  const auto one = columns(P("one.db")), mpi = columns(P("mpi.db"));
  ASSERT_EQ(one.size(), 5u);
  EXPECT_EQ(mpi, one);
  const auto a = TrialsByKey(P("one.db")), b = TrialsByKey(P("mpi.db"));
  ASSERT_EQ(a.size(), b.size());
  db::Store sa(P("one.db"), db::Store::Mode::kReadOnly),
      sb(P("mpi.db"), db::Store::Mode::kReadOnly);
  for (const auto& [key, t] : a) {
    const db::TrialRow& u = b.at(key);
    EXPECT_EQ(u.state, db::TrialState::kComplete);
    EXPECT_EQ(u.test.qmse, t.test.qmse) << key;  // carried through every checkpoint
    EXPECT_EQ(sb.Epochs(u.id).size(), sa.Epochs(t.id).size());
    EXPECT_EQ(sb.Layers(u.id).size(), sa.Layers(t.id).size());
  }
}

TEST_F(MpiTest, AKilledWorkerRankEndsTheJobAndResumeOnTwoRanksFinishesIt) {
  const std::string cfg = WriteConfig("kill", 4);
  ASSERT_EQ(RunCli("search " + cfg + " --db " + P("ref.db") + " --evaluator scripted --quiet").code,
            0);

  const std::string db = P("k.db");
  const pid_t mpirun = fork();
  if (mpirun == 0) {
    const std::string cmd = "exec " + Mpirun(3) + "search " + cfg + " --db " + db +
                            " --mpi --evaluator scripted:epoch_ms=400 > " + P("k.log") +
                            " 2>&1 </dev/null";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_TRUE(testing::WaitUntil([&] { return EpochsDone(db) >= 3; })) << ReadFile(P("k.log"));
  const pid_t worker = RankPid(mpirun, 1), owner = RankPid(mpirun, 0);
  ASSERT_GT(worker, 0) << "no rank 1 under mpirun " << mpirun;
  ASSERT_GT(owner, 0) << "no rank 0 under mpirun " << mpirun;
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  const int code = testing::Wait(mpirun);
  EXPECT_NE(code, 0) << ReadFile(P("k.log"));  // the job ends
  // mpirun may return before rank 0 has finished stopping: the study is its
  // until it exits (gone, or a zombie no one has reaped yet).
  ASSERT_TRUE(testing::WaitUntil([&] {
    std::istringstream stat(ReadFile("/proc/" + std::to_string(owner) + "/stat"));
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    return state.empty() || state == "Z";
  })) << "rank 0 (pid "
      << owner << ") did not exit after mpirun";
  const auto killed = TrialsByKey(db);
  int unfinished = 0;  // RUNNING (killed), or INTERRUPTED (stopped by mpirun's SIGTERM)
  for (const auto& [key, t] : killed) {
    unfinished += t.state == db::TrialState::kRunning || t.state == db::TrialState::kInterrupted;
  }
  EXPECT_GE(unfinished, 1);  // left behind: resume continues them from their checkpoints

  const auto r = RunShell(Mpirun(2) + "resume " + db + " --mpi --evaluator scripted </dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resumes after epoch"), std::string::npos) << r.out;
  const auto want = TrialsByKey(P("ref.db")), got = TrialsByKey(db);
  ASSERT_EQ(got.size(), want.size());  // no duplicates
  db::Store store(db, db::Store::Mode::kReadOnly);
  int restarted = 0;
  for (const auto& [key, t] : want) {
    const db::TrialRow& g = got.at(key);
    EXPECT_EQ(g.state, db::TrialState::kComplete) << key;
    EXPECT_EQ(g.epochs_done, 4) << key;
    EXPECT_EQ(g.test.acc_q, t.test.acc_q) << key;
    EXPECT_EQ(g.test.qmse, t.test.qmse) << key;       // the state went through the checkpoint
    EXPECT_EQ(store.Epochs(g.id).size(), 4u) << key;  // every epoch once
    restarted += g.attempts > 1;
  }
  EXPECT_GE(restarted, 1);
  EXPECT_FALSE(store.CurrentOwner().has_value());
}

TEST_F(MpiTest, AWorkerThatCannotSetUpStopsEveryRankWithExit2) {
  const std::string cfg = WriteConfig("bad", 2);
  const auto r = RunShell(Mpirun(3) + "search " + cfg + " --db " + P("bad.db") +
                          " --mpi --evaluator scripted:epoch_ms=fast </dev/null");
  EXPECT_EQ(r.code, 2) << r.out;
  // Both workers fail alike; rank 0 names whichever it hears from first.
  const bool named = r.out.find("error: rank 1 (") != std::string::npos ||
                     r.out.find("error: rank 2 (") != std::string::npos;
  EXPECT_TRUE(named) << r.out;
  EXPECT_NE(r.out.find("epoch_ms = 'fast'"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(P("bad.db")));  // nothing created before every rank was ready
}

TEST_F(MpiTest, TinyRealTrainingOverRanksEqualsOneProcess) {
  const std::string cfg = P("tiny.yaml");
  std::ofstream(cfg) << R"(name: tiny
seed: 7
model: {input: [1, 16, 16], width: 0.125, classes: 4, dense: [32]}
space:
  paths: [regular, depthwise]
data: {dataset: synthetic, synthetic_train: 384, synthetic_test: 100, validation: 64}
training: {epochs: 2, batch_size: 32, lr: 0.05, augment: false}
quantization: {calibration_samples: 32, percentile: 0.1}
search: {record_every: 1}
execution: {workers: 1, deterministic: true}
)";
  auto r = RunCli("search " + cfg + " --db " + P("one.db") + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunShell(Mpirun(3) + "search " + cfg + " --db " + P("mpi.db") + " --mpi --quiet </dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto a = TrialsByKey(P("one.db")), b = TrialsByKey(P("mpi.db"));
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  db::Store sa(P("one.db"), db::Store::Mode::kReadOnly),
      sb(P("mpi.db"), db::Store::Mode::kReadOnly);
  for (const auto& [key, t] : a) {
    const db::TrialRow& u = b.at(key);
    EXPECT_EQ(u.state, db::TrialState::kComplete) << u.reason;
    // Deterministic mode: the same numbers, trained in another process.
    EXPECT_EQ(u.test.acc_fp32, t.test.acc_fp32) << key;
    EXPECT_EQ(u.test.acc_q, t.test.acc_q) << key;
    EXPECT_EQ(u.test.qmse, t.test.qmse) << key;
    const auto ea = sa.Epochs(t.id), eb = sb.Epochs(u.id);
    ASSERT_EQ(eb.size(), 2u);
    for (size_t i = 0; i < ea.size(); ++i) {
      EXPECT_EQ(eb[i].record.train_loss, ea[i].record.train_loss);
      EXPECT_TRUE(eb[i].recorded);
      EXPECT_EQ(eb[i].validation.acc_q, ea[i].validation.acc_q);
    }
    const auto la = sa.Layers(t.id), lb = sb.Layers(u.id);
    ASSERT_EQ(lb.size(), la.size());
    ASSERT_FALSE(lb.empty());
    for (size_t i = 0; i < la.size(); ++i) {
      EXPECT_EQ(lb[i].stats.op, la[i].stats.op);
      EXPECT_EQ(lb[i].stats.sqnr_db, la[i].stats.sqnr_db);
      EXPECT_EQ(lb[i].stats.activations.max, la[i].stats.activations.max);
    }
    EXPECT_EQ(sb.QuantMethods(u.id).size(), sa.QuantMethods(t.id).size());
  }
}

}  // namespace
}  // namespace fnas
