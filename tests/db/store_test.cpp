#include "db/store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "tests/testing/temp_dir.h"

namespace fnas::db {
namespace {

namespace fs = std::filesystem;

class StoreTest : public testing::TempDirTest {
 protected:
  std::string Path(const std::string& name = "study.db") const { return (dir_ / name).string(); }

  // A study of three candidates with MACs 30, 20, 10.
  static void Populate(Store& store) {
    StudyRow s;
    s.name = "unit";
    s.yaml = "name: unit\n";
    s.seed = 7;
    s.checkpoint_dir = "/tmp/ckpt";
    std::vector<CandidateRow> cands;
    for (int i = 0; i < 3; ++i) {
      CandidateRow c;
      c.candidate.f = {1 << i, 1 << i};
      c.candidate.key = std::to_string(1 << i) + "." + std::to_string(1 << i);
      c.candidate.name = "c" + std::to_string(i);
      c.macs_conv = 30 - 10 * i;
      c.macs_dense = 5;
      c.params = 100 - i;
      cands.push_back(c);
    }
    store.CreateStudy(s, cands);
  }

  static evaluators::EpochRecord Epoch(int e) {
    evaluators::EpochRecord r;
    r.epoch = e;
    r.train_loss = 1.0 / e;
    r.train_acc = 0.5;
    r.val_acc = 0.4;
    r.lr = 0.1;
    r.seconds = 2.0;
    r.images_per_s = 100;
    return r;
  }

  static evaluators::QuantReport Report(double acc_q) {
    evaluators::QuantReport q;
    q.metrics = {100, 0.9, acc_q, (0.9 - acc_q) / 0.9 * 100, 0.01, 0.02};
    evaluators::LayerStats l;
    l.op = "stem";
    l.layer = "stem";
    l.weights = {-1, 1, 2, 0.5};
    l.sqnr_db = 30;
    q.layers = {l};
    q.method = "minmax";
    q.methods = {{"minmax", q.metrics}, {"percentile", q.metrics}};
    q.methods[1].metrics.acc_q = acc_q - 0.1;
    return q;
  }
};

TEST(TextHashTest, MatchesFnv1aReferenceValues) {
  // FNV-1a 64: offset basis for "", and the published value for "a".
  EXPECT_EQ(TextHash(""), "fnv1a64:cbf29ce484222325");
  EXPECT_EQ(TextHash("a"), "fnv1a64:af63dc4c8601ec8c");
}

TEST(TrialStateTest, NamesRoundTrip) {
  for (TrialState s : {TrialState::kRunning, TrialState::kComplete, TrialState::kPruned,
                       TrialState::kFailed, TrialState::kInterrupted}) {
    EXPECT_EQ(ParseTrialState(TrialStateName(s)), s);
  }
  EXPECT_EQ(ParseTrialState("complete"), TrialState::kComplete);
  EXPECT_THROW(ParseTrialState("DONE"), UsageError);
  EXPECT_FALSE(IsFinished(TrialState::kInterrupted));
  EXPECT_TRUE(IsFinished(TrialState::kPruned));
}

TEST_F(StoreTest, CreatesStudyAndReadsItBack) {
  Store store(Path("sub/dir/study.db"), Store::Mode::kCreate);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  EXPECT_FALSE(store.HasStudy());
  Populate(store);
  const StudyRow s = store.Study();
  EXPECT_EQ(s.name, "unit");
  EXPECT_EQ(s.yaml, "name: unit\n");
  EXPECT_EQ(s.yaml_hash, TextHash("name: unit\n"));
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.schema_version, Store::kSchemaVersion);
  const auto cands = store.Candidates();
  ASSERT_EQ(cands.size(), 3u);
  EXPECT_EQ(cands[2].candidate.f, (space::Factorization{4, 4}));
  EXPECT_EQ(cands[2].candidate.name, "c2");
  EXPECT_EQ(cands[2].macs_conv, 10);
  EXPECT_THROW(Populate(store), StoreError);  // one study per file
}

TEST_F(StoreTest, RecordsEpochsLayersAndCompletion) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const int64_t id = store.StartTrial(store.Candidates()[0].id, "w0");
  const auto val = Report(0.7);
  store.RecordEpoch(id, Epoch(1), nullptr, "/ck/epoch-1.pt");
  store.RecordEpoch(id, Epoch(2), &val, "/ck/epoch-2.pt");
  store.CompleteTrial(id, Report(0.8));
  const TrialRow t = *store.Trial(id);
  EXPECT_EQ(t.state, TrialState::kComplete);
  EXPECT_EQ(t.epochs_done, 2);
  EXPECT_DOUBLE_EQ(t.seconds, 4.0);
  EXPECT_DOUBLE_EQ(t.test.acc_q, 0.8);
  EXPECT_EQ(t.checkpoint, "/ck/epoch-2.pt");
  EXPECT_EQ(t.checkpoint_epoch, 2);
  const auto epochs = store.Epochs(id);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_FALSE(epochs[0].recorded);
  EXPECT_TRUE(epochs[1].recorded);
  EXPECT_DOUBLE_EQ(epochs[1].validation.acc_q, 0.7);
  const auto layers = store.Layers(id);
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].split, "validation");
  EXPECT_EQ(layers[0].epoch, 2);
  EXPECT_EQ(layers[1].split, "test");
  EXPECT_DOUBLE_EQ(layers[1].stats.weights.range, 2.0);
  // Every recorded calibration method, the primary first, validation then test.
  const auto methods = store.QuantMethods(id);
  ASSERT_EQ(methods.size(), 4u);
  EXPECT_EQ(methods[0].split, "validation");
  EXPECT_EQ(methods[0].epoch, 2);
  EXPECT_TRUE(methods[0].primary);
  EXPECT_EQ(methods[0].metrics.method, "minmax");
  EXPECT_FALSE(methods[1].primary);
  EXPECT_EQ(methods[1].metrics.method, "percentile");
  EXPECT_DOUBLE_EQ(methods[1].metrics.metrics.acc_q, 0.6);
  EXPECT_EQ(methods[3].split, "test");
  EXPECT_DOUBLE_EQ(methods[3].metrics.metrics.acc_q, 0.7);
  EXPECT_DOUBLE_EQ(methods[3].metrics.metrics.qmse, 0.01);
  // A finished trial's rows never change.
  EXPECT_THROW(
      store.ExecForTesting("DELETE FROM quant_methods WHERE trial_id = " + std::to_string(id)),
      StoreError);
}

TEST_F(StoreTest, FinishedTrialNeverChanges) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const int64_t id = store.StartTrial(store.Candidates()[0].id, "w0");
  store.RecordEpoch(id, Epoch(1), nullptr, "/ck/epoch-1.pt");
  store.CompleteTrial(id, Report(0.8));
  const TrialRow before = *store.Trial(id);

  // The API refuses...
  EXPECT_THROW(store.RecordEpoch(id, Epoch(2), nullptr, ""), StoreError);
  EXPECT_THROW(store.CompleteTrial(id, Report(0.9)), StoreError);
  EXPECT_THROW(store.FinishTrial(id, TrialState::kFailed, "x"), StoreError);
  EXPECT_THROW(store.InterruptTrial(id, "x"), StoreError);
  EXPECT_THROW(store.RestartTrial(id, "w1"), StoreError);
  EXPECT_THROW(store.AddPruneDecision({id, 1, "prune", "r", "{}", "test", ""}), StoreError);
  // ...and so does the database itself, for any SQL client.
  const std::string sid = std::to_string(id);
  for (const std::string& sql :
       {"UPDATE trials SET acc_quint8 = 0.1 WHERE id = " + sid,
        "DELETE FROM trials WHERE id = " + sid,
        "UPDATE epochs SET train_loss = 9 WHERE trial_id = " + sid,
        "DELETE FROM epochs WHERE trial_id = " + sid,
        "INSERT INTO epochs (trial_id, epoch) VALUES (" + sid + ", 5)",
        "DELETE FROM layer_stats WHERE trial_id = " + sid,
        "UPDATE checkpoints SET path = 'x' WHERE trial_id = " + sid,
        "INSERT INTO prune_decisions (trial_id, rung_epoch, decision, reason, decided_at) "
        "VALUES (" +
            sid + ", 1, 'prune', 'r', 'now')"}) {
    try {
      store.ExecForTesting(sql);
      ADD_FAILURE() << "not refused: " << sql;
    } catch (const StoreError& e) {
      EXPECT_NE(std::string(e.what()).find("finished"), std::string::npos) << e.what();
    }
  }
  const TrialRow after = *store.Trial(id);
  EXPECT_EQ(after.test.acc_q, before.test.acc_q);
  EXPECT_EQ(after.epochs_done, before.epochs_done);
  EXPECT_EQ(store.Epochs(id).size(), 1u);
  EXPECT_EQ(after.checkpoint, before.checkpoint);
}

TEST_F(StoreTest, AppendedCandidatesKeepTheirParentStepAndMove) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const auto seeds = store.Candidates();
  CandidateRow child;
  child.candidate.f = {2, 1};
  child.candidate.key = "2.1";
  child.candidate.name = "layers-2.1";
  child.macs_conv = 25;
  child.parent_id = seeds[0].id;
  child.step = 1;
  child.move = "conv_64_1 1->2";
  const auto added = store.AddCandidates({child});
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].position, 3);  // after the three seeds
  const auto all = store.Candidates();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].id, added[0].id);
  EXPECT_EQ(all[3].parent_id, seeds[0].id);
  EXPECT_EQ(all[3].step, 1);
  EXPECT_EQ(all[3].move, "conv_64_1 1->2");
  EXPECT_EQ(all[0].parent_id, 0);
  // A key already in the study is refused, and nothing of the batch is written.
  CandidateRow other = child;
  other.candidate.key = "4.1";
  EXPECT_THROW(store.AddCandidates({other, child}), StoreError);
  EXPECT_EQ(store.Candidates().size(), 4u);
}

TEST_F(StoreTest, NoCandidateRunsTwice) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const int64_t cand = store.Candidates()[1].id;
  store.StartTrial(cand, "w0");
  EXPECT_THROW(store.StartTrial(cand, "w1"), StoreError);
  EXPECT_THROW(
      store.ExecForTesting("INSERT INTO trials (candidate_id, state, started_at) VALUES (" +
                           std::to_string(cand) + ", 'RUNNING', 'now')"),
      StoreError);
  EXPECT_EQ(store.Trials().size(), 1u);
}

TEST_F(StoreTest, RestartKeepsOnlyWhatTheCheckpointHolds) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const int64_t id = store.StartTrial(store.Candidates()[0].id, "w0");
  const auto val = Report(0.7);
  store.RecordEpoch(id, Epoch(1), nullptr, "/ck/epoch-1.pt");
  store.RecordEpoch(id, Epoch(2), &val, "/ck/epoch-2.pt");
  store.RecordEpoch(id, Epoch(3), &val, "");  // an epoch whose checkpoint was not kept
  store.InterruptTrial(id, "stopped");
  EXPECT_EQ(store.Trial(id)->state, TrialState::kInterrupted);
  const TrialRow t = store.RestartTrial(id, "w1");
  EXPECT_EQ(t.state, TrialState::kRunning);
  EXPECT_EQ(t.attempts, 2);
  EXPECT_TRUE(t.ended_at.empty());
  EXPECT_EQ(t.epochs_done, 2);
  EXPECT_EQ(t.checkpoint, "/ck/epoch-2.pt");
  EXPECT_DOUBLE_EQ(t.seconds, 4.0);
  EXPECT_EQ(store.Epochs(id).size(), 2u);
  for (const auto& l : store.Layers(id)) EXPECT_LE(l.epoch, 2);
}

TEST_F(StoreTest, PruneDecisionsAreKept) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const int64_t id = store.StartTrial(store.Candidates()[0].id, "w0");
  store.AddPruneDecision({id, 2, "prune", "dominated at rung 2", "{\"acc\": 0.1}", "test", ""});
  EXPECT_THROW(store.AddPruneDecision({id, 2, "maybe", "", "", "test", ""}), StoreError);
  store.FinishTrial(id, TrialState::kPruned, "dominated at rung 2");
  const auto d = store.PruneDecisions(id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].decision, "prune");
  EXPECT_EQ(d[0].evidence, "{\"acc\": 0.1}");
  EXPECT_EQ(store.Trial(id)->state, TrialState::kPruned);
}

TEST_F(StoreTest, RungResultDecisionAndPrunedCommitWithTheEpoch) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const auto c = store.Candidates();
  const int64_t a = store.StartTrial(c[0].id, "w0");
  const int64_t b = store.StartTrial(c[1].id, "w1");
  evaluators::EpochRecord r;
  r.epoch = 1;
  const evaluators::QuantReport val = Report(0.5);
  RungRecord keep;
  keep.result.epoch = 1;
  keep.result.macs_conv = c[0].macs_conv;
  keep.result.validation = val.metrics;
  keep.decision = {a, 1, "continue", "kept", "{}", "min-peers", ""};
  store.RecordEpoch(a, r, &val, "", &keep);
  RungRecord prune = keep;
  prune.result.macs_conv = c[1].macs_conv;
  prune.decision = {b, 1, "prune", "pruned at epoch 1: worse", "{\"peers\":[1]}", "rank", ""};
  store.RecordEpoch(b, r, &val, "", &prune);
  // In order of arrival, with the trial's MACs and metrics.
  const auto rungs = store.RungResults(1);
  ASSERT_EQ(rungs.size(), 2u);
  EXPECT_EQ(rungs[0].trial_id, a);
  EXPECT_EQ(rungs[1].trial_id, b);
  EXPECT_LT(rungs[0].seq, rungs[1].seq);
  EXPECT_EQ(rungs[1].macs_conv, c[1].macs_conv);
  EXPECT_DOUBLE_EQ(rungs[1].validation.acc_q, val.metrics.acc_q);
  EXPECT_TRUE(store.RungResults(2).empty());
  // The pruned trial is PRUNED with the decision's reason, in the same commit.
  const TrialRow t = *store.Trial(b);
  EXPECT_EQ(t.state, TrialState::kPruned);
  EXPECT_EQ(t.reason, "pruned at epoch 1: worse");
  EXPECT_EQ(t.epochs_done, 1);
  const auto d = store.PruneDecisions(b);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].rule, "rank");
  EXPECT_EQ(d[0].evidence, "{\"peers\":[1]}");
  EXPECT_FALSE(d[0].decided_at.empty());
  EXPECT_EQ(store.Trial(a)->state, TrialState::kRunning);
  // Finished: its rung rows never change, for any client.
  EXPECT_THROW(store.ExecForTesting("DELETE FROM rung_results WHERE trial_id = " +
                                    std::to_string(b)),
               StoreError);
  r.epoch = 2;
  EXPECT_THROW(store.RecordEpoch(b, r, nullptr, ""), StoreError);
}

TEST_F(StoreTest, ViewsGiveSummaryAndFront) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const auto c = store.Candidates();  // MACs 30, 20, 10
  // acc: 30 MACs -> 0.9 (front), 20 -> 0.6 (dominated by 10 -> 0.7), 10 -> 0.7 (front).
  const double acc[] = {0.9, 0.6, 0.7};
  for (int i = 0; i < 3; ++i) {
    const int64_t id = store.StartTrial(c[i].id, "w0");
    store.CompleteTrial(id, Report(acc[i]));
  }
  SQLite::Database db(Path(), SQLite::OPEN_READONLY);
  SQLite::Statement st(db, "SELECT candidate, macs_conv FROM pareto_front");
  std::vector<std::string> front;
  while (st.executeStep()) front.push_back(st.getColumn(0).getString());
  EXPECT_EQ(front, (std::vector<std::string>{"c2", "c0"}));
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM trial_summary WHERE state = 'COMPLETE'").getInt(),
            3);
  // fp32 accuracies are equal (0.9): the fewest MACs wins alone.
  EXPECT_EQ(db.execAndGet("SELECT group_concat(candidate) FROM pareto_front_fp32").getString(),
            "c2");
}

TEST_F(StoreTest, RefusesNewerSchema) {
  { Store store(Path(), Store::Mode::kCreate); }
  {
    SQLite::Database db(Path(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version = 99");
  }
  try {
    Store store(Path(), Store::Mode::kReadWrite);
    FAIL() << "newer schema accepted";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
  }
}

TEST_F(StoreTest, RefusesForeignDatabasesAndFiles) {
  {
    SQLite::Database db(Path("other.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE people (name TEXT)");
  }
  try {
    Store store(Path("other.db"), Store::Mode::kCreate);
    FAIL() << "foreign database accepted";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("not a factorize-nas database"), std::string::npos)
        << e.what();
  }
  // It was not touched.
  SQLite::Database db(Path("other.db"), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 0);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_master").getInt(), 1);

  std::ofstream(Path("text.db")) << "name: not a database at all, just some text\n";
  EXPECT_THROW(Store(Path("text.db"), Store::Mode::kReadWrite), StoreError);
  EXPECT_THROW(Store(Path("missing.db"), Store::Mode::kReadOnly), StoreError);
  EXPECT_FALSE(fs::exists(Path("missing.db")));
}

TEST_F(StoreTest, MigratesAnOlderSchemaKeepingItsData) {
  Store::CreateAtVersionForTesting(Path(), 1);
  {
    SQLite::Database db(Path(), SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO study VALUES (1, 'old', 'name: old\n', 'h', 'old.yaml', 3, '/ck', 't', 't', "
        "1);"
        "INSERT INTO candidates VALUES (1, 0, '1.1', 'regular', '[1,1]', 30, 5, 100);"
        "INSERT INTO trials (id, candidate_id, state, started_at, epochs_done, acc_quint8, "
        "acc_fp32) VALUES (1, 1, 'COMPLETE', 't', 2, 0.75, 0.8);"
        "INSERT INTO epochs (trial_id, epoch, train_loss) VALUES (1, 1, 0.5);");
    EXPECT_FALSE(db.tableExists("prune_decisions"));
  }
  Store store(Path(), Store::Mode::kReadWrite);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(store.Study().name, "old");
  EXPECT_EQ(store.Study().schema_version, Store::kSchemaVersion);
  EXPECT_TRUE(store.RungResults().empty());
  // Candidates of older files are seeds: no parent, step 0.
  ASSERT_EQ(store.Candidates().size(), 1u);
  EXPECT_EQ(store.Candidates()[0].parent_id, 0);
  EXPECT_EQ(store.Candidates()[0].step, 0);
  EXPECT_EQ(store.Candidates()[0].move, "");
  const TrialRow t = *store.Trial(1);
  EXPECT_EQ(t.state, TrialState::kComplete);
  EXPECT_DOUBLE_EQ(t.test.acc_q, 0.75);
  EXPECT_EQ(t.heartbeat, 0);  // the new column, empty for old rows
  EXPECT_EQ(store.Epochs(1).size(), 1u);
  EXPECT_TRUE(store.PruneDecisions(1).empty());
  EXPECT_TRUE(store.QuantMethods(1).empty());
  // The migrated file has the current views and triggers.
  EXPECT_THROW(store.ExecForTesting("UPDATE trials SET acc_quint8 = 0 WHERE id = 1"), StoreError);
  SQLite::Database db(Path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pareto_front").getInt(), 1);
  // An older file opened read-only is migrated in memory only: see
  // store_access_test's ReadOnlyOpenOfAnOlderSchemaMigratesOnlyInMemory.
}

TEST_F(StoreTest, ConcurrentWritersThroughOneStore) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  const auto c = store.Candidates();
  const int64_t a = store.StartTrial(c[0].id, "w0");
  const int64_t b = store.StartTrial(c[1].id, "w1");
  auto write = [&](int64_t id) {
    const auto val = Report(0.5);
    for (int e = 1; e <= 40; ++e) {
      store.RecordEpoch(id, Epoch(e), e % 2 ? &val : nullptr, "/ck/" + std::to_string(e));
      store.Heartbeat();
    }
  };
  std::thread ta(write, a), tb(write, b);
  ta.join();
  tb.join();
  EXPECT_EQ(store.Epochs(a).size(), 40u);
  EXPECT_EQ(store.Epochs(b).size(), 40u);
  EXPECT_EQ(store.Trial(a)->epochs_done, 40);
  EXPECT_EQ(store.Trial(b)->checkpoint_epoch, 40);
}

TEST_F(StoreTest, ConcurrentWritersThroughTwoConnections) {
  {
    Store s(Path(), Store::Mode::kCreate);
    Populate(s);
  }
  Store one(Path(), Store::Mode::kReadWrite), two(Path(), Store::Mode::kReadWrite);
  const auto c = one.Candidates();
  const int64_t a = one.StartTrial(c[0].id, "w0");
  const int64_t b = two.StartTrial(c[1].id, "w1");
  auto write = [](Store* s, int64_t id) {
    for (int e = 1; e <= 40; ++e) s->RecordEpoch(id, Epoch(e), nullptr, "");
  };
  std::thread ta(write, &one, a), tb(write, &two, b);
  ta.join();
  tb.join();
  EXPECT_EQ(one.Epochs(b).size(), 40u);
  EXPECT_EQ(two.Epochs(a).size(), 40u);
}

TEST_F(StoreTest, SecondLiveOwnerIsRefusedDeadOneReplaced) {
  Store store(Path(), Store::Mode::kCreate);
  Populate(store);
  store.AcquireOwnership(30);
  store.AcquireOwnership(30);  // again by the same process: fine
  const std::string host = HostName();
  auto set_owner = [&](int64_t pid, double heartbeat) {
    store.ExecForTesting("UPDATE owner SET pid = " + std::to_string(pid) + ", host = '" + host +
                         "', heartbeat_at = " + std::to_string(heartbeat));
  };
  // Another live process (our parent) with a fresh heartbeat: refused.
  set_owner(getppid(), NowSeconds());
  try {
    store.AcquireOwnership(30);
    FAIL() << "a live owner was replaced";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(getppid())), std::string::npos);
  }
  // The same process, but silent for a minute: stale, replaced.
  set_owner(getppid(), NowSeconds() - 60);
  store.AcquireOwnership(30);
  EXPECT_EQ(store.CurrentOwner()->pid, getpid());
  // A process that no longer exists, heartbeat fresh: dead, replaced.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  set_owner(child, NowSeconds());
  store.AcquireOwnership(30);
  EXPECT_EQ(store.CurrentOwner()->pid, getpid());
  store.ReleaseOwnership();
  EXPECT_FALSE(store.CurrentOwner().has_value());
}

}  // namespace
}  // namespace fnas::db
