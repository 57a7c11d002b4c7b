#include "cli/query.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fnas::cli {

Table::Cell Metric(double v) {
  if (!std::isfinite(v)) return std::monostate{};
  return v;
}

void PrintRecord(std::ostream& out, const Table& record, Format format) {
  if (format != Format::kTable || record.rows().size() != 1) {
    record.Print(out, format);
    return;
  }
  size_t width = 0;
  for (const auto& c : record.columns()) width = std::max(width, c.size());
  for (size_t i = 0; i < record.columns().size(); ++i) {
    const std::string& name = record.columns()[i];
    out << name << ":" << std::string(width - name.size() + 1, ' ')
        << Table::CellText(record.rows()[0][i], 4) << "\n";
  }
}

void PrintSections(std::ostream& out, const std::vector<std::pair<std::string, Table>>& sections,
                   Format format) {
  if (format == Format::kJson) {
    nlohmann::ordered_json all = nlohmann::ordered_json::object();
    for (const auto& [title, table] : sections) {
      const bool record = !title.empty() && title[0] == '=';
      std::ostringstream os;
      table.PrintJson(os);
      nlohmann::ordered_json rows = nlohmann::ordered_json::parse(os.str());
      const std::string key = record ? title.substr(1) : title;
      all[key] = record && rows.size() == 1 ? rows[0] : rows;
    }
    out << all.dump(2) << "\n";
    return;
  }
  bool first = true;
  for (const auto& [title, table] : sections) {
    const bool record = !title.empty() && title[0] == '=';
    const std::string name = record ? title.substr(1) : title;
    if (!first) out << "\n";
    first = false;
    if (format == Format::kCsv) {
      out << "# " << name << "\n";
      table.PrintCsv(out);
    } else {
      out << name << ":\n";
      if (record) {
        PrintRecord(out, table, format);
      } else if (table.rows().empty()) {
        out << "(none)\n";
      } else {
        table.PrintTable(out);
      }
    }
  }
}

}  // namespace fnas::cli
