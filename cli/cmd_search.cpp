// factorize-nas search CONFIG [--db PATH] [--quiet] [--mpi]: create a study from a
// config and run its trials.
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/study_run.h"
#include "common/error.h"
#include "config/config.h"
#include "db/store.h"
#include "search/evaluator.h"
#include "search/execution.h"
#include "search/study.h"

namespace fnas::cli {

namespace {

namespace fs = std::filesystem;

Command MakeSearchCommand(CLI::App& root) {
  struct Args {
    std::string config;
    std::string db;
    StudyRunArgs run;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "search",
      "Create a study from a config and run every candidate's trial (train, quantize, "
      "evaluate, analyse, store); Ctrl-C stops cleanly, `resume` continues");
  app->add_option("config", args->config, "Study config (YAML)")->required();
  app->add_option("--db", args->db, "SQLite database (default: storage.db or runs/<name>.db)");
  AddStudyRunOptions(app, args->run);
  return {app, [args]() {
            return RunStudyCommand(args->run, [&args](StudyRunner& runner) {
              // Everything is validated before the database file is created.
              auto config = std::make_shared<Config>(LoadConfig(args->config));
              if (!args->db.empty()) config->storage.db = args->db;
              if (!runner.distributed()) search::CheckDevice(config->execution);
              const search::StudyRows rows = search::PrepareStudy(*config);
              const std::string db_path = config->db_path();

              if (fs::exists(db_path)) {
                // Read-only: a refused or foreign file is left exactly as it is.
                db::Store existing(db_path, db::Store::Mode::kReadOnly);
                if (existing.HasStudy()) {
                  const db::StudyRow held = existing.Study();
                  if (held.name == config->name) {
                    throw UsageError(db_path + " already holds study '" + held.name +
                                     "'; continue it with: factorize-nas resume " + db_path +
                                     " (or give another --db)");
                  }
                  throw UsageError(db_path + " holds another study, '" + held.name +
                                   "'; give another --db");
                }
                throw UsageError(db_path + " exists and holds no study; give another --db");
              }
              // The evaluator (data loaded, on every rank with --mpi) before the
              // database is created.
              auto evaluator = runner.MakeEvaluator(*config);
              std::unique_ptr<db::Store> store =
                  db::Store::CreateStudyFile(db_path, rows.study, rows.candidates);
              if (!args->run.quiet) {
                std::cout << "study " << config->name << ": " << rows.candidates.size()
                          << " candidates -> " << db_path << "\n";
              }
              return runner.Run(config, *store, *evaluator);
            });
          }};
}

const CommandRegistrar kRegistrar(50, MakeSearchCommand);

}  // namespace

}  // namespace fnas::cli
