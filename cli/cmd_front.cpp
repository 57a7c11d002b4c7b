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
            const bool q8 = args->metric == "quint8";
            Table table({"trial_id", "candidate", "factorization", "macs_conv", "mmacs_conv",
                         "params", "acc_fp32", "acc_quint8", "rel_decrease", "qmse", "qce"});
            for (const auto& t : store.FrontTrials(q8 ? "acc_quint8" : "acc_fp32")) {
              table.AddRow({t.id, t.candidate_name, t.candidate_key, t.macs_conv,
                            static_cast<double>(t.macs_conv) / 1e6, t.params,
                            Metric(t.test.acc_fp32), Metric(t.test.acc_q),
                            Metric(t.test.rel_decrease), Metric(t.test.qmse), Metric(t.test.qce)});
            }
            if (format == Format::kTable) {
              const auto counts = store.StateCounts();
              const auto complete = counts.find(db::TrialState::kComplete);
              std::cout << "Pareto front of " << store.Study().name << " ("
                        << (complete == counts.end() ? 0 : complete->second)
                        << " completed trials; min conv MACs, max " << args->metric
                        << " test accuracy)\n";
            }
            table.Print(std::cout, format);
            return 0;
          }};
}

const CommandRegistrar kRegistrar(70, MakeFrontCommand);

}  // namespace

}  // namespace fnas::cli
