#include "search/progress.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

namespace fnas::search {
namespace {

TEST(ProgressTest, EtaAtTheAveragePace) {
  // 2 epochs took 10 s: 6 more take 30 s.
  EXPECT_DOUBLE_EQ(StreamProgress::Eta(10.0, 2, 6), 30.0);
  EXPECT_DOUBLE_EQ(StreamProgress::Eta(10.0, 2, 0), 0.0);
  EXPECT_LT(StreamProgress::Eta(10.0, 0, 6), 0);  // unknown before the first epoch
}

// Hand-computed: 10 s per epoch, 6 epochs left, 2 unfinished trials on 4
// workers: only 2 run at once, 10 * 6 / 2 = 30 s (not 15).
TEST(ProgressTest, StudyEtaSpreadsOverTheWorkersThatCanRun) {
  EXPECT_DOUBLE_EQ(EstimateRemainingSeconds(10, 6, 2, 4), 30);
  EXPECT_DOUBLE_EQ(EstimateRemainingSeconds(10, 6, 5, 3), 20);
  EXPECT_EQ(EstimateRemainingSeconds(10, 0, 0, 2), 0);
  // A trial in its final evaluation: not "0 s" but unknown.
  EXPECT_TRUE(std::isnan(EstimateRemainingSeconds(10, 0, 1, 2)));
  EXPECT_TRUE(std::isnan(EstimateRemainingSeconds(0, 4, 1, 2)));
}

TEST(ProgressTest, FormatsDurations) {
  EXPECT_EQ(FormatDuration(42), "42s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(3725), "1h02m");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(ProgressTest, PlainLinesWhenNotATerminal) {
  std::ostringstream out;
  StreamProgress p(out, /*live=*/false);
  p.Begin("s", 3, 1, 4, 2);
  p.TrialStarted(1, 7, "uniform-f2", 0, 2);
  p.Batch(1, 1, 1, 4, 0.5, 100);
  evaluators::EpochRecord r;
  r.epoch = 1;
  r.train_loss = 0.5;
  evaluators::QuantReport q;
  q.metrics.acc_q = 0.25;
  p.Epoch(1, r, &q);
  p.TrialFinished(1, 7, "uniform-f2", "COMPLETE quint8 0.5");
  p.End();
  const std::string s = out.str();
  EXPECT_EQ(s.find('\x1b'), std::string::npos) << s;  // no escape codes
  EXPECT_NE(s.find("study s: 3 trials, 1 finished, 2 to run on 2 worker(s)\n"), std::string::npos);
  EXPECT_NE(s.find("trial 7 uniform-f2 starts (worker 1)\n"), std::string::npos);
  EXPECT_NE(s.find("trial 7 uniform-f2 epoch 1/2 loss 0.5000"), std::string::npos);
  EXPECT_NE(s.find("val quint8 0.2500"), std::string::npos);
  EXPECT_NE(s.find("trial 7 uniform-f2: COMPLETE quint8 0.5\n"), std::string::npos);
}

TEST(ProgressTest, LiveBlockOnATerminalIsClearedAtTheEnd) {
  std::ostringstream out;
  StreamProgress p(out, /*live=*/true);
  p.Begin("s", 2, 0, 2, 2);
  p.TrialStarted(0, 1, "regular", 0, 1);
  p.Batch(0, 1, 2, 4, 0.5, 100);
  // Redraws are throttled to 10 a second: the next tick after that shows the batch.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  p.Tick();
  const std::string during = out.str();
  EXPECT_NE(during.find("w0 trial 1 regular"), std::string::npos) << during;
  EXPECT_NE(during.find("  50.0%"), std::string::npos) << during;
  EXPECT_NE(during.find("w1 idle"), std::string::npos) << during;
  EXPECT_NE(during.find("0/2 trials"), std::string::npos) << during;
  p.End();
  // The block (2 workers + the bar) is erased: cursor up 3 lines, 3 cleared lines.
  const std::string tail = out.str().substr(during.size());
  EXPECT_EQ(tail.rfind("\x1b[3A", 0), 0u) << tail;
}

// A narrow terminal: every live line fits (a wrapped one broke the redraw).
TEST(ProgressTest, LiveLinesFitANarrowTerminal) {
  setenv("COLUMNS", "40", 1);
  std::ostringstream out;
  StreamProgress p(out, /*live=*/true);
  p.Begin("s", 2, 0, 2, 2);
  p.TrialStarted(0, 1, "a-rather-long-candidate-name", 0, 10);
  p.Batch(0, 1, 2, 4, 0.5, 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  p.Tick();
  unsetenv("COLUMNS");
  const std::string s = out.str();
  size_t start = 0, checked = 0;
  while ((start = s.find("\x1b[2K", start)) != std::string::npos) {
    start += 4;
    const size_t end = s.find('\n', start);
    EXPECT_LE(end - start, 39u) << s.substr(start, end - start);
    ++checked;
  }
  EXPECT_GE(checked, 3u);
}

TEST(ProgressTest, QuietPrintsNothing) {
  auto p = MakeProgress(std::cout, /*quiet=*/true, /*tty=*/true);
  EXPECT_NE(dynamic_cast<QuietProgress*>(p.get()), nullptr);
}

}  // namespace
}  // namespace fnas::search
