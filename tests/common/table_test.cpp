#include "common/table.h"

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

TEST(TableTest, RejectsRowOfWrongWidthAndBadFormat) {
  Table t({"a", "b"});
  EXPECT_THROW(t.AddRow({int64_t{1}}), RuntimeError);
  EXPECT_THROW(ParseFormat("xml"), UsageError);
  EXPECT_EQ(ParseFormat("csv"), Format::kCsv);
}

}  // namespace
}  // namespace fnas
