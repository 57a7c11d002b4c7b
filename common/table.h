// A small rectangular result (header + rows of cells) that every query command
// prints in one of three formats, and the printer behind it, which also prints
// rows streamed from a source of any size (a study of 100,000 trials) without
// holding them. Not thread-safe; Table is a value type.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fnas {

enum class Format { kTable, kCsv, kJson };

// Parses "table", "csv" or "json"; throws UsageError otherwise.
Format ParseFormat(const std::string& name);

// A cell as the printer reads it: an SQL NULL / missing value, an integer, a
// real number or text it does not own (valid while its row is printed).
using CellView = std::variant<std::monostate, int64_t, double, std::string_view>;
// Called once per row with one cell per column.
using RowVisitor = std::function<void(const CellView* cells)>;
// Reads every row, in order, into `visit`; the same rows each time it is
// called (the text table reads them twice: the widths, then the lines).
using RowScan = std::function<void(const RowVisitor& visit)>;

// Prints the rows of `scan` under `columns` without holding them. CSV (exact
// numbers, max_digits10) and JSON (an array of objects keyed by column, as
// nlohmann::json's dump(2) writes it) read the rows once; the text table
// (`precision` digits after the point; numbers right-aligned, text
// left-aligned, as the first row's cells are) reads them twice.
void PrintRows(std::ostream& out, Format format, const std::vector<std::string>& columns,
               const RowScan& scan, int precision = 4);

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

  // PrintRows of the rows held.
  void Print(std::ostream& out, Format format) const;
  void PrintTable(std::ostream& out) const;
  void PrintCsv(std::ostream& out) const;
  // A JSON array of objects, one per row, keyed by column name.
  void PrintJson(std::ostream& out) const;

  // A cell's text: "" for NULL; doubles with `precision` digits after the
  // point (std::fixed), or exactly (max_digits10) when `precision` < 0.
  static std::string CellText(const Cell& cell, int precision);

 private:
  RowScan Scan() const;

  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
  int precision_ = 4;
};

}  // namespace fnas
