// factorize-nas front DB [--metric quint8|fp32]: the Pareto front of the
// completed trials (minimize conv MACs, maximize accuracy), sorted by MACs.
#include <iostream>

#include "cli/command.h"
#include "cli/query.h"
#include "db/store.h"

namespace fnas::cli {

namespace {

Command MakeFrontCommand(CLI::App& root) {
  struct Args {
    std::string db;
    std::string metric = "quint8";
    std::string format = "table";
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "front", "The Pareto front of the completed trials: fewest conv MACs, best test accuracy");
  app->add_option("db", args->db, "The study's SQLite database")->required();
  app->add_option("--metric", args->metric, "Accuracy to maximize: quint8 or fp32")
      ->check(CLI::IsMember({"quint8", "fp32"}))
      ->capture_default_str();
  AddFormatOption(app, args->format);
  return {app, [args]() {
            const Format format = ParseFormat(args->format);
            db::Store store(args->db, db::Store::Mode::kReadOnly);
            // The table reads the rows twice (widths, then lines): the same rows.
            const db::Store::Snapshot snapshot(store);
            // The members of the metric's front (the `front` table, kept by
            // triggers as trials complete), by MACs, with the columns of the
            // pareto_front views: O(front size), whatever the number of trials.
            const std::string sql =
                "SELECT t.id AS trial_id, c.name AS candidate, c.key AS factorization, "
                "c.macs_conv, c.macs_conv / 1e6 AS mmacs_conv, c.params, t.acc_fp32, "
                "t.acc_quint8, t.rel_decrease, t.qmse, t.qce "
                "FROM front f CROSS JOIN trials t ON t.id = f.trial_id "
                "JOIN candidates c ON c.id = t.candidate_id "
                "WHERE f.metric = ?1 ORDER BY f.macs_conv";
            const std::vector<db::Store::Param> params = {
                std::string(args->metric == "quint8" ? "acc_quint8" : "acc_fp32")};
            if (format == Format::kTable) {
              const auto counts = store.StateCounts();
              const auto complete = counts.find(db::TrialState::kComplete);
              std::cout << "Pareto front of " << store.Study().name << " ("
                        << (complete == counts.end() ? 0 : complete->second)
                        << " completed trials; min conv MACs, max " << args->metric
                        << " test accuracy)\n";
            }
            PrintRows(std::cout, format, store.ResultColumns(sql),
                      [&](const RowVisitor& visit) { store.ForEachRow(sql, params, visit); });
            return 0;
          }};
}

const CommandRegistrar kRegistrar(70, MakeFrontCommand);

}  // namespace

}  // namespace fnas::cli
