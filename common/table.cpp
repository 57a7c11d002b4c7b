#include "common/table.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace fnas {

Format ParseFormat(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  throw UsageError("unknown --format '" + name + "' (expected table, csv or json)");
}

void Table::AddRow(std::vector<Cell> row) {
  if (row.size() != columns_.size()) {
    throw RuntimeError("Table::AddRow: " + std::to_string(row.size()) + " cells for " +
                       std::to_string(columns_.size()) + " columns");
  }
  rows_.push_back(std::move(row));
}

std::string Table::CellText(const Cell& cell, int precision) {
  if (std::holds_alternative<std::monostate>(cell)) return "";
  if (auto* i = std::get_if<int64_t>(&cell)) return std::to_string(*i);
  if (auto* s = std::get_if<std::string>(&cell)) return *s;
  // The text an ostream gives (std::setprecision(max_digits10), or std::fixed),
  // without constructing one per cell: 100,000-row fronts and trial lists.
  const double v = std::get<double>(cell);
  char buf[400];  // %.*f of the largest double: 309 digits before the point
  const int n = precision < 0 ? std::snprintf(buf, sizeof buf, "%.*g",
                                              std::numeric_limits<double>::max_digits10, v)
                              : std::snprintf(buf, sizeof buf, "%.*f", std::min(precision, 40), v);
  return std::string(buf, static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1)));
}

void Table::PrintTable(std::ostream& out) const {
  std::vector<size_t> width(columns_.size());
  std::vector<std::vector<std::string>> text;
  for (size_t c = 0; c < columns_.size(); ++c) width[c] = columns_[c].size();
  for (const auto& row : rows_) {
    std::vector<std::string> line;
    for (size_t c = 0; c < row.size(); ++c) {
      line.push_back(CellText(row[c], precision_));
      width[c] = std::max(width[c], line.back().size());
    }
    text.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& cells, const std::vector<bool>& right) {
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) out << "  ";
      if (right[c]) {
        out << std::setw(static_cast<int>(width[c])) << std::right << cells[c];
      } else if (c + 1 == cells.size()) {
        out << cells[c];
      } else {
        out << std::setw(static_cast<int>(width[c])) << std::left << cells[c];
      }
    }
    out << '\n';
  };
  // Numbers are right-aligned, text left-aligned (decided by the first row).
  std::vector<bool> right(columns_.size(), false);
  if (!rows_.empty()) {
    for (size_t c = 0; c < columns_.size(); ++c) {
      right[c] = std::holds_alternative<int64_t>(rows_[0][c]) ||
                 std::holds_alternative<double>(rows_[0][c]);
    }
  }
  print_line(columns_, right);
  std::vector<std::string> rule;
  for (size_t c = 0; c < columns_.size(); ++c) rule.emplace_back(width[c], '-');
  print_line(rule, right);
  for (const auto& line : text) print_line(line, right);
}

namespace {
std::string CsvEscape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"') q += '"';
    q += ch;
  }
  return q + "\"";
}
}  // namespace

void Table::PrintCsv(std::ostream& out) const {
  for (size_t c = 0; c < columns_.size(); ++c) out << (c ? "," : "") << CsvEscape(columns_[c]);
  out << '\n';
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) {
      out << (c ? "," : "") << CsvEscape(CellText(row[c], -1));
    }
    out << '\n';
  }
}

void Table::PrintJson(std::ostream& out) const {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const auto& row : rows_) {
    nlohmann::ordered_json obj;
    for (size_t c = 0; c < row.size(); ++c) {
      const Cell& cell = row[c];
      if (std::holds_alternative<std::monostate>(cell)) {
        obj[columns_[c]] = nullptr;
      } else if (auto* i = std::get_if<int64_t>(&cell)) {
        obj[columns_[c]] = *i;
      } else if (auto* d = std::get_if<double>(&cell)) {
        obj[columns_[c]] = *d;
      } else {
        obj[columns_[c]] = std::get<std::string>(cell);
      }
    }
    array.push_back(std::move(obj));
  }
  out << array.dump(2) << '\n';
}

void Table::Print(std::ostream& out, Format format) const {
  switch (format) {
    case Format::kTable: PrintTable(out); break;
    case Format::kCsv: PrintCsv(out); break;
    case Format::kJson: PrintJson(out); break;
  }
}

}  // namespace fnas
