// factorize-nas status DB: progress of a running or stopped study.
#include <cmath>
#include <iostream>
#include <thread>

#include "cli/command.h"
#include "cli/query.h"
#include "config/config.h"
#include "db/store.h"
#include "search/execution.h"
#include "search/progress.h"
#include "search/strategy.h"

namespace fnas::cli {

namespace {

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
            db::Store store(args->db, db::Store::Mode::kReadOnly);
            const db::StudyRow study = store.Study();
            const Config config = ParseConfig(study.yaml, args->db + " (stored config)");
            const int epochs = config.training.epochs;
            const auto owner = store.CurrentOwner();
            const bool alive =
                owner && db::Store::OwnerAlive(*owner, db::LeaseSeconds(), db::NowSeconds());
            // A paused owner (Ctrl-Z) is not dead: its lease runs out, and then
            // resume may take the study over; on `fg` it stops cleanly.
            const bool paused = owner && db::Store::OwnerPaused(*owner);

            // Counts, sums and what is left from one pass over the trials
            // table (Store::StudyProgress): no trial is held in memory, so a
            // study of 100,000 trials answers at once.
            const db::Progress p = store.StudyProgress(epochs);
            auto count = [&p](db::TrialState s) {
              const auto it = p.count.find(s);
              return it == p.count.end() ? int64_t{0} : it->second;
            };
            // What `resume` would run: the driver's definition
            // (search::ComputeWorkLeft; a test holds the two equal).
            const int64_t items = p.pending + p.restartable;
            const auto strategy = search::MakeStrategy(config);
            const bool finished = items == 0 && strategy->Propose(store).empty();
            // A strategy that appends candidates while it runs may still add epochs.
            const bool grows = !finished && (strategy->MaxCandidates() == 0 ||
                                             p.candidates < strategy->MaxCandidates());
            const int64_t running = count(db::TrialState::kRunning);
            const int64_t pending = p.pending;
            const int64_t epochs_left = p.epochs_left;
            std::string state;
            if (finished) {
              state = "finished";
            } else if (alive) {
              state = "running";
            } else {
              state = "stopped";
            }
            const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
            const int workers =
                search::WorkerCount(config.execution, cores, std::max(1, static_cast<int>(items)));
            // The pace: wall time per epoch of the trials that ran start to end
            // in one go (quantization and evaluation included: the sum of epoch
            // compute alone undershot by 15-35 %), spread over the workers that
            // can run; unknown ("finishing") while trials end with no epoch left.
            const int64_t epochs_done = p.epochs_done;
            const double seconds = p.seconds;
            const double pace = p.paced_epochs > 0
                                    ? p.paced_wall / static_cast<double>(p.paced_epochs)
                                : epochs_done > 0 ? seconds / static_cast<double>(epochs_done)
                                                  : 0.0;
            const double remaining =
                search::EstimateRemainingSeconds(pace, epochs_left, items, workers);
            Table::Cell eta;
            if (finished) {
              eta = 0.0;
            } else if (!grows && std::isfinite(remaining)) {
              eta = remaining;
            }
            Table table({"study", "db", "state", "owner", "candidates", "complete", "running",
                         "stale", "interrupted", "pruned", "failed", "pending", "epochs_done",
                         "epochs_left", "compute_s", "eta_s", "eta", "strategy"});
            table.AddRow(
                {study.name, args->db, state,
                 owner ? std::to_string(owner->pid) + "@" + owner->host +
                             (paused  ? alive ? " (paused)" : " (paused, lease expired)"
                              : alive ? ""
                                      : " (dead)")
                       : std::string("none"),
                 p.candidates, count(db::TrialState::kComplete), alive ? running : int64_t{0},
                 alive ? int64_t{0} : running, count(db::TrialState::kInterrupted),
                 count(db::TrialState::kPruned), count(db::TrialState::kFailed), pending,
                 epochs_done, epochs_left, seconds, eta,
                 std::holds_alternative<double>(eta) ? search::FormatDuration(std::get<double>(eta))
                 : !finished && !grows && epochs_left == 0 ? std::string("finishing")
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
