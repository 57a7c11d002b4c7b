// factorize-nas status DB: progress of a running or stopped study.
#include <iostream>
#include <map>
#include <thread>

#include "cli/command.h"
#include "cli/query.h"
#include "config/config.h"
#include "db/store.h"
#include "search/execution.h"
#include "search/progress.h"
#include "search/strategy.h"
#include "search/work_left.h"

namespace fnas::cli {

namespace {

// An owner silent this long is taken for dead (the driver beats every second).
constexpr double kStaleAfterS = 30.0;

Command MakeStatusCommand(CLI::App& root) {
  struct Args {
    std::string db;
    std::string format = "table";
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "status",
      "Progress of a running or stopped study: trials done/running/pruned/failed/"
      "pending, compute spent, ETA");
  app->add_option("db", args->db, "The study's SQLite database")->required();
  AddFormatOption(app, args->format);
  return {app, [args]() {
            const Format format = ParseFormat(args->format);
            db::Store store(args->db, db::Store::Mode::kReadWrite);
            const db::StudyRow study = store.Study();
            const Config config = ParseConfig(study.yaml, args->db + " (stored config)");
            const int epochs = config.training.epochs;
            const auto owner = store.CurrentOwner();
            const bool alive =
                owner && db::Store::OwnerAlive(*owner, kStaleAfterS, db::NowSeconds());

            std::map<db::TrialState, int64_t> count;
            int64_t epochs_done = 0;
            double seconds = 0;
            for (const auto& t : store.Trials()) {
              ++count[t.state];
              epochs_done += t.epochs_done;
              seconds += t.seconds;
            }
            // What `resume` would run: the same definition the driver uses.
            const search::WorkLeft left = search::ComputeWorkLeft(store, epochs);
            const auto strategy = search::MakeStrategy(config);
            const bool finished = left.items.empty() && strategy->Propose(store).empty();
            // A strategy that appends candidates while it runs may still add epochs.
            const bool grows = !finished && (strategy->MaxCandidates() == 0 ||
                                             left.candidates < strategy->MaxCandidates());
            const int64_t running = count[db::TrialState::kRunning];
            const int64_t pending = left.pending;
            const int64_t epochs_left = left.epochs_left;
            std::string state;
            if (finished) {
              state = "finished";
            } else if (alive) {
              state = "running";
            } else {
              state = "stopped";
            }
            const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
            const int workers = search::WorkerCount(
                config.execution, cores, std::max(1, static_cast<int>(left.items.size())));
            Table::Cell eta;
            if (finished) {
              eta = 0.0;
            } else if (epochs_done > 0 && !grows) {
              eta = seconds / static_cast<double>(epochs_done) * static_cast<double>(epochs_left) /
                    workers;
            }
            Table table({"study", "db", "state", "owner", "candidates", "complete", "running",
                         "stale", "interrupted", "pruned", "failed", "pending", "epochs_done",
                         "epochs_left", "compute_s", "eta_s", "eta", "strategy"});
            table.AddRow(
                {study.name, args->db, state,
                 owner ? std::to_string(owner->pid) + "@" + owner->host + (alive ? "" : " (dead)")
                       : std::string("none"),
                 static_cast<int64_t>(left.candidates), count[db::TrialState::kComplete],
                 alive ? running : int64_t{0}, alive ? int64_t{0} : running,
                 count[db::TrialState::kInterrupted], count[db::TrialState::kPruned],
                 count[db::TrialState::kFailed], pending, epochs_done, epochs_left, seconds, eta,
                 std::holds_alternative<double>(eta) ? search::FormatDuration(std::get<double>(eta))
                                                     : std::string("?"),
                 strategy->Name()});
            PrintRecord(std::cout, table, format);
            if (format == Format::kTable && state == "stopped") {
              std::cout << "continue with: factorize-nas resume " << args->db << "\n";
            }
            return 0;
          }};
}

const CommandRegistrar kRegistrar(100, MakeStatusCommand);

}  // namespace

}  // namespace fnas::cli
