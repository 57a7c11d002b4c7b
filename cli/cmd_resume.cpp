// factorize-nas resume DB [--quiet] [--mpi]: continue the study stored in DB from its
// own stored config.
#include <iostream>

#include "cli/command.h"
#include "cli/study_run.h"
#include "common/error.h"
#include "config/config.h"
#include "db/store.h"
#include "search/evaluator.h"
#include "search/execution.h"

namespace fnas::cli {

namespace {

Command MakeResumeCommand(CLI::App& root) {
  struct Args {
    std::string db;
    StudyRunArgs run;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "resume",
      "Continue a stopped study: finished trials are kept, interrupted ones restart "
      "from their last checkpoint, the rest run");
  app->add_option("db", args->db, "The study's SQLite database")->required();
  AddStudyRunOptions(app, args->run);
  return {app, [args]() {
            return RunStudyCommand(args->run, [&args](StudyRunner& runner) {
              db::Store store(args->db, db::Store::Mode::kReadWrite);
              const db::StudyRow study = store.Study();
              auto config = std::make_shared<Config>(ParseConfig(
                  study.yaml, args->db + " (stored config of study " + study.name + ")"));
              config->storage.db = args->db;
              if (!runner.distributed()) search::CheckDevice(config->execution);
              // The evaluator (data loaded, on every rank with --mpi) before the
              // database is touched.
              auto evaluator = runner.MakeEvaluator(*config);
              return runner.Run(config, store, *evaluator);
            });
          }};
}

const CommandRegistrar kRegistrar(60, MakeResumeCommand);

}  // namespace

}  // namespace fnas::cli
