// The Pareto fronts the store keeps as trials complete (the `front` table,
// maintained by triggers; the pareto_front views and Store::FrontTrials read
// it): hand-computed cases, agreement with the definition checked pair by pair,
// any SQL client's completions, and the migration that builds it for older files.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "db/store.h"
#include "tests/testing/temp_dir.h"

namespace fnas::db {
namespace {

struct Point {
  int64_t trial = 0;
  int64_t macs = 0;
  double quint8 = 0, fp32 = 0;  // NaN: not measured
};

// The definition, pair by pair (O(n^2)): a point is on the front unless
// another one has no more MACs and no less accuracy and is better in one, or
// is an exact duplicate with a smaller trial id. Sorted by MACs.
std::vector<int64_t> BruteForce(const std::vector<Point>& points, bool fp32) {
  auto acc = [fp32](const Point& p) { return fp32 ? p.fp32 : p.quint8; };
  std::vector<Point> front;
  for (const auto& s : points) {
    if (!std::isfinite(acc(s))) continue;
    bool beaten = false;
    for (const auto& o : points) {
      if (o.trial == s.trial || !std::isfinite(acc(o))) continue;
      if (o.macs <= s.macs && acc(o) >= acc(s) &&
          (o.macs < s.macs || acc(o) > acc(s) || o.trial < s.trial)) {
        beaten = true;
      }
    }
    if (!beaten) front.push_back(s);
  }
  std::sort(front.begin(), front.end(), [](const Point& a, const Point& b) {
    return a.macs != b.macs ? a.macs < b.macs : a.trial < b.trial;
  });
  std::vector<int64_t> ids;
  for (const auto& p : front) ids.push_back(p.trial);
  return ids;
}

std::vector<int64_t> Ids(const std::vector<TrialRow>& rows) {
  std::vector<int64_t> ids;
  for (const auto& t : rows) ids.push_back(t.id);
  return ids;
}

std::vector<std::string> Names(const std::vector<TrialRow>& rows) {
  std::vector<std::string> names;
  for (const auto& t : rows) names.push_back(t.candidate_name);
  return names;
}

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class FrontTest : public testing::TempDirTest {
 protected:
  std::string Path(const std::string& name = "study.db") const { return (dir_ / name).string(); }

  // A study whose candidates c1, c2, ... have these MACs; returns their rows.
  static std::vector<CandidateRow> Populate(Store& store, const std::vector<int64_t>& macs) {
    StudyRow s;
    s.name = "front";
    s.yaml = "name: front\n";
    s.checkpoint_dir = "/tmp/ckpt";
    std::vector<CandidateRow> cands;
    for (size_t i = 0; i < macs.size(); ++i) {
      CandidateRow c;
      c.candidate.f = {1};
      c.candidate.key = std::to_string(i + 1);
      c.candidate.name = "c" + std::to_string(i + 1);
      c.macs_conv = macs[i];
      cands.push_back(c);
    }
    store.CreateStudy(s, cands);
    return store.Candidates();
  }

  static void Complete(Store& store, int64_t trial, double quint8, double fp32) {
    evaluators::QuantReport r;
    r.metrics.images = 100;
    r.metrics.acc_q = quint8;
    r.metrics.acc_fp32 = fp32;
    store.CompleteTrial(trial, r);
  }

  // The view as any SQLite client reads it.
  static std::vector<int64_t> View(const std::string& path, const char* view) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement st(db, std::string("SELECT trial_id FROM ") + view);
    std::vector<int64_t> ids;
    while (st.executeStep()) ids.push_back(st.getColumn(0).getInt64());
    return ids;
  }
};

TEST_F(FrontTest, HandComputedFrontsWithTiesEqualMacsAndBothMetrics) {
  Store store(Path(), Store::Mode::kCreate);
  //        c1  c2  c3  c4  c5  c6  c7 c8
  const auto c = Populate(store, {10, 20, 20, 30, 40, 10, 5, 1});
  std::vector<int64_t> t;  // trial i+1 runs candidate c(i+1)
  for (const auto& row : c) t.push_back(store.StartTrial(row.id, "w"));
  const double nan = std::nan("");
  // (MACs, quint8, fp32), completed in this order: c6, c5, then the rest.
  // c6 (10, .5, .7)
  Complete(store, t[5], .5, .7);
  // c5 (40, .9, .9)
  Complete(store, t[4], .9, .9);
  EXPECT_EQ(Names(store.FrontTrials("acc_quint8")), (std::vector<std::string>{"c6", "c5"}));
  EXPECT_EQ(Names(store.FrontTrials("acc_fp32")), (std::vector<std::string>{"c6", "c5"}));
  // c4 (30, .7, .95): quint8 below c5 with fewer MACs: joins; fp32 the best: joins.
  Complete(store, t[3], .7, .95);
  EXPECT_EQ(Names(store.FrontTrials("acc_quint8")), (std::vector<std::string>{"c6", "c4", "c5"}));
  EXPECT_EQ(Names(store.FrontTrials("acc_fp32")), (std::vector<std::string>{"c6", "c4"}));
  // c3 (20, .6, .9): quint8 joins between c6 and c4; fp32 equals c5's .9 with
  // fewer MACs, so c5 (already out) stays out and c3 joins.
  Complete(store, t[2], .6, .9);
  EXPECT_EQ(Names(store.FrontTrials("acc_quint8")),
            (std::vector<std::string>{"c6", "c3", "c4", "c5"}));
  EXPECT_EQ(Names(store.FrontTrials("acc_fp32")), (std::vector<std::string>{"c6", "c3", "c4"}));
  // c2 (20, .7, .8): quint8 same MACs as c3, more accurate: replaces c3, and
  // equals c4's .7 with fewer MACs: removes c4. fp32 .8 < c3's .9 at equal MACs: out.
  Complete(store, t[1], .7, .8);
  EXPECT_EQ(Names(store.FrontTrials("acc_quint8")), (std::vector<std::string>{"c6", "c2", "c5"}));
  EXPECT_EQ(Names(store.FrontTrials("acc_fp32")), (std::vector<std::string>{"c6", "c3", "c4"}));
  // c1 (10, .5, .8): quint8 an exact duplicate of c6 with a smaller trial id:
  // replaces it though it completed later. fp32 .8 > c6's .7 at equal MACs: replaces c6.
  Complete(store, t[0], .5, .8);
  EXPECT_EQ(Names(store.FrontTrials("acc_quint8")), (std::vector<std::string>{"c1", "c2", "c5"}));
  EXPECT_EQ(Names(store.FrontTrials("acc_fp32")), (std::vector<std::string>{"c1", "c3", "c4"}));
  // c7 (5, .4, not measured): the fewest MACs joins the quint8 front only.
  Complete(store, t[6], .4, nan);
  // c8 (1 MAC) is pruned: never on a front.
  store.FinishTrial(t[7], TrialState::kPruned, "pruned");
  EXPECT_EQ(Names(store.FrontTrials("acc_quint8")),
            (std::vector<std::string>{"c7", "c1", "c2", "c5"}));
  EXPECT_EQ(Names(store.FrontTrials("acc_fp32")), (std::vector<std::string>{"c1", "c3", "c4"}));
  // The views say the same to any client.
  EXPECT_EQ(View(Path(), "pareto_front"), Ids(store.FrontTrials("acc_quint8")));
  EXPECT_EQ(View(Path(), "pareto_front_fp32"), Ids(store.FrontTrials("acc_fp32")));
  // The rows are whole trials: metrics and MACs.
  const auto front = store.FrontTrials("acc_quint8");
  EXPECT_EQ(front[2].macs_conv, 20);
  EXPECT_DOUBLE_EQ(front[2].test.acc_q, .7);
  EXPECT_DOUBLE_EQ(front[2].test.acc_fp32, .8);
  EXPECT_EQ(front[2].state, TrialState::kComplete);
}

std::vector<Point> RandomPoints(std::mt19937& rng, int n) {
  // Few distinct values, so that ties and exact duplicates are common.
  std::uniform_int_distribution<int> macs(1, 8), acc(0, 6), nan(0, 30);
  std::vector<Point> points;
  for (int i = 0; i < n; ++i) {
    Point p;
    p.macs = macs(rng) * 1000;
    p.quint8 = nan(rng) == 0 ? std::nan("") : acc(rng) / 10.0;
    p.fp32 = nan(rng) == 0 ? std::nan("") : acc(rng) / 10.0;
    points.push_back(p);
  }
  return points;
}

TEST_F(FrontTest, EqualsTheDefinitionAfterEveryCompletionInAnyOrder) {
  std::mt19937 rng(2024);
  for (int round = 0; round < 40; ++round) {
    const std::string path = Path("r" + std::to_string(round) + ".db");
    Store store(path, Store::Mode::kCreate);
    auto points = RandomPoints(rng, 1 + round % 25);
    std::vector<int64_t> macs;
    for (const auto& p : points) macs.push_back(p.macs);
    const auto c = Populate(store, macs);
    for (size_t i = 0; i < c.size(); ++i) points[i].trial = store.StartTrial(c[i].id, "w");
    // Trials finish in an order unrelated to their ids; some fail.
    std::vector<size_t> order(points.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<Point> complete;
    for (size_t i : order) {
      if (rng() % 5 == 0) {
        store.FinishTrial(points[i].trial, TrialState::kFailed, "diverged");
      } else {
        Complete(store, points[i].trial, points[i].quint8, points[i].fp32);
        complete.push_back(points[i]);
      }
      ASSERT_EQ(Ids(store.FrontTrials("acc_quint8")), BruteForce(complete, false))
          << "round " << round;
      ASSERT_EQ(Ids(store.FrontTrials("acc_fp32")), BruteForce(complete, true))
          << "round " << round;
    }
    EXPECT_EQ(View(path, "pareto_front"), BruteForce(complete, false)) << "round " << round;
    EXPECT_EQ(View(path, "pareto_front_fp32"), BruteForce(complete, true)) << "round " << round;
  }
}

TEST_F(FrontTest, CompletionsByAnySqlClientKeepItAndItsMacsCannotChange) {
  {
    Store store(Path(), Store::Mode::kCreate);
    Populate(store, {10, 20, 30});
  }
  {
    // Another client (the sqlite3 shell, a script) completes trials.
    SQLite::Database db(Path(), SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO trials (candidate_id, state, started_at, acc_quint8, acc_fp32) "
        "VALUES (3, 'COMPLETE', 't', 0.9, 0.9);"
        "INSERT INTO trials (candidate_id, state, started_at) VALUES (2, 'RUNNING', 't');"
        "UPDATE trials SET state = 'COMPLETE', acc_quint8 = 0.95, acc_fp32 = 0.5 "
        "WHERE candidate_id = 2;");
    // The MACs the front holds never change under it.
    EXPECT_THROW(db.exec("UPDATE candidates SET macs_conv = 1 WHERE id = 2"), SQLite::Exception);
    // A pending candidate's may (nothing of it is finished).
    db.exec("UPDATE candidates SET macs_conv = 11 WHERE id = 1");
  }
  Store store(Path(), Store::Mode::kReadOnly);
  EXPECT_EQ(Names(store.FrontTrials("acc_quint8")), (std::vector<std::string>{"c2"}));
  EXPECT_EQ(Names(store.FrontTrials("acc_fp32")), (std::vector<std::string>{"c2", "c3"}));
}

TEST_F(FrontTest, AnOlderFileGetsItsFrontReadOnlyInMemoryAndWhenMigrated) {
  const std::string path = Path("v6.db");
  Store::CreateAtVersionForTesting(path, 6);
  std::mt19937 rng(11);
  auto points = RandomPoints(rng, 60);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO study VALUES (1, 'old', 'name: old\n', 'h', '', 1, '/c', 't', 't', 6)");
    for (size_t i = 0; i < points.size(); ++i) {
      points[i].trial = static_cast<int64_t>(i + 1);
      const std::string id = std::to_string(i + 1);
      auto real = [](double v) { return std::isfinite(v) ? std::to_string(v) : "NULL"; };
      db.exec(
          "INSERT INTO candidates (id, position, key, name, f, macs_conv, macs_dense, params) "
          "VALUES (" +
          id + ", " + id + ", 'k" + id + "', 'c" + id + "', '[1]', " +
          std::to_string(points[i].macs) + ", 0, 0)");
      db.exec(
          "INSERT INTO trials (id, candidate_id, state, started_at, acc_quint8, acc_fp32) "
          "VALUES (" +
          id + ", " + id + ", 'COMPLETE', 't', " + real(points[i].quint8) + ", " +
          real(points[i].fp32) + ")");
    }
  }
  const std::string before = Bytes(path);
  {
    // A reader migrates a copy in memory: the same front, the file untouched.
    Store store(path, Store::Mode::kReadOnly);
    EXPECT_EQ(Ids(store.FrontTrials("acc_quint8")), BruteForce(points, false));
    EXPECT_EQ(Ids(store.FrontTrials("acc_fp32")), BruteForce(points, true));
  }
  EXPECT_EQ(Bytes(path), before);
  {
    // A writer migrates the file: the front is built for the trials it holds,
    // then kept as more complete.
    Store store(path, Store::Mode::kReadWrite);
    EXPECT_EQ(Ids(store.FrontTrials("acc_quint8")), BruteForce(points, false));
    EXPECT_EQ(Ids(store.FrontTrials("acc_fp32")), BruteForce(points, true));
    CandidateRow best;
    best.candidate = {{1}, "best", "best"};
    best.macs_conv = 1;
    const auto added = store.AddCandidates({best});
    const int64_t trial = store.StartTrial(added[0].id, "w");
    Complete(store, trial, 1.0, 0.0);
    points.push_back({trial, 1, 1.0, 0.0});
    EXPECT_EQ(Ids(store.FrontTrials("acc_quint8")), BruteForce(points, false));
    EXPECT_EQ(Ids(store.FrontTrials("acc_quint8")), (std::vector<int64_t>{trial}));
    EXPECT_EQ(Ids(store.FrontTrials("acc_fp32")), BruteForce(points, true));
  }
  EXPECT_EQ(View(path, "pareto_front"), BruteForce(points, false));
}

}  // namespace
}  // namespace fnas::db
