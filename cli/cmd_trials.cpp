// factorize-nas trials DB [--state S]: every trial with its metrics.
#include <algorithm>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "cli/query.h"
#include "db/store.h"

namespace fnas::cli {

namespace {

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
            const std::vector<db::TrialRow> trials = store.Trials();
            // The test metrics of every other recorded calibration method
            // (quantization.record_methods), one column pair per method.
            std::vector<std::string> others;
            std::map<int64_t, std::map<std::string, evaluators::QuantMetrics>> by_trial;
            for (const auto& m : store.QuantMethodsOfSplit("test")) {
              if (m.primary) continue;
              const std::string& name = m.metrics.method;
              if (std::find(others.begin(), others.end(), name) == others.end()) {
                others.push_back(name);
              }
              by_trial[m.trial_id][name] = m.metrics.metrics;
            }
            std::vector<std::string> columns = {
                "trial_id",    "candidate", "factorization", "mmacs_conv",   "state",
                "epochs_done", "acc_fp32",  "acc_quint8",    "rel_decrease", "qmse",
                "qce",         "seconds",   "attempts",      "reason"};
            for (const auto& name : others) {
              columns.push_back("acc_quint8_" + name);
              columns.push_back("qmse_" + name);
            }
            Table table(columns);
            for (const auto& t : trials) {
              if (only && t.state != *only) continue;
              std::vector<Table::Cell> row = {t.id,
                                              t.candidate_name,
                                              t.candidate_key,
                                              static_cast<double>(t.macs_conv) / 1e6,
                                              std::string(db::TrialStateName(t.state)),
                                              static_cast<int64_t>(t.epochs_done),
                                              Metric(t.test.acc_fp32),
                                              Metric(t.test.acc_q),
                                              Metric(t.test.rel_decrease),
                                              Metric(t.test.qmse),
                                              Metric(t.test.qce),
                                              t.seconds,
                                              static_cast<int64_t>(t.attempts),
                                              t.reason};
              for (const auto& name : others) {
                const auto& mine = by_trial[t.id];
                const auto it = mine.find(name);
                row.push_back(it == mine.end() ? Table::Cell() : Metric(it->second.acc_q));
                row.push_back(it == mine.end() ? Table::Cell() : Metric(it->second.qmse));
              }
              table.AddRow(row);
            }
            table.Print(std::cout, format);
            return 0;
          }};
}

const CommandRegistrar kRegistrar(80, MakeTrialsCommand);

}  // namespace

}  // namespace fnas::cli
