#include "search/pareto.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "db/store.h"

namespace fnas::search {
namespace {

std::vector<int64_t> Ids(const std::vector<FrontPoint>& points) {
  std::vector<int64_t> ids;
  for (const auto& p : points) ids.push_back(p.id);
  return ids;
}

// The definition, checked pair by pair: O(n^2).
std::vector<int64_t> BruteForceFront(const std::vector<FrontPoint>& points) {
  std::vector<FrontPoint> front;
  for (const auto& s : points) {
    if (!std::isfinite(s.accuracy)) continue;
    bool excluded = false;
    for (const auto& o : points) {
      if (o.id == s.id || !std::isfinite(o.accuracy)) continue;
      if (o.macs <= s.macs && o.accuracy >= s.accuracy &&
          (o.macs < s.macs || o.accuracy > s.accuracy || o.id < s.id)) {
        excluded = true;
        break;
      }
    }
    if (!excluded) front.push_back(s);
  }
  std::sort(front.begin(), front.end(), [](const FrontPoint& a, const FrontPoint& b) {
    return a.macs != b.macs ? a.macs < b.macs : a.id < b.id;
  });
  return Ids(front);
}

std::vector<FrontPoint> RandomPoints(std::mt19937& rng, int n) {
  // Few distinct values so that ties and exact duplicates are common.
  std::uniform_int_distribution<int> macs(1, 8), acc(0, 6), nan(0, 30);
  std::vector<FrontPoint> points;
  for (int i = 0; i < n; ++i) {
    points.push_back({static_cast<int64_t>(i + 1), macs(rng) * 1000,
                      nan(rng) == 0 ? std::nan("") : acc(rng) / 10.0});
  }
  std::shuffle(points.begin(), points.end(), rng);
  return points;
}

TEST(ParetoFrontTest, HandComputedCase) {
  // (MACs, acc): A(10, .5) B(20, .7) C(20, .6) D(30, .7) E(40, .9) F(5, .4)
  // F, A, B and E each beat everything cheaper; C loses to B, D to B.
  std::vector<FrontPoint> p = {{1, 10, .5}, {2, 20, .7}, {3, 20, .6},
                               {4, 30, .7}, {5, 40, .9}, {6, 5, .4}};
  EXPECT_EQ(Ids(ParetoFront(p)), (std::vector<int64_t>{6, 1, 2, 5}));
}

TEST(ParetoFrontTest, TiesAndDuplicatesAreDeterministic) {
  // Exact duplicates: the smallest id stays, whatever the input order.
  std::vector<FrontPoint> dup = {{7, 10, .5}, {3, 10, .5}, {9, 10, .5}};
  EXPECT_EQ(Ids(ParetoFront(dup)), (std::vector<int64_t>{3}));
  std::reverse(dup.begin(), dup.end());
  EXPECT_EQ(Ids(ParetoFront(dup)), (std::vector<int64_t>{3}));
  // Same accuracy, more MACs: dominated. Same MACs, less accuracy: dominated.
  EXPECT_EQ(Ids(ParetoFront({{1, 20, .5}, {2, 10, .5}})), (std::vector<int64_t>{2}));
  EXPECT_EQ(Ids(ParetoFront({{1, 10, .4}, {2, 10, .5}})), (std::vector<int64_t>{2}));
  // Not finite accuracies are ignored; empty input gives an empty front.
  EXPECT_EQ(Ids(ParetoFront({{1, 10, std::nan("")}, {2, 20, .1}})), (std::vector<int64_t>{2}));
  EXPECT_TRUE(ParetoFront({}).empty());
}

TEST(ParetoFrontTest, MatchesBruteForceOnRandomSets) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 500; ++round) {
    const auto points = RandomPoints(rng, 1 + round % 40);
    const auto front = ParetoFront(points);
    ASSERT_EQ(Ids(front), BruteForceFront(points)) << "round " << round;
    for (size_t i = 1; i < front.size(); ++i) {
      EXPECT_LT(front[i - 1].macs, front[i].macs);
      EXPECT_LT(front[i - 1].accuracy, front[i].accuracy);
    }
  }
}

TEST(IncrementalFrontTest, EqualsTheBatchFrontAfterEveryInsert) {
  std::mt19937 rng(99);
  for (int round = 0; round < 200; ++round) {
    const auto points = RandomPoints(rng, 1 + round % 30);
    IncrementalFront inc;
    std::vector<FrontPoint> seen;
    for (const auto& p : points) {
      seen.push_back(p);
      const bool on = inc.Insert(p);
      const auto batch = Ids(ParetoFront(seen));
      ASSERT_EQ(Ids(inc.Points()), batch) << "round " << round;
      EXPECT_EQ(on, std::find(batch.begin(), batch.end(), p.id) != batch.end());
    }
  }
}

TEST(ParetoFrontTest, SqlViewAgreesWithTheFunction) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("fnas-pareto-" + std::to_string(getpid()));
  fs::remove_all(dir);
  std::mt19937 rng(7);
  for (int round = 0; round < 10; ++round) {
    const std::string path = (dir / ("f" + std::to_string(round) + ".db")).string();
    db::Store store(path, db::Store::Mode::kCreate);
    db::StudyRow s;
    s.name = "p";
    s.yaml = "name: p\n";
    s.checkpoint_dir = dir.string();
    auto points = RandomPoints(rng, 25);
    std::vector<db::CandidateRow> cands;
    for (size_t i = 0; i < points.size(); ++i) {
      db::CandidateRow c;
      c.candidate.key = std::to_string(i);
      c.candidate.name = "c" + std::to_string(i);
      c.candidate.f = {1};
      c.macs_conv = points[i].macs;
      cands.push_back(c);
    }
    store.CreateStudy(s, cands);
    const auto rows = store.Candidates();
    std::vector<FrontPoint> stored;
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t id = store.StartTrial(rows[i].id, "w");
      evaluators::QuantReport r;
      r.metrics.acc_q = points[i].accuracy;
      r.metrics.acc_fp32 = 0.5;
      store.CompleteTrial(id, r);
      stored.push_back({id, rows[i].macs_conv, points[i].accuracy});
    }
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement st(db, "SELECT trial_id FROM pareto_front");
    std::vector<int64_t> view;
    while (st.executeStep()) view.push_back(st.getColumn(0).getInt64());
    EXPECT_EQ(view, Ids(ParetoFront(stored))) << "round " << round;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fnas::search
