// A small rectangular result (header + rows of cells) that every query command
// prints in one of three formats. Not thread-safe; a value type.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

namespace fnas {

enum class Format { kTable, kCsv, kJson };

// Parses "table", "csv" or "json"; throws UsageError otherwise.
Format ParseFormat(const std::string& name);

class Table {
 public:
  // A cell keeps its type so JSON and CSV print exact integers and real
  // numbers; std::monostate is an SQL NULL / missing value.
  using Cell = std::variant<std::monostate, int64_t, double, std::string>;

  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}

  void AddRow(std::vector<Cell> row);
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<Cell>>& rows() const { return rows_; }

  // Digits after the point for doubles in the text table (CSV/JSON are exact).
  void set_precision(int digits) { precision_ = digits; }

  void Print(std::ostream& out, Format format) const;
  void PrintTable(std::ostream& out) const;
  void PrintCsv(std::ostream& out) const;
  // A JSON array of objects, one per row, keyed by column name.
  void PrintJson(std::ostream& out) const;

  static std::string CellText(const Cell& cell, int precision);

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
  int precision_ = 4;
};

}  // namespace fnas
