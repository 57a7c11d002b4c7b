#include "report/report.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "report/svg.h"

namespace fnas::report {

namespace {

// Inline style: readable at a laptop's width (figures in a grid that wraps),
// printable (no dark backgrounds; sections avoid page breaks inside figures).
constexpr const char* kCss = R"(
body{font-family:sans-serif;margin:0 auto;max-width:1240px;padding:0 20px 40px;color:#222;line-height:1.4}
header{border-bottom:2px solid #0072B2;margin-bottom:8px}
h1{font-size:1.6em;margin:18px 0 4px} h2{font-size:1.25em;margin:28px 0 6px;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin:18px 0 6px}
nav{font-size:.95em;margin:6px 0 10px} nav a{margin-right:14px;color:#0072B2;text-decoration:none}
.meta{color:#555;font-size:.9em;margin:2px 0 10px}
.cap{color:#333;max-width:980px}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:10px 18px}
figure{margin:0} svg.plot{width:100%;height:auto;max-width:100%}
table{border-collapse:collapse;font-size:.9em;margin:6px 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left} thead th{background:#f0f4f8}
table.kv th{background:#f7f7f7;white-space:nowrap}
td code,th code{font-size:.95em}
pre{background:#f6f6f6;border:1px solid #ddd;padding:8px;overflow-x:auto;font-size:.85em}
.note{color:#777;font-style:italic}
@media print{nav{display:none}body{max-width:none;padding:0}figure{break-inside:avoid}
h2{break-after:avoid}details{display:none}.figs{display:block}svg.plot{max-width:17cm}}
)";

std::string NowUtc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

Report RenderReport(const StudyData& data, const std::string& report_command) {
  Report r;
  r.sections.push_back(SummarySection(data, report_command));
  r.sections.push_back(ParetoSection(data));
  r.sections.push_back(QuantErrorSection(data));
  r.sections.push_back(HypervolumeSection(data));
  r.sections.push_back(LayerwiseSection(data));
  r.sections.push_back(CurvesSection(data));
  r.sections.push_back(PruningSection(data));
  r.sections.push_back(PathsSection(data));

  bool running = false;
  for (const auto& t : data.trials) running |= t.row.state == db::TrialState::kRunning;
  std::string& h = r.html;
  h.reserve(1 << 20);
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
       "<meta name=\"generator\" content=\"factorize-nas report\"><title>";
  h += Escape(data.study.name) + " · factorize-nas report</title><style>" + kCss +
       "</style></head><body><header><h1>factorize-nas report: " + Escape(data.study.name) +
       "</h1><p class=\"meta\">" + std::to_string(data.trials.size()) + " trials of " +
       std::to_string(data.candidates.size()) + " candidates · generated " + NowUtc() + " from " +
       Escape(data.db_path) + (running ? " · <b>the study is running: a snapshot</b>" : "") +
       "</p><nav>";
  for (const auto& s : r.sections) h += "<a href=\"#" + s.id + "\">" + Escape(s.title) + "</a>";
  h += "</nav></header>\n";
  for (const auto& s : r.sections) {
    h += "<section id=\"" + s.id + "\"><h2>" + Escape(s.title) + "</h2>" + s.html + "</section>\n";
  }
  h += "</body></html>\n";
  return r;
}

void WriteReport(const Report& report, const std::string& out, const std::string& svg_dir) {
  namespace fs = std::filesystem;
  auto write = [](const fs::path& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    if (!f)
      throw RuntimeError("cannot write " + path.string() +
                         " (check the folder exists and is writable)");
  };
  const fs::path out_path(out);
  if (out_path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(out_path.parent_path(), ec);
  }
  write(out_path, report.html);
  if (svg_dir.empty()) return;
  std::error_code ec;
  fs::create_directories(svg_dir, ec);
  if (ec) throw RuntimeError("cannot create the SVG folder " + svg_dir + ": " + ec.message());
  for (const auto& s : report.sections) {
    for (const auto& f : s.figures) {
      write(fs::path(svg_dir) / (f.id + ".svg"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + f.svg + "\n");
    }
  }
}

}  // namespace fnas::report
