// The HTML report of a study (issue #10): one self-contained file (inline
// SVG and CSS; no script, no network, no external font) with every section
// of sections.h, and each figure as a standalone SVG for papers and slides.
// Pure rendering from StudyData; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "report/data.h"
#include "report/sections.h"

namespace fnas::report {

struct Report {
  std::string html;
  std::vector<Section> sections;  // in page order
};

// Renders every section into one HTML page. `report_command` is the command
// line that makes this report (shown in the summary's "Reproduce").
Report RenderReport(const StudyData& data, const std::string& report_command);

// Writes the page to `out` and, when `svg_dir` is not empty, every figure to
// `svg_dir/<id>.svg` (the folder is created). Throws RuntimeError naming the
// path that cannot be written.
void WriteReport(const Report& report, const std::string& out, const std::string& svg_dir);

}  // namespace fnas::report
