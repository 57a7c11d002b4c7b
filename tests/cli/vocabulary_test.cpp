// One vocabulary (issue #11): the columns that `trials`, `front` and `show`
// print are named as SQL names what they show, in the table, the CSV header
// and the JSON keys alike: columns of the schema's tables and views, or one of
// the few derived names docs/database.md lists ("Query commands").
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/cli.h"
#include "tests/testing/synthetic_study.h"
#include "tests/testing/temp_dir.h"

namespace fnas {
namespace {

using testing::RunCli;
using Names = std::vector<std::string>;

// The columns of a table or view of the study's schema.
std::set<std::string> SqlColumns(const std::string& db, std::initializer_list<const char*> tables) {
  SQLite::Database d(db, SQLite::OPEN_READONLY);
  std::set<std::string> out;
  for (const char* table : tables) {
    SQLite::Statement st(d, "SELECT name FROM pragma_table_info(?)");
    st.bind(1, table);
    while (st.executeStep()) out.insert(st.getColumn(0).getString());
    EXPECT_FALSE(out.empty()) << "no table or view " << table;
  }
  return out;
}

Names Split(const std::string& line, char sep) {
  Names out;
  std::istringstream in(line);
  for (std::string cell; std::getline(in, cell, sep);) out.push_back(cell);
  return out;
}

// The words of a text table's header line (the line above its rule of dashes).
Names TableHeader(const std::string& text, size_t rule_line) {
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  Names out;
  std::istringstream words(lines.at(rule_line - 1));
  for (std::string w; words >> w;) out.push_back(w);
  return out;
}

// The CSV header of each "# title" block of `show --format csv`.
std::map<std::string, Names> CsvSections(const std::string& csv) {
  std::map<std::string, Names> out;
  std::istringstream in(csv);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# ", 0) != 0) continue;
    std::string header;
    std::getline(in, header);
    out[line.substr(2)] = Split(header, ',');
  }
  return out;
}

Names Keys(const nlohmann::ordered_json& object) {
  Names out;
  for (const auto& item : object.items()) out.push_back(item.key());
  return out;
}

void ExpectSqlNames(const Names& names, const std::set<std::string>& sql,
                    const std::set<std::string>& derived, const std::string& what) {
  for (const auto& n : names) {
    EXPECT_TRUE(sql.count(n) || derived.count(n))
        << what << ": column '" << n << "' is no SQL column and no documented derived name";
  }
}

class VocabularyTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    db_ = (dir_ / "study.db").string();
    testing::SyntheticStudyOptions o;
    o.trials = 12;
    testing::WriteSyntheticStudy(db_, o);
    // Another calibration method's test metrics for the RUNNING trial (a
    // finished trial's rows cannot be added): `trials` gets its columns.
    SQLite::Database d(db_, SQLite::OPEN_READWRITE);
    d.exec(
        "INSERT INTO quant_methods (trial_id, split, epoch, method, is_primary, images, acc_fp32, "
        "acc_quint8, rel_decrease, qmse, qce) SELECT max(id), 'test', 1, 'mse', 0, 100, 0.5, "
        "0.4, 20, 0.01, 0.02 FROM trials");
  }

  // The columns of `args` in CSV, JSON and table format, checked to be the same.
  Names Columns(const std::string& args, size_t rule_line) {
    auto r = RunCli(args + " --format csv");
    EXPECT_EQ(r.code, 0) << r.out;
    const Names csv = Split(r.out.substr(0, r.out.find('\n')), ',');
    r = RunCli(args + " --format json");
    EXPECT_EQ(r.code, 0) << r.out;
    const auto json = nlohmann::ordered_json::parse(r.out);
    EXPECT_FALSE(json.empty()) << args;
    if (!json.empty()) {
      EXPECT_EQ(Keys(json[0]), csv) << args;
    }
    r = RunCli(args);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(TableHeader(r.out, rule_line), csv) << r.out;
    return csv;
  }

  std::string db_;
};

TEST_F(VocabularyTest, TrialsNamesItsColumnsAsSqlDoes) {
  const Names names = Columns("trials " + db_, 1);
  EXPECT_EQ(names, (Names{"trial_id", "candidate", "factorization", "mmacs_conv", "state",
                          "epochs_done", "acc_fp32", "acc_quint8", "rel_decrease", "qmse", "qce",
                          "seconds", "attempts", "reason", "acc_quint8_mse", "qmse_mse"}));
  ExpectSqlNames(names, SqlColumns(db_, {"trial_summary"}),
                 {"mmacs_conv", "acc_quint8_mse", "qmse_mse"}, "trials");
}

TEST_F(VocabularyTest, FrontNamesItsColumnsAsTheParetoFrontViewDoes) {
  for (const char* metric : {"quint8", "fp32"}) {
    const Names names = Columns("front " + db_ + " --metric " + metric, 2);
    ExpectSqlNames(names, SqlColumns(db_, {"pareto_front", "pareto_front_fp32"}), {"mmacs_conv"},
                   std::string("front --metric ") + metric);
    EXPECT_EQ(names.at(0), "trial_id");
  }
}

TEST_F(VocabularyTest, ShowNamesEverySectionsColumnsAsItsTableDoes) {
  // A pruned trial: epochs, a decision, layer statistics.
  const std::string show = "show " + db_ + " 4";
  auto r = RunCli(show + " --format csv");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto csv = CsvSections(r.out);
  r = RunCli(show + " --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto json = nlohmann::ordered_json::parse(r.out);
  // Each section's own table (and view) in the schema; `layers` is the
  // candidate's configuration from the config, not from the store.
  const std::map<std::string, std::set<std::string>> sql = {
      {"trial", SqlColumns(db_, {"trial_summary", "trials"})},
      {"path", SqlColumns(db_, {"trial_summary", "candidates"})},
      {"epochs", SqlColumns(db_, {"epochs"})},
      {"rungs", SqlColumns(db_, {"rung_results"})},
      {"pruning decisions", SqlColumns(db_, {"prune_decisions"})},
      {"calibration methods", SqlColumns(db_, {"quant_methods"})},
      {"layerwise", SqlColumns(db_, {"layer_stats"})},
  };
  const std::set<std::string> derived = {"checkpoint", "arrival"};
  EXPECT_EQ(csv.size(), sql.size() + 1) << r.out;
  for (const auto& [title, names] : csv) {
    // JSON: the same names (a record is an object, a table an array of them).
    const auto& section = json.at(title);
    if (section.is_object()) {
      EXPECT_EQ(Keys(section), names) << title;
    } else if (!section.empty()) {
      EXPECT_EQ(Keys(section[0]), names) << title;
    }
    if (title == "layers") {
      EXPECT_EQ(names, (Names{"layer", "in_depth", "out_depth", "size", "f", "conv", "macs"}));
      continue;
    }
    ASSERT_TRUE(sql.count(title)) << "a section without its SQL table: " << title;
    ExpectSqlNames(names, sql.at(title), derived, "show, section " + title);
  }
  EXPECT_EQ(csv.at("trial").at(0), "trial_id");
  EXPECT_EQ(json.at("trial").at("trial_id"), 4);
  EXPECT_EQ(json.at("pruning decisions").at(0).at("rung_epoch"), 2);
}

}  // namespace
}  // namespace fnas
