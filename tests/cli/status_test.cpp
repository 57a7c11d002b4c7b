// `status` reads its numbers from Store::StudyProgress, one pass over the
// trials table, instead of every trial row: the same numbers as the driver's
// definition of what is left (search::ComputeWorkLeft) and as the loop over
// Trials() that `status` used to run, for a study with trials in every state,
// pending candidates and restartable trials with and without a checkpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "db/store.h"
#include "search/work_left.h"
#include "tests/testing/synthetic_study.h"
#include "tests/testing/temp_dir.h"

namespace fnas {
namespace {

// The loop `status` ran over every trial before (the reference).
double IsoSecondsReference(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6) {
    return std::nan("");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

class StatusProgressTest : public testing::TempDirTest {};

TEST_F(StatusProgressTest, StudyProgressEqualsTheDriversWorkLeftAndTheTrialLoop) {
  const std::string path = (dir_ / "study.db").string();
  testing::SyntheticStudyOptions o;
  o.trials = 24;
  o.epochs = 4;
  o.layer_stats = false;
  testing::WriteSyntheticStudy(path, o);
  db::Store store(path, db::Store::Mode::kReadWrite);
  store.AcquireOwnership(30);
  // Pending candidates, an INTERRUPTED trial with a checkpoint at epoch 2 and
  // one without, a RUNNING one with a checkpoint at epoch 3; some trials whose
  // times are not the store's layout (the slow path) or end before they start.
  std::vector<db::CandidateRow> more;
  for (int rate : {2, 4, 8}) {
    db::CandidateRow c;
    c.candidate.key = "extra-" + std::to_string(rate);
    c.candidate.name = c.candidate.key;
    c.candidate.f = space::Factorization(8, rate);
    c.macs_conv = 1000 * rate;
    more.push_back(c);
  }
  const auto added = store.AddCandidates(more);
  evaluators::EpochRecord rec;
  rec.seconds = 1.25;
  const int64_t a = store.StartTrial(added[0].id, "w");
  for (int e = 1; e <= 2; ++e) {
    rec.epoch = e;
    store.RecordEpoch(a, rec, nullptr, "/ckpt/a-" + std::to_string(e));
  }
  store.InterruptTrial(a, "stopped");
  const int64_t b = store.StartTrial(added[1].id, "w");
  rec.epoch = 1;
  store.RecordEpoch(b, rec, nullptr, "");
  store.InterruptTrial(b, "stopped");
  const int64_t c = store.StartTrial(added[2].id, "w");
  for (int e = 1; e <= 3; ++e) {
    rec.epoch = e;
    store.RecordEpoch(c, rec, nullptr, "/ckpt/c-" + std::to_string(e));
  }
  // Times of finished trials (the trigger that keeps them is dropped in this
  // copy): another layout, and an end before the start.
  store.ExecForTesting(
      "DROP TRIGGER trials_finished_no_update;"
      "UPDATE trials SET started_at = '2026-12-03T10:00:00Z', ended_at = '2026-12-3T10:0:09.5Z' "
      "WHERE id = 2;"
      "UPDATE trials SET ended_at = '2020-01-01T00:00:00.000Z' WHERE id = 3;");
  for (int epochs : {4, 6, 1}) {
    const db::Progress p = store.StudyProgress(epochs);
    const search::WorkLeft left = search::ComputeWorkLeft(store, epochs);
    EXPECT_EQ(p.candidates, left.candidates);
    EXPECT_EQ(p.pending, left.pending);
    EXPECT_EQ(p.restartable, left.restartable);
    EXPECT_EQ(p.pending + p.restartable, static_cast<int64_t>(left.items.size()));
    EXPECT_EQ(p.epochs_left, left.epochs_left) << epochs;

    std::map<db::TrialState, int64_t> count;
    int64_t epochs_done = 0, paced_epochs = 0;
    double seconds = 0, paced_wall = 0;
    for (const auto& t : store.Trials()) {
      ++count[t.state];
      epochs_done += t.epochs_done;
      seconds += t.seconds;
      const double wall = IsoSecondsReference(t.ended_at) - IsoSecondsReference(t.started_at);
      if (t.state == db::TrialState::kComplete && t.attempts == 1 && wall > 0) {
        paced_wall += wall;
        paced_epochs += t.epochs_done;
      }
    }
    EXPECT_EQ(p.count, count);
    EXPECT_EQ(p.epochs_done, epochs_done);
    EXPECT_EQ(p.seconds, seconds);  // exactly: the same additions in the same order
    EXPECT_EQ(p.paced_wall, paced_wall);
    EXPECT_EQ(p.paced_epochs, paced_epochs);
    EXPECT_GT(p.paced_epochs, 0);
  }
}

}  // namespace
}  // namespace fnas
