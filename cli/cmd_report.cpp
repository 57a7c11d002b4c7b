// factorize-nas report DB [--out FILE] [--trials ID|NAME,...] [--svg-dir DIR]
//                         [--screenshot PNG [--screenshot-size WxH]]:
// the study's HTML report with the paper's plots (report/report.h). Reads the
// database read-only, so a running study can be reported.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "common/error.h"
#include "report/data.h"
#include "report/report.h"
#include "report/screenshot.h"

namespace fnas::cli {

namespace {

// FILE.db -> FILE.html
std::string DefaultOut(const std::string& db) {
  std::filesystem::path p(db);
  p.replace_extension(".html");
  return p.string();
}

std::string QuoteArg(const std::string& s) {
  if (s.find_first_of(" \t'\"$`\\|&;<>()*?[]#~") == std::string::npos && !s.empty()) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Command MakeReportCommand(CLI::App& root) {
  struct Args {
    std::string db, out, svg_dir, screenshot, size = "1280x1500";
    std::vector<std::string> trials;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "report",
      "An HTML report of the study: Pareto fronts, quantization error, hypervolume, layerwise "
      "statistics, per-epoch curves, search paths (one self-contained file)");
  app->add_option("db", args->db, "The study's SQLite database (read-only; may be running)")
      ->required();
  app->add_option("--out,-o", args->out, "The HTML file to write (default: DB with .html)");
  app->add_option("--trials", args->trials,
                  "Trials of the layerwise figures: ids, candidate names or keys "
                  "(default: the quint8 Pareto front)")
      ->delimiter(',');
  app->add_option("--svg-dir", args->svg_dir, "Also write every figure as DIR/<figure>.svg");
  app->add_option("--screenshot", args->screenshot,
                  "Also write a PNG of the page's top, taken by headless chromium");
  app->add_option("--screenshot-size", args->size, "Browser window of the screenshot, WxH")
      ->capture_default_str();
  return {app, [args]() {
            const std::string out = args->out.empty() ? DefaultOut(args->db) : args->out;
            int width = 0, height = 0;
            char rest = 0;
            if (std::sscanf(args->size.c_str(), "%dx%d%c", &width, &height, &rest) != 2 ||
                width < 200 || height < 200 || width > 8000 || height > 30000) {
              throw UsageError("--screenshot-size: '" + args->size +
                               "' is not WIDTHxHEIGHT in pixels (200..8000 x 200..30000), "
                               "e.g. 1280x1500");
            }
            report::ReportOptions options;
            options.trials = args->trials;
            const report::StudyData data = report::LoadStudyData(args->db, options);
            std::string command =
                "factorize-nas report " + QuoteArg(args->db) + " --out " + QuoteArg(out);
            if (!args->trials.empty()) {
              std::string list;
              for (const auto& t : args->trials) list += (list.empty() ? "" : ",") + t;
              command += " --trials " + QuoteArg(list);
            }
            if (!args->svg_dir.empty()) command += " --svg-dir " + QuoteArg(args->svg_dir);
            if (!args->screenshot.empty()) command += " --screenshot " + QuoteArg(args->screenshot);
            const report::Report report = report::RenderReport(data, command);
            report::WriteReport(report, out, args->svg_dir);
            size_t figures = 0;
            for (const auto& s : report.sections) figures += s.figures.size();
            std::cout << "wrote " << out << " (" << data.trials.size() << " trials, " << figures
                      << " figures, " << (report.html.size() + 1023) / 1024 << " KiB)";
            if (!args->svg_dir.empty())
              std::cout << " and " << figures << " SVG files in " << args->svg_dir;
            std::cout << "\n";
            if (!args->screenshot.empty()) {
              report::Screenshot(out, args->screenshot, width, height);
              std::cout << "wrote " << args->screenshot << " (" << width << "x" << height
                        << " screenshot by headless chromium)\n";
            }
            return 0;
          }};
}

const CommandRegistrar kRegistrar(75, MakeReportCommand);

}  // namespace

}  // namespace fnas::cli
