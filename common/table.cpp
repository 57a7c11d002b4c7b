#include "common/table.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace fnas {

Format ParseFormat(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  throw UsageError("unknown --format '" + name + "' (expected table, csv or json)");
}

namespace {

// The text of a double as an ostream writes it (std::setprecision(max_digits10)
// when `precision` < 0, else std::fixed with `precision` digits), written to
// `buf` (400 chars: %.40f of the largest double needs 350); returns its end.
// std::to_chars is specified as printf's %.*g / %.*f, without a locale or a
// stream per cell: 100,000-row fronts and trial lists.
char* RealText(char* buf, double v, int precision) {
  char* const end = buf + 400;
  const auto r =
      precision < 0 ? std::to_chars(buf, end, v, std::chars_format::general,
                                    std::numeric_limits<double>::max_digits10)
                    : std::to_chars(buf, end, v, std::chars_format::fixed, std::min(precision, 40));
  return r.ec == std::errc() ? r.ptr : buf;
}

// Output gathered in a buffer and written to the stream in large pieces.
class Sink {
 public:
  explicit Sink(std::ostream& out) : out_(out) { buf_.reserve(kFlushAt + 1024); }
  std::string& buf() { return buf_; }
  // Writes the buffer out when it is large (between rows).
  void RowDone() {
    if (buf_.size() >= kFlushAt) Flush();
  }
  void Flush() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }

 private:
  static constexpr size_t kFlushAt = 1 << 16;
  std::ostream& out_;
  std::string buf_;
};

void AppendInt(std::string& buf, int64_t v) {
  char tmp[24];
  buf.append(tmp, std::to_chars(tmp, tmp + sizeof tmp, v).ptr);
}

// A cell's text (see Table::CellText) appended to `buf`.
void AppendText(std::string& buf, const CellView& cell, int precision) {
  if (std::holds_alternative<std::monostate>(cell)) return;
  if (auto* i = std::get_if<int64_t>(&cell)) return AppendInt(buf, *i);
  if (auto* s = std::get_if<std::string_view>(&cell)) {
    buf.append(s->data(), s->size());
    return;
  }
  char tmp[400];
  buf.append(tmp, RealText(tmp, std::get<double>(cell), precision));
}

// The length of a cell's text, without building it.
size_t TextSize(const CellView& cell, int precision) {
  if (std::holds_alternative<std::monostate>(cell)) return 0;
  char tmp[400];
  if (auto* i = std::get_if<int64_t>(&cell)) {
    return static_cast<size_t>(std::to_chars(tmp, tmp + sizeof tmp, *i).ptr - tmp);
  }
  if (auto* s = std::get_if<std::string_view>(&cell)) return s->size();
  return static_cast<size_t>(RealText(tmp, std::get<double>(cell), precision) - tmp);
}

void PrintText(std::ostream& out, const std::vector<std::string>& columns, const RowScan& scan,
               int precision) {
  const size_t n = columns.size();
  std::vector<size_t> width(n);
  for (size_t c = 0; c < n; ++c) width[c] = columns[c].size();
  // Numbers are right-aligned, text left-aligned (decided by the first row).
  std::vector<bool> right(n, false);
  bool first = true;
  scan([&](const CellView* cells) {
    for (size_t c = 0; c < n; ++c) {
      if (first) {
        right[c] =
            std::holds_alternative<int64_t>(cells[c]) || std::holds_alternative<double>(cells[c]);
      }
      width[c] = std::max(width[c], TextSize(cells[c], precision));
    }
    first = false;
  });
  Sink sink(out);
  std::string& buf = sink.buf();
  // Cell c of a line, its text already at the end of `buf` from `start`.
  auto align = [&](size_t c, size_t start) {
    const size_t size = buf.size() - start;
    const size_t pad = width[c] > size ? width[c] - size : 0;
    if (right[c]) {
      buf.insert(start, pad, ' ');
    } else if (c + 1 < n) {
      buf.append(pad, ' ');
    }
  };
  auto line = [&](auto&& text) {
    for (size_t c = 0; c < n; ++c) {
      if (c) buf += "  ";
      const size_t start = buf.size();
      text(c);
      align(c, start);
    }
    buf += '\n';
  };
  line([&](size_t c) { buf += columns[c]; });
  line([&](size_t c) { buf.append(width[c], '-'); });
  scan([&](const CellView* cells) {
    line([&](size_t c) { AppendText(buf, cells[c], precision); });
    sink.RowDone();
  });
  sink.Flush();
}

void AppendCsv(std::string& buf, std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) {
    buf.append(s.data(), s.size());
    return;
  }
  buf += '"';
  for (char ch : s) {
    if (ch == '"') buf += '"';
    buf += ch;
  }
  buf += '"';
}

void PrintCsvRows(std::ostream& out, const std::vector<std::string>& columns, const RowScan& scan) {
  Sink sink(out);
  std::string& buf = sink.buf();
  for (size_t c = 0; c < columns.size(); ++c) {
    if (c) buf += ',';
    AppendCsv(buf, columns[c]);
  }
  buf += '\n';
  scan([&](const CellView* cells) {
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c) buf += ',';
      if (auto* s = std::get_if<std::string_view>(&cells[c])) {
        AppendCsv(buf, *s);
      } else {
        AppendText(buf, cells[c], -1);
      }
    }
    buf += '\n';
    sink.RowDone();
  });
  sink.Flush();
}

// A JSON string as nlohmann::json's dump writes it (ensure_ascii off).
void AppendJsonString(std::string& buf, std::string_view s) {
  if (std::any_of(s.begin(), s.end(), [](char ch) { return ch & 0x80; })) {
    // Not ASCII: nlohmann checks the UTF-8 (and refuses it invalid, as before).
    buf += nlohmann::json(std::string(s)).dump();
    return;
  }
  static const char kHex[] = "0123456789abcdef";
  buf += '"';
  for (char ch : s) {
    switch (ch) {
      case '\b':
        buf += "\\b";
        break;
      case '\t':
        buf += "\\t";
        break;
      case '\n':
        buf += "\\n";
        break;
      case '\f':
        buf += "\\f";
        break;
      case '\r':
        buf += "\\r";
        break;
      case '"':
        buf += "\\\"";
        break;
      case '\\':
        buf += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(ch) <= 0x1F) {
          buf += "\\u00";
          buf += kHex[(ch >> 4) & 15];
          buf += kHex[ch & 15];
        } else {
          buf += ch;
        }
    }
  }
  buf += '"';
}

void AppendJsonValue(std::string& buf, const CellView& cell) {
  if (std::holds_alternative<std::monostate>(cell)) {
    buf += "null";
  } else if (auto* i = std::get_if<int64_t>(&cell)) {
    AppendInt(buf, *i);
  } else if (auto* s = std::get_if<std::string_view>(&cell)) {
    AppendJsonString(buf, *s);
  } else {
    const double v = std::get<double>(cell);
    if (!std::isfinite(v)) {
      buf += "null";
    } else {
      // nlohmann's own shortest round-trip text (what dump writes).
      char tmp[64];
      buf.append(tmp, nlohmann::detail::to_chars(tmp, tmp + sizeof tmp, v));
    }
  }
}

void PrintJsonRows(std::ostream& out, const std::vector<std::string>& columns,
                   const RowScan& scan) {
  Sink sink(out);
  std::string& buf = sink.buf();
  // The keys, escaped once.
  std::vector<std::string> keys;
  for (const auto& name : columns) {
    std::string key = "    ";
    AppendJsonString(key, name);
    keys.push_back(key + ": ");
  }
  bool first = true;
  buf += '[';
  scan([&](const CellView* cells) {
    buf += first ? "\n  {" : ",\n  {";
    first = false;
    if (columns.empty()) {
      buf += '}';
      return;
    }
    buf += '\n';
    for (size_t c = 0; c < columns.size(); ++c) {
      buf += keys[c];
      AppendJsonValue(buf, cells[c]);
      buf += c + 1 < columns.size() ? ",\n" : "\n";
    }
    buf += "  }";
    sink.RowDone();
  });
  buf += first ? "]\n" : "\n]\n";
  sink.Flush();
}

}  // namespace

void PrintRows(std::ostream& out, Format format, const std::vector<std::string>& columns,
               const RowScan& scan, int precision) {
  switch (format) {
    case Format::kTable:
      PrintText(out, columns, scan, precision);
      break;
    case Format::kCsv:
      PrintCsvRows(out, columns, scan);
      break;
    case Format::kJson:
      PrintJsonRows(out, columns, scan);
      break;
  }
}

void Table::AddRow(std::vector<Cell> row) {
  if (row.size() != columns_.size()) {
    throw RuntimeError("Table::AddRow: " + std::to_string(row.size()) + " cells for " +
                       std::to_string(columns_.size()) + " columns");
  }
  rows_.push_back(std::move(row));
}

std::string Table::CellText(const Cell& cell, int precision) {
  std::string text;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          text = v;
        } else {
          AppendText(text, CellView(v), precision);
        }
      },
      cell);
  return text;
}

RowScan Table::Scan() const {
  return [this](const RowVisitor& visit) {
    std::vector<CellView> cells(columns_.size());
    for (const auto& row : rows_) {
      for (size_t c = 0; c < row.size(); ++c) {
        std::visit([&](const auto& v) { cells[c] = CellView(v); }, row[c]);
      }
      visit(cells.data());
    }
  };
}

void Table::Print(std::ostream& out, Format format) const {
  PrintRows(out, format, columns_, Scan(), precision_);
}
void Table::PrintTable(std::ostream& out) const { Print(out, Format::kTable); }
void Table::PrintCsv(std::ostream& out) const { Print(out, Format::kCsv); }
void Table::PrintJson(std::ostream& out) const { Print(out, Format::kJson); }

}  // namespace fnas
