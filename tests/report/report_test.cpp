// The report of a synthetic study (every trial state, pruning decisions,
// layer statistics): every section, one point per trial, the front, the
// layerwise choice, the files of `factorize-nas report`, and its errors.
#include "report/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "report/data.h"
#include "tests/testing/cli.h"
#include "tests/testing/synthetic_study.h"
#include "tests/testing/temp_dir.h"

namespace fnas::report {
namespace {

namespace fs = std::filesystem;
using fnas::testing::RunCli;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The <svg id="id"> element of a page.
std::string SvgById(const std::string& html, const std::string& id) {
  const size_t begin = html.find("id=\"" + id + "\" class=\"plot\"");
  if (begin == std::string::npos) return "";
  return html.substr(begin, html.find("</svg>", begin) - begin);
}

// stdout of a shell command.
std::string RunShell(const std::string& cmd) {
  std::string out;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

class ReportTest : public fnas::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    db_ = (dir_ / "synthetic.db").string();
    options_.trials = 20;
    options_.epochs = 4;
    fnas::testing::WriteSyntheticStudy(db_, options_);
  }
  std::string db_;
  fnas::testing::SyntheticStudyOptions options_;
};

TEST_F(ReportTest, EverySectionIsThereWithOnePointPerTrialInEachScatterPlot) {
  const StudyData data = LoadStudyData(db_);
  ASSERT_EQ(data.trials.size(), 20u);
  EXPECT_EQ(data.epochs_per_trial, 4);
  const Report report = RenderReport(data, "factorize-nas report x.db");
  for (const char* id : {"summary", "pareto", "quant-error", "hypervolume", "layerwise", "curves",
                         "pruning", "paths"}) {
    EXPECT_NE(report.html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos)
        << id;
  }
  for (const char* id : {"pareto-quint8", "pareto-fp32", "qmse", "qce", "rel-decrease", "paths"}) {
    const std::string svg = SvgById(report.html, id);
    ASSERT_FALSE(svg.empty()) << id;
    EXPECT_EQ(Count(svg, "<g class=\"pt "), 20) << id;
  }
  // States (SyntheticState): pruned i = 3, 6, 9, 13, 16; failed i = 5; running
  // i = 19 (the last); the other 13 complete.
  const std::string q8 = SvgById(report.html, "pareto-quint8");
  EXPECT_EQ(Count(q8, "st-pruned"), 5);
  EXPECT_EQ(Count(q8, "st-failed"), 1);
  EXPECT_EQ(Count(q8, "st-running"), 1);
  EXPECT_EQ(Count(q8, "st-complete"), 13);
  EXPECT_NE(q8.find("<path class=\"front\""), std::string::npos);
  // The failed trial has no metric: it is drawn in the strip labelled "none".
  EXPECT_NE(q8.find(">none</text>"), std::string::npos);
  // Hover text names the candidate, its factorization and numbers.
  EXPECT_NE(q8.find("<title>regular · trial 1 · COMPLETE\nf = 1.1.1.1.1.1.1.1\nconv MACs"),
            std::string::npos);
  // Pruning decisions at rung 2 on the validation curves: 5 prunes, the others continue.
  const std::string curve = SvgById(report.html, "curve-quint8");
  EXPECT_EQ(Count(curve, "class=\"decision prune\""), 5);
  EXPECT_EQ(Count(curve, "class=\"decision continue\""), 13);
  EXPECT_NE(curve.find(">rung 2</text>"), std::string::npos);
  // The synthetic study has a RUNNING trial: the header says this is a snapshot.
  EXPECT_NE(report.html.find("the study is running: a snapshot"), std::string::npos);
  // Self-contained: no script, no external reference.
  EXPECT_EQ(report.html.find("<script"), std::string::npos);
  EXPECT_EQ(Count(report.html, "http://"), Count(report.html, "http://www.w3.org/2000/svg"));
  EXPECT_EQ(report.html.find("https://"), std::string::npos);
}

TEST_F(ReportTest, TheSummaryCountsTheBudgetAndListsTheFront) {
  const StudyData data = LoadStudyData(db_);
  const Section s = SummarySection(data, "factorize-nas report x.db --out r.html");
  // Epochs: 13 complete x 4 + 5 pruned x 2 + 1 running x 1 = 63 of 20 x 4 = 80.
  EXPECT_NE(s.html.find("63 epochs trained of 80"), std::string::npos) << s.html;
  // Pruning saved 5 x (4 - 2) = 10 epochs.
  EXPECT_NE(s.html.find("pruning saved 10 epochs"), std::string::npos);
  EXPECT_NE(s.html.find("COMPLETE 13"), std::string::npos);
  EXPECT_NE(s.html.find("PRUNED 5"), std::string::npos);
  EXPECT_NE(s.html.find("FAILED 1"), std::string::npos);
  EXPECT_NE(s.html.find("factorize-nas report x.db --out r.html"), std::string::npos);
  // The front table has as many rows as the quint8 front.
  const size_t table = s.html.find("<table class=\"front\">");
  ASSERT_NE(table, std::string::npos);
  const std::string front = s.html.substr(table, s.html.find("</table>", table) - table);
  EXPECT_EQ(Count(front, "<tr>") - 1, static_cast<int>(data.front_size));
  EXPECT_GE(data.front_size, 1u);
}

TEST_F(ReportTest, TheFrontsAreTheStoresFrontTable) {
  // The members by the definition (docs/database.md), brute force over the
  // COMPLETE trials: nobody has no more MACs and no less accuracy and is
  // better in one, or is a duplicate with a smaller id. By MACs.
  const StudyData data = LoadStudyData(db_);
  for (bool q8 : {true, false}) {
    std::vector<std::pair<int64_t, int64_t>> expected;  // (MACs, id)
    for (const auto& p : data.trials) {
      if (p.row.state != db::TrialState::kComplete) continue;
      const double pa = q8 ? p.row.test.acc_q : p.row.test.acc_fp32;
      bool beaten = false;
      for (const auto& q : data.trials) {
        if (q.row.state != db::TrialState::kComplete || q.row.id == p.row.id) continue;
        const double qa = q8 ? q.row.test.acc_q : q.row.test.acc_fp32;
        beaten |= q.row.macs_conv <= p.row.macs_conv && qa >= pa &&
                  (q.row.macs_conv < p.row.macs_conv || qa > pa || q.row.id < p.row.id);
      }
      if (!beaten) expected.push_back({p.row.macs_conv, p.row.id});
    }
    std::sort(expected.begin(), expected.end());
    std::vector<int64_t> ids;
    for (const auto& e : expected) ids.push_back(e.second);
    EXPECT_EQ(q8 ? data.front_quint8 : data.front_fp32, ids) << (q8 ? "quint8" : "fp32");
    EXPECT_GE(ids.size(), 2u);
  }
  EXPECT_EQ(data.front_size, data.front_quint8.size());
}

TEST_F(ReportTest, LayerwiseFiguresShowTheFrontOrTheChosenTrials) {
  const StudyData front = LoadStudyData(db_);
  EXPECT_EQ(front.layerwise.size(), std::min<size_t>(front.front_size, 8));
  ReportOptions options;
  options.trials = {"regular", "7", front.trials[10].row.candidate_key};
  const StudyData chosen = LoadStudyData(db_, options);
  ASSERT_EQ(chosen.layerwise.size(), 3u);
  const Section s = LayerwiseSection(chosen);
  EXPECT_EQ(s.figures.size(), 9u);
  // regular has 11 quantized ops (stem, 8 convs, 3 dense); every trial is in the legend.
  const std::string sqnr = s.figures[3].svg;
  EXPECT_EQ(s.figures[3].id, "layer-sqnr");
  EXPECT_NE(sqnr.find("<title>regular · conv_64_1: "), std::string::npos);
  for (int64_t id : chosen.layerwise) {
    EXPECT_NE(sqnr.find(">" + chosen.FindTrial(id)->row.candidate_name + "</text>"),
              std::string::npos);
  }
  options.trials = {"no-such-candidate"};
  const std::string error =
      fnas::testing::ErrorOf<UsageError>([&] { LoadStudyData(db_, options); });
  EXPECT_NE(error.find("'no-such-candidate'"), std::string::npos) << error;
  EXPECT_NE(error.find("regular"), std::string::npos) << error;
}

TEST_F(ReportTest, PathsDrawAnArrowPerParentChildPairWithBothTrials) {
  StudyData data = LoadStudyData(db_);
  Section grid = PathsSection(data);
  EXPECT_EQ(Count(grid.html, "<g class=\"arrow\">"), 0);
  EXPECT_NE(grid.html.find("records no parent → child links"), std::string::npos);
  // A progressive study's links (as CandidateRow's parent_id / step / move):
  // candidate 2 and 3 from 1 at step 1, 4 from 2 at step 2. Candidate 6 is the
  // failed trial's (no metric: no arrow can be drawn to it).
  data.parent = {{2, 1}, {3, 1}, {4, 2}, {6, 1}};
  for (auto& c : data.candidates) {
    if (data.parent.count(c.id)) c.parent_id = data.parent.at(c.id);
    if (c.id == 2 || c.id == 3 || c.id == 6) c.step = 1, c.move = "conv_64_1 1->2";
    if (c.id == 4) c.step = 2, c.move = "conv_128_1 1->2";
  }
  const Section paths = PathsSection(data);
  EXPECT_EQ(Count(paths.html, "<g class=\"arrow\">"), 3) << paths.html;
  EXPECT_NE(paths.html.find("<title>regular → " + data.trials[1].row.candidate_name +
                            " · step 1 · conv_64_1 1-&gt;2</title>"),
            std::string::npos);
  EXPECT_NE(paths.html.find(">step 2</text>"), std::string::npos);
  EXPECT_NE(paths.html.find("4 parent → child moves"), std::string::npos);
  // The lineage table: one row per candidate with a parent, the failed one included.
  const size_t table = paths.html.find("<table class=\"lineage\">");
  ASSERT_NE(table, std::string::npos);
  const std::string lineage = paths.html.substr(table, paths.html.find("</table>", table) - table);
  EXPECT_EQ(Count(lineage, "<tr>") - 1, 4);
  EXPECT_NE(
      lineage.find("<td>2</td><td>" + data.FindCandidate(4)->candidate.name + "</td><td>" +
                   data.FindCandidate(2)->candidate.name + "</td><td>conv_128_1 1-&gt;2</td>"),
      std::string::npos)
      << lineage;
  EXPECT_NE(lineage.find("<td>failed</td>"), std::string::npos);
  EXPECT_EQ(grid.html.find("<table class=\"lineage\">"), std::string::npos);
}

TEST_F(ReportTest, PruningListsEveryRungAndEveryPrunedTrialWithItsJustification) {
  const StudyData data = LoadStudyData(db_);
  const Section s = PruningSection(data);
  // Rung 2: the 13 complete and 5 pruned trials were judged (the running one
  // and the failed one never reached it); the 5 were pruned by rule "rank".
  EXPECT_NE(s.html.find("<tr><td>2</td><td>18</td><td>13</td><td>5</td><td>rank 5</td></tr>"),
            std::string::npos)
      << s.html;
  const size_t table = s.html.find("<table class=\"pruned\">");
  ASSERT_NE(table, std::string::npos);
  const std::string pruned = s.html.substr(table, s.html.find("</table>", table) - table);
  EXPECT_EQ(Count(pruned, "<tr>") - 1, 5);
  EXPECT_EQ(Count(pruned, "dominated at rung 2"), 5);
  const std::string by = "regular (1), " + data.FindTrial(2)->row.candidate_name + " (2)";
  EXPECT_EQ(Count(pruned, by), 5) << pruned;
  // A study without decisions says so.
  StudyData none = data;
  for (auto& t : none.trials) t.decisions.clear();
  EXPECT_NE(PruningSection(none).html.find("No pruning decision is recorded"), std::string::npos);
}

TEST_F(ReportTest, ShownMetricsAreTestForCompleteAndLastValidationOtherwise) {
  const StudyData data = LoadStudyData(db_);
  const TrialData& complete = data.trials[0];
  ASSERT_TRUE(complete.shown);
  EXPECT_TRUE(complete.shown->test);
  EXPECT_DOUBLE_EQ(complete.shown->metrics.acc_q, complete.row.test.acc_q);
  const TrialData& pruned = data.trials[3];
  ASSERT_EQ(pruned.row.state, db::TrialState::kPruned);
  ASSERT_TRUE(pruned.shown);
  EXPECT_FALSE(pruned.shown->test);
  EXPECT_EQ(pruned.shown->epoch, 2);
  EXPECT_DOUBLE_EQ(pruned.shown->metrics.acc_q, pruned.epochs.back().validation.acc_q);
  EXPECT_FALSE(data.trials[5].shown);  // failed before any epoch
}

TEST_F(ReportTest, CommandWritesThePageAndEveryFigureAsStandaloneSvg) {
  const std::string out = (dir_ / "out" / "report.html").string();
  const std::string svgs = (dir_ / "svg").string();
  const auto r = RunCli("report " + db_ + " --out " + out + " --svg-dir " + svgs);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + out + " (20 trials, 19 figures"), std::string::npos) << r.out;
  std::ifstream in(out);
  std::stringstream html;
  html << in.rdbuf();
  EXPECT_EQ(html.str().rfind("<!DOCTYPE html>", 0), 0u);
  int files = 0;
  for (const auto& e : fs::directory_iterator(svgs)) {
    ++files;
    std::ifstream f(e.path());
    std::stringstream text;
    text << f.rdbuf();
    EXPECT_EQ(text.str().rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=", 0), 0u)
        << e.path();
  }
  EXPECT_EQ(files, 19);
  // Well-formed XML, by an independent parser (Python's ElementTree).
  const auto xml = RunShell(
      "python3 -c \"import glob, sys, xml.etree.ElementTree as ET; "
      "[ET.parse(f) for f in glob.glob(sys.argv[1] + '/*.svg')]; "
      "print('parsed', len(glob.glob(sys.argv[1] + '/*.svg')))\" " +
      svgs);
  EXPECT_EQ(xml, "parsed 19\n");
  EXPECT_TRUE(fs::exists(fs::path(svgs) / "pareto-quint8.svg"));
  // Default output: the database's name with .html.
  ASSERT_EQ(RunCli("report " + db_).code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "synthetic.html"));
}

TEST_F(ReportTest, CommandRefusesWhatItCannotRead) {
  auto r = RunCli("report " + (dir_ / "missing.db").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("missing.db"), std::string::npos) << r.out;
  r = RunCli("report " + db_ + " --trials nope --out " + (dir_ / "x.html").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("'nope'"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "x.html"));
}

}  // namespace
}  // namespace fnas::report
