// factorize-nas trials DB [--state S]: every trial with its metrics.
#include <iostream>

#include "cli/command.h"
#include "cli/query.h"
#include "db/store.h"

namespace fnas::cli {

namespace {

// `name` as an SQL identifier.
std::string QuoteName(const std::string& name) {
  std::string q = "\"";
  for (char ch : name) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

Command MakeTrialsCommand(CLI::App& root) {
  struct Args {
    std::string db;
    std::string state;
    std::string format = "table";
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand("trials", "Every trial of a study with its metrics");
  app->add_option("db", args->db, "The study's SQLite database")->required();
  app->add_option("--state", args->state,
                  "Only trials in this state: RUNNING, COMPLETE, PRUNED, FAILED, INTERRUPTED");
  AddFormatOption(app, args->format);
  return {app, [args]() {
            const Format format = ParseFormat(args->format);
            std::optional<db::TrialState> only;
            if (!args->state.empty()) only = db::ParseTrialState(args->state);
            db::Store store(args->db, db::Store::Mode::kReadOnly);
            // The table reads the rows twice (widths, then lines): the same rows.
            const db::Store::Snapshot snapshot(store);
            // The rows of trial_summary, streamed from SQLite to the output;
            // its column names are the header.
            std::string sql =
                "SELECT trial_id, candidate, factorization, macs_conv / 1e6 AS mmacs_conv, state, "
                "epochs_done, acc_fp32, acc_quint8, rel_decrease, qmse, qce, seconds, attempts, "
                "reason";
            // The test metrics of every other recorded calibration method
            // (quantization.record_methods), one column pair per method, in
            // the order of their first trial (a trial has one test report).
            std::vector<db::Store::Param> params;
            store.ForEachRow(
                "SELECT method FROM quant_methods WHERE split = 'test' AND NOT is_primary "
                "GROUP BY method ORDER BY min(trial_id), method",
                {}, [&](const CellView* row) {
                  params.emplace_back(std::string(std::get<std::string_view>(row[0])));
                });
            for (size_t i = 0; i < params.size(); ++i) {
              const std::string& method = std::get<std::string>(params[i]);
              for (const char* metric : {"acc_quint8", "qmse"}) {
                sql += std::string(", (SELECT q.") + metric +
                       " FROM quant_methods q WHERE q.trial_id = s.trial_id AND q.split = 'test' "
                       "AND q.method = ?" +
                       std::to_string(i + 1) + " AND NOT q.is_primary ORDER BY q.epoch DESC " +
                       "LIMIT 1) AS " + QuoteName(std::string(metric) + "_" + method);
              }
            }
            sql += " FROM trial_summary s";
            if (only) {
              params.emplace_back(std::string(db::TrialStateName(*only)));
              sql += " WHERE s.state = ?" + std::to_string(params.size());
            }
            sql += " ORDER BY s.trial_id";
            PrintRows(std::cout, format, store.ResultColumns(sql),
                      [&](const RowVisitor& visit) { store.ForEachRow(sql, params, visit); });
            return 0;
          }};
}

const CommandRegistrar kRegistrar(80, MakeTrialsCommand);

}  // namespace

}  // namespace fnas::cli
