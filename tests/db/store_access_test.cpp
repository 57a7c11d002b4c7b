// How the store opens files it did not create and files it shares: readers
// never write (byte-for-byte), refused files are left as they were, and a new
// study's file appears complete or not at all, also when two processes race.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "db/store.h"
#include "tests/testing/temp_dir.h"

namespace fnas::db {
namespace {

namespace fs = std::filesystem;

class StoreAccessTest : public testing::TempDirTest {
 protected:
  std::string Path(const std::string& name = "study.db") const { return (dir_ / name).string(); }

  static StudyRow Study(const std::string& name = "s") {
    StudyRow s;
    s.name = name;
    s.yaml = "name: " + name + "\n";
    s.seed = 7;
    s.checkpoint_dir = "/tmp/ckpt";
    return s;
  }
  static std::vector<CandidateRow> Candidates(int n = 3) {
    std::vector<CandidateRow> out;
    for (int i = 0; i < n; ++i) {
      CandidateRow c;
      c.candidate.key = std::to_string(i + 1);
      c.candidate.name = "c" + std::to_string(i);
      c.candidate.f = {i + 1};
      c.macs_conv = 100 - i;
      out.push_back(c);
    }
    return out;
  }
  static std::string Bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  // The names in dir_, sorted.
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
  // A study file with one finished and one running trial, closed.
  std::string MakeStudy(const std::string& name = "study.db") const {
    auto store = Store::CreateStudyFile(Path(name), Study(), Candidates());
    const auto cands = store->Candidates();
    const int64_t done = store->StartTrial(cands[0].id, "w0");
    store->FinishTrial(done, TrialState::kFailed, "diverged");
    store->StartTrial(cands[1].id, "w1");
    return Path(name);
  }
};

TEST_F(StoreAccessTest, ReadOnlyOpenLeavesTheFileByteForByte) {
  const std::string path = MakeStudy();
  const std::string before = Bytes(path);
  const auto mtime = fs::last_write_time(path);
  {
    Store store(path, Store::Mode::kReadOnly);
    EXPECT_EQ(store.Study().name, "s");
    EXPECT_EQ(store.Trials().size(), 2u);
    EXPECT_EQ(store.Candidates().size(), 3u);
    EXPECT_TRUE(store.CurrentOwner() == std::nullopt);
    // A write through a read-only store fails instead of touching the file.
    EXPECT_THROW(store.StartTrial(store.Candidates()[2].id, "w"), StoreError);
  }
  EXPECT_EQ(Bytes(path), before);
  EXPECT_EQ(fs::last_write_time(path), mtime);
}

TEST_F(StoreAccessTest, ASnapshotReadsTheSameRowsWhileTheSearchCommits) {
  // A query that reads its rows twice (the text table: widths, then lines)
  // sees one state of the study, whatever the writer commits in between.
  const std::string path = MakeStudy();
  Store writer(path, Store::Mode::kReadWrite);
  Store reader(path, Store::Mode::kReadOnly);
  const std::string sql = "SELECT trial_id, state FROM trial_summary ORDER BY trial_id";
  auto rows = [&] {
    std::vector<std::string> out;
    reader.ForEachRow(sql, {}, [&](const CellView* row) {
      out.push_back(std::to_string(std::get<int64_t>(row[0])) + " " +
                    std::string(std::get<std::string_view>(row[1])));
    });
    return out;
  };
  EXPECT_EQ(reader.ResultColumns(sql), (std::vector<std::string>{"trial_id", "state"}));
  {
    const Store::Snapshot snapshot(reader);
    const auto first = rows();
    EXPECT_EQ(first, (std::vector<std::string>{"1 FAILED", "2 RUNNING"}));
    writer.StartTrial(writer.Candidates()[2].id, "w2");
    EXPECT_EQ(rows(), first);
  }
  EXPECT_EQ(rows().size(), 3u);
  // Only a reader holds one: a writer's own transactions would nest in it.
  EXPECT_THROW(Store::Snapshot{writer}, StoreError);
}

TEST_F(StoreAccessTest, ReadOnlyOpenOfAnOlderSchemaMigratesOnlyInMemory) {
  const std::string path = Path("v1.db");
  Store::CreateAtVersionForTesting(path, 1);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO study VALUES (1, 'old', 'name: old', 'h', '', 1, '/c', 't', 't', 1);"
        "INSERT INTO candidates VALUES (1, 0, '1', 'regular', '[1]', 10, 1, 1);"
        "INSERT INTO trials (candidate_id, state, started_at) VALUES (1, 'COMPLETE', 't');");
  }
  const std::string before = Bytes(path);
  {
    Store store(path, Store::Mode::kReadOnly);
    EXPECT_EQ(store.Study().name, "old");
    ASSERT_EQ(store.Trials().size(), 1u);
    EXPECT_EQ(store.Trials()[0].state, TrialState::kComplete);
    EXPECT_TRUE(store.PruneDecisions(1).empty());  // a table of migration 2
  }
  EXPECT_EQ(Bytes(path), before);
  EXPECT_EQ(SQLite::Database(path).execAndGet("PRAGMA user_version").getInt(), 1);
}

TEST_F(StoreAccessTest, RefusedFilesAreNamedAndLeftUntouched) {
  std::mt19937 rng(3);
  std::string random(4096, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  Write(Path("empty.db"), "");
  Write(Path("random.db"), random);
  {
    SQLite::Database other(Path("other.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    other.exec("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine')");
  }
  const std::string newer = MakeStudy("newer.db");
  SQLite::Database(newer, SQLite::OPEN_READWRITE).exec("PRAGMA user_version = 99");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty.db", "empty file, not a study"},
      {"random.db", "not a factorize-nas database (not an SQLite file)"},
      {"other.db", "not a factorize-nas database (application_id 0x00000000"},
      {"newer.db", "written by a newer factorize-nas (schema version 99"},
  };
  for (const auto& [name, fragment] : cases) {
    const std::string before = Bytes(Path(name));
    for (Store::Mode mode : {Store::Mode::kReadOnly, Store::Mode::kReadWrite}) {
      try {
        Store store(Path(name), mode);
        ADD_FAILURE() << name << " was opened";
      } catch (const StoreRefused& e) {
        EXPECT_NE(std::string(e.what()).find(Path(name) + ": " + fragment), std::string::npos)
            << e.what();
        EXPECT_EQ(e.exit_code(), 2);
      }
    }
    EXPECT_EQ(Bytes(Path(name)), before) << name;
  }
  // Nothing was created beside them (no -wal, -shm or -journal).
  EXPECT_EQ(Files(), (std::vector<std::string>{"empty.db", "newer.db", "other.db", "random.db"}));
}

TEST_F(StoreAccessTest, ReadOnlyFolderIsReadImmutably) {
  const std::string path = MakeStudy();
  const std::string before = Bytes(path);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                            fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  // Root may write anywhere: the reader then runs as nobody, as a colleague
  // reading someone else's results folder would.
  const pid_t pid = fork();
  if (pid == 0) {
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
    try {
      Store store(path, Store::Mode::kReadOnly);
      _exit(store.Trials().size() == 2 && store.Study().name == "s" ? 0 : 4);
    } catch (const std::exception& e) {
      fprintf(stderr, "%s\n", e.what());
      _exit(5);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Bytes(path), before);
  EXPECT_EQ(Files(), (std::vector<std::string>{"study.db"}));
}

TEST_F(StoreAccessTest, CreateStudyFileRefusesAnExistingPathAndKeepsIt) {
  Write(Path(), "someone's notes");
  try {
    Store::CreateStudyFile(Path(), Study(), Candidates());
    ADD_FAILURE() << "created over an existing file";
  } catch (const StoreRefused& e) {
    EXPECT_NE(std::string(e.what()).find("created by another process"), std::string::npos);
  }
  EXPECT_EQ(Bytes(Path()), "someone's notes");
  EXPECT_EQ(Files(), (std::vector<std::string>{"study.db"}));
}

TEST_F(StoreAccessTest, RacingCreatorsLeaveExactlyOneCompleteStudy) {
  // Eight processes create the same study file at once, each with its own
  // study name: exactly one wins, the file holds the winner's study whole,
  // and no temporary file is left.
  constexpr int kProcs = 8;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      try {
        auto store = Store::CreateStudyFile(Path(), Study("p" + std::to_string(i)), Candidates(50));
        const bool mine = store->Study().name == "p" + std::to_string(i);
        store.reset();  // closed as a program would before it exits
        _exit(mine ? 0 : 4);
      } catch (const StoreRefused&) {
        _exit(2);
      } catch (...) {
        _exit(5);
      }
    }
    pids.push_back(pid);
  }
  int winners = 0, losers = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 0) ++winners;
    if (WEXITSTATUS(status) == 2) ++losers;
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(losers, kProcs - 1);
  EXPECT_EQ(Files(), (std::vector<std::string>{"study.db"}));
  Store store(Path(), Store::Mode::kReadOnly);
  EXPECT_EQ(store.Candidates().size(), 50u);
  EXPECT_EQ(store.Study().name.substr(0, 1), "p");
}

// Issue #11, problem 4: an owner paused past its lease (Ctrl-Z) used to be
// declared dead, and on `fg` both processes wrote and both aborted. Now the
// process that took over owns the study, and every write of the old owner is
// refused (OwnershipLost) before it changes anything.
TEST_F(StoreAccessTest, AnOwnerWhoseLeaseRanOutWritesNothing) {
  const std::string path = MakeStudy();
  Store old(path, Store::Mode::kReadWrite);
  old.AcquireOwnership(60);
  EXPECT_TRUE(old.StillOwner());
  const int64_t running = old.Trials()[1].id;
  // Another process: the lease (0 s here) ran out, so it takes over.
  const pid_t child = fork();
  if (child == 0) {
    int code = 0;
    try {
      Store other(path, Store::Mode::kReadWrite);
      other.AcquireOwnership(0);
      other.RestartTrial(running, "new-owner");
      _exit(0);  // still running, as far as the study knows: its Store keeps the lease
    } catch (...) {
      code = 1;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  EXPECT_FALSE(old.StillOwner());
  const auto before = Store(path, Store::Mode::kReadOnly).Trials();
  const std::string lost = testing::ErrorOf<OwnershipLost>([&] { old.Heartbeat(); });
  EXPECT_NE(lost.find("lost the study: its lease ran out"), std::string::npos) << lost;
  EXPECT_NE(lost.find("process " + std::to_string(child)), std::string::npos) << lost;
  EXPECT_THROW(old.InterruptTrial(running, "stopped"), OwnershipLost);
  EXPECT_THROW(old.FinishTrial(running, TrialState::kFailed, "x"), OwnershipLost);
  EXPECT_THROW(old.StartTrial(old.Candidates()[2].id, "w"), OwnershipLost);
  old.ReleaseOwnership();  // not its to release: the new owner stays
  Store reader(path, Store::Mode::kReadOnly);
  ASSERT_TRUE(reader.CurrentOwner().has_value());
  EXPECT_EQ(reader.CurrentOwner()->pid, child);
  const auto after = reader.Trials();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].state, before[i].state);
    EXPECT_EQ(after[i].worker, before[i].worker);
    EXPECT_EQ(after[i].attempts, before[i].attempts);
  }
  EXPECT_EQ(after[1].worker, "new-owner");
}

TEST_F(StoreAccessTest, AnOwnerThatWasNotReplacedRenewsItsLease) {
  const std::string path = MakeStudy();
  Store store(path, Store::Mode::kReadWrite);
  store.AcquireOwnership(60);
  const double first = store.CurrentOwner()->heartbeat;
  usleep(20000);
  store.Heartbeat();  // e.g. after `fg`, nobody having taken over
  EXPECT_TRUE(store.StillOwner());
  EXPECT_GT(store.CurrentOwner()->heartbeat, first);
  store.ReleaseOwnership();
  EXPECT_FALSE(store.CurrentOwner().has_value());
}

}  // namespace
}  // namespace fnas::db

namespace fnas::db {
namespace {

// An owner that has exited but is not reaped yet (a zombie: mpirun can return
// before its rank 0 is reaped) holds no lease, though its heartbeat is fresh;
// a running one does, until its heartbeat is stale.
TEST(OwnerTest, AZombieOwnerIsDeadARunningOneAlive) {
  const double now = 1000;
  Owner self{getpid(), HostName(), "", now - 1};
  EXPECT_TRUE(Store::OwnerAlive(self, 30, now));
  EXPECT_FALSE(Store::OwnerAlive(self, 30, now + 60));  // stale heartbeat
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  // Not reaped: wait until it is a zombie, without waitpid.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);
  Owner zombie{child, HostName(), "", now - 1};
  EXPECT_FALSE(Store::OwnerAlive(zombie, 30, now));
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
}

}  // namespace
}  // namespace fnas::db
