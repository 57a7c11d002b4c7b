// The report of a small real study (Fashion-MNIST, tiny width, a few hundred
// images, 2 epochs), opened in headless Chromium as a user would: a
// screenshot is taken and the DOM the browser built is checked for every
// section and for one plotted point per trial of the database. Skipped
// (with a message) only where Debian's chromium is not installed;
// scripts/install-deps.sh installs it, so CI runs it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/testing/cli.h"
#include "tests/testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using fnas::testing::RunCli;

std::string Chromium() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/snap/bin"}) {
      const fs::path p = fs::path(dir) / name;
      if (fs::exists(p)) return p.string();
    }
  }
  return "";
}

// Runs a shell command, returns its exit code and stdout.
std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, out};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The serialized <svg> element with this id in the browser's DOM.
std::string SvgElement(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex("<svg[^>]*\\bid=\"" + id + "\""))) return "";
  const size_t begin = m.position(0);
  return dom.substr(begin, dom.find("</svg>", begin) - begin);
}

class BrowserTest : public fnas::testing::TempDirTest {
 protected:
  // Makes the report of `db`, opens it in headless chromium as a user would
  // (a screenshot, checked to be a PNG of a page with plots) and returns the
  // DOM the browser built.
  std::string RenderInChromium(const std::string& chromium, const std::string& db,
                               const std::string& name) {
    const std::string html = (dir_ / (name + ".html")).string();
    auto r = RunCli("report " + db + " --out " + html);
    EXPECT_EQ(r.code, 0) << r.out;
    const std::string flags =
        " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking"
        " --disable-component-update --disable-sync --disable-quic --hide-scrollbars"
        " --user-data-dir=" +
        (dir_ / ("profile-" + name)).string();
    const std::string png = (dir_ / (name + ".png")).string();
    auto shot = Shell("timeout 120 " + chromium + flags +
                      " --window-size=1280,2000 --screenshot=" + png + " file://" + html + " 2>&1");
    EXPECT_EQ(shot.first, 0) << shot.second;
    EXPECT_TRUE(fs::exists(png)) << shot.second;
    std::ifstream png_in(png, std::ios::binary);
    char sig[8] = {};
    png_in.read(sig, 8);
    EXPECT_EQ(std::string(sig + 1, 3), "PNG");
    EXPECT_GT(fs::exists(png) ? fs::file_size(png) : 0, 20000u);  // a page with plots
    auto dom =
        Shell("timeout 120 " + chromium + flags + " --dump-dom file://" + html + " 2>/dev/null");
    EXPECT_EQ(dom.first, 0);
    return dom.second;
  }
  // Runs `search` on the config (extra options appended) and returns `trials`'s JSON.
  static nlohmann::json SearchAndListTrials(const std::string& config, const std::string& db,
                                            const std::string& extra = "") {
    auto r = RunCli("search " + config + " --db " + db + extra + " --quiet");
    EXPECT_EQ(r.code, 0) << r.out;
    r = RunCli("trials " + db + " --format json");
    EXPECT_EQ(r.code, 0) << r.out;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::array();
  }
  static void ExpectEverySection(const std::string& dom) {
    for (const char* id : {"summary", "pareto", "quant-error", "hypervolume", "layerwise", "curves",
                           "pruning", "paths"}) {
      EXPECT_NE(dom.find("<section id=\"" + std::string(id) + "\""), std::string::npos) << id;
    }
  }
  // One plotted point per trial of the database in every per-trial figure.
  static void ExpectOnePointPerTrial(const std::string& dom, size_t trials) {
    for (const char* id :
         {"pareto-quint8", "pareto-fp32", "qmse", "qce", "rel-decrease", "paths"}) {
      const std::string svg = SvgElement(dom, id);
      ASSERT_FALSE(svg.empty()) << id;
      EXPECT_EQ(Count(svg, "class=\"pt "), static_cast<int>(trials)) << id;
    }
  }
};

TEST_F(BrowserTest, RealStudyReportRendersInHeadlessChromiumWithEveryTrialPlotted) {
  const std::string chromium = Chromium();
  if (chromium.empty())
    GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps.sh)";
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh)";
  }
  const std::string config = (dir_ / "tiny.yaml").string();
  const std::string db = (dir_ / "tiny.db").string();
  std::ofstream(config) << R"(name: browser-tiny
seed: 3
model: {input: [1, 28, 28], width: 0.125, classes: 10, dense: [32]}
space:
  paths: [regular, depthwise, {uniform: [4]}]
data: {dataset: fashion_mnist, train_subset: 320, validation: 96, test_subset: 192}
training: {epochs: 2, batch_size: 32, lr: 0.05, milestones: [0.5], augment: false}
quantization: {calibration_samples: 64, percentile: 1.0}
search: {record_every: 1}
execution: {workers: 2}
)";
  const size_t trials = SearchAndListTrials(config, db).size();
  ASSERT_EQ(trials, 3u);

  const std::string d = RenderInChromium(chromium, db, "tiny");
  ASSERT_NE(d.find("factorize-nas report: browser-tiny"), std::string::npos) << d.substr(0, 2000);
  ExpectEverySection(d);
  ExpectOnePointPerTrial(d, trials);
  // The sections are filled: the front table, layerwise points, per-epoch lines.
  EXPECT_NE(d.find("<table class=\"front\">"), std::string::npos);
  EXPECT_GT(Count(SvgElement(d, "layer-sqnr"), "class=\"lw\""), 10);
  EXPECT_EQ(Count(SvgElement(d, "curve-fp32"), "class=\"ln\""), static_cast<int>(trials));
}

// A progressive search with quantization-aware pruning (the scripted
// evaluator: no training): the pruned trials, their decisions and the
// parent -> child paths are in the page the browser built.
TEST_F(BrowserTest, ProgressiveStudyWithPruningShowsDecisionsAndPaths) {
  const std::string chromium = Chromium();
  if (chromium.empty())
    GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps.sh)";
  const std::string config = (dir_ / "prog.yaml").string();
  const std::string db = (dir_ / "prog.db").string();
  std::ofstream(config) << R"(name: browser-progressive
model: {input: [1, 28, 28], width: 0.125, dense: [16]}
space:
  paths: [regular, {uniform: [2]}, {reverse_pyramid: [2]}]
data: {dataset: synthetic, validation: 64}
training: {epochs: 4}
search:
  strategy: progressive
  progressive: {expand_epoch: 1, max_trials: 12, per_step: 3}
pruning: {pruner: quant-aware, rungs: [1, 2], eta: 2, min_peers: 1, max_rel_decrease: 1.5}
execution: {workers: 1}
)";
  const auto trials = SearchAndListTrials(config, db, " --evaluator scripted");
  ASSERT_EQ(trials.size(), 12u);
  int pruned = 0;
  for (const auto& t : trials) pruned += t["state"] == "PRUNED";
  ASSERT_GE(pruned, 1) << trials.dump();

  const std::string d = RenderInChromium(chromium, db, "prog");
  ASSERT_NE(d.find("factorize-nas report: browser-progressive"), std::string::npos);
  ExpectEverySection(d);
  ExpectOnePointPerTrial(d, trials.size());
  // Pruned trials are marked as such, decisions at their rungs, one row each
  // in the pruning table; the 9 appended candidates have an arrow and a row.
  EXPECT_EQ(Count(SvgElement(d, "pareto-quint8"), "st-pruned"), pruned);
  EXPECT_EQ(Count(SvgElement(d, "curve-fp32"), "class=\"decision prune\""), pruned);
  const size_t table = d.find("<table class=\"pruned\">");
  ASSERT_NE(table, std::string::npos);
  EXPECT_EQ(Count(d.substr(table, d.find("</table>", table) - table), "<tr>") - 1, pruned);
  EXPECT_EQ(Count(SvgElement(d, "paths"), "class=\"arrow\""), 9);
  const size_t lineage = d.find("<table class=\"lineage\">");
  ASSERT_NE(lineage, std::string::npos);
  EXPECT_EQ(Count(d.substr(lineage, d.find("</table>", lineage) - lineage), "<tr>") - 1, 9);
}

}  // namespace
