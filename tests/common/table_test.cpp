#include "common/table.h"

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>

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

TEST(TableTest, RejectsRowOfWrongWidthAndBadFormat) {
  Table t({"a", "b"});
  EXPECT_THROW(t.AddRow({int64_t{1}}), RuntimeError);
  EXPECT_THROW(ParseFormat("xml"), UsageError);
  EXPECT_EQ(ParseFormat("csv"), Format::kCsv);
}

}  // namespace
}  // namespace fnas
