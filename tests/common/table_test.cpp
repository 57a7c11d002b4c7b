#include "common/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"

namespace fnas {
namespace {

Table Sample() {
  Table t({"name", "macs", "acc"});
  t.AddRow({std::string("regular"), int64_t{266010624}, 0.8837});
  t.AddRow({std::string("a,b"), int64_t{1}, Table::Cell{}});
  return t;
}

TEST(TableTest, CsvIsExactAndEscaped) {
  std::ostringstream os;
  Sample().PrintCsv(os);
  EXPECT_EQ(os.str(), "name,macs,acc\nregular,266010624,0.88370000000000004\n\"a,b\",1,\n");
}

TEST(TableTest, JsonKeepsTypesAndNulls) {
  std::ostringstream os;
  Sample().PrintJson(os);
  const std::string s = os.str();
  EXPECT_NE(s.find("\"macs\": 266010624"), std::string::npos);
  EXPECT_NE(s.find("\"acc\": null"), std::string::npos);
  EXPECT_NE(s.find("\"name\": \"a,b\""), std::string::npos);
}

TEST(TableTest, TextTableAlignsColumns) {
  std::ostringstream os;
  Sample().PrintTable(os);
  std::istringstream in(os.str());
  std::string header, rule, row1;
  std::getline(in, header);
  std::getline(in, rule);
  std::getline(in, row1);
  EXPECT_EQ(header.find("macs") + 4, row1.find("266010624") + 9);  // right-aligned numbers
  EXPECT_NE(row1.find("0.8837"), std::string::npos);
}

TEST(TableTest, NumbersReadAsAnOstreamWritesThem) {
  // CSV/JSON text (max_digits10, round-trips) and the table's fixed digits,
  // against std::ostream, for ordinary, extreme and non-finite values.
  const double values[] = {
      0.8837, 1.0 / 3,  -0.0,    0,        1e300,        -1.7976931348623157e308,
      5e-324, 123456.5, -2.5e-7, 1e17 + 8, std::nan(""), -INFINITY};
  for (double v : values) {
    std::ostringstream exact;
    exact << std::setprecision(std::numeric_limits<double>::max_digits10) << v;
    EXPECT_EQ(Table::CellText(v, -1), exact.str());
    for (int digits : {0, 2, 4}) {
      std::ostringstream fixed;
      fixed << std::fixed << std::setprecision(digits) << v;
      EXPECT_EQ(Table::CellText(v, digits), fixed.str()) << digits;
    }
  }
}

// The JSON the old printer built with nlohmann::ordered_json, as reference.
std::string NlohmannJson(const Table& t) {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const auto& row : t.rows()) {
    nlohmann::ordered_json obj;
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string& key = t.columns()[c];
      if (auto* i = std::get_if<int64_t>(&row[c])) {
        obj[key] = *i;
      } else if (auto* d = std::get_if<double>(&row[c])) {
        obj[key] = *d;
      } else if (auto* s = std::get_if<std::string>(&row[c])) {
        obj[key] = *s;
      } else {
        obj[key] = nullptr;
      }
    }
    array.push_back(std::move(obj));
  }
  return array.dump(2) + "\n";
}

TEST(TableTest, JsonIsWhatNlohmannDumpWrites) {
  Table t({"text", "int", "real", "key \"quoted\""});
  const double reals[] = {0.1,    1.0 / 3, 1e-7,  1e21,    -0.0, 0,        1,
                          123456, 2.5e-5,  1e300, -5e-324, NAN,  INFINITY, 0.8837};
  const std::string texts[] = {
      "plain", "a\"b\\c", "tab\there\nnewline", "\x01\x1f\x7f", "caf\xc3\xa9", "\xe2\x82\xac",
      "",      "\b\f\r"};
  int64_t i = -3;
  for (double r : reals) {
    for (const auto& s : texts) t.AddRow({s, i++ * 1000003, r, Table::Cell()});
  }
  std::ostringstream os;
  t.PrintJson(os);
  EXPECT_EQ(os.str(), NlohmannJson(t));
  std::ostringstream empty;
  Table({"a"}).PrintJson(empty);
  EXPECT_EQ(empty.str(), "[]\n");
}

TEST(TableTest, StreamedRowsAreReadOnceOrTwiceForTheWidths) {
  const Table sample = Sample();
  for (Format f : {Format::kTable, Format::kCsv, Format::kJson}) {
    int scans = 0;
    std::ostringstream streamed, held;
    PrintRows(
        streamed, f, sample.columns(),
        [&](const RowVisitor& visit) {
          ++scans;
          const CellView a[] = {std::string_view("regular"), int64_t{266010624}, 0.8837};
          const CellView b[] = {std::string_view("a,b"), int64_t{1}, std::monostate{}};
          visit(a);
          visit(b);
        },
        4);
    sample.Print(held, f);
    EXPECT_EQ(streamed.str(), held.str());
    EXPECT_EQ(scans, f == Format::kTable ? 2 : 1);
  }
}

TEST(TableTest, RejectsRowOfWrongWidthAndBadFormat) {
  Table t({"a", "b"});
  EXPECT_THROW(t.AddRow({int64_t{1}}), RuntimeError);
  EXPECT_THROW(ParseFormat("xml"), UsageError);
  EXPECT_EQ(ParseFormat("csv"), Format::kCsv);
}

}  // namespace
}  // namespace fnas
