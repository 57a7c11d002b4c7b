// Times `factorize-nas report` on a large synthetic study (issue #10: 2,000
// trials render in under 2 s, the file stays under 5 MB). The study is
// written straight into a store (tests/testing/synthetic_study.h: every
// trial state, pruning decisions, layer statistics at every recorded epoch),
// then the report is read, rendered and written as the command does.
//
//   cmake --build build --target report_render_cpp
//   build/bench/report_render_cpp [TRIALS=2000] [EPOCHS=10]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "report/data.h"
#include "report/report.h"
#include "tests/testing/synthetic_study.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using Clock = std::chrono::steady_clock;
  const int trials = argc > 1 ? std::stoi(argv[1]) : 2000;
  const int epochs = argc > 2 ? std::stoi(argv[2]) : 10;
  const fs::path dir =
      fs::temp_directory_path() / ("fnas-report-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string db = (dir / "study.db").string();

  auto t0 = Clock::now();
  fnas::testing::SyntheticStudyOptions options;
  options.trials = trials;
  options.epochs = epochs;
  options.rung = 3;
  fnas::testing::WriteSyntheticStudy(db, options);
  auto t1 = Clock::now();
  const auto data = fnas::report::LoadStudyData(db);
  auto t2 = Clock::now();
  const auto report = fnas::report::RenderReport(data, "factorize-nas report study.db");
  auto t3 = Clock::now();
  fnas::report::WriteReport(report, (dir / "report.html").string(), (dir / "svg").string());
  auto t4 = Clock::now();
  auto s = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  const double total = s(t1, t4);
  const double mb = static_cast<double>(fs::file_size(dir / "report.html")) / 1e6;
  std::printf(
      "synthetic study: %d trials x %d epochs, written in %.1f s (not part of the report)\n",
      trials, epochs, s(t0, t1));
  std::printf(
      "report: read %.3f s + render %.3f s + write (page and SVGs) %.3f s = %.3f s "
      "(target < 2 s)\n",
      s(t1, t2), s(t2, t3), s(t3, t4), total);
  std::printf("report.html: %.2f MB (target < 5 MB)\n", mb);
  fs::remove_all(dir);
  return 0;
}
