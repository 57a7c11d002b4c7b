// factorize-nas status DB: progress of a running or stopped study.
#include <cmath>
#include <cstdio>
#include <ctime>
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

// Unix seconds of the store's "YYYY-MM-DDTHH:MM:SS.mmmZ"; NaN if malformed.
double IsoSeconds(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6) {
    return std::nan("");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

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

            std::map<db::TrialState, int64_t> count;
            int64_t epochs_done = 0;
            double seconds = 0;
            const auto trials = store.Trials();
            for (const auto& t : trials) {
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
            // The pace: wall time per epoch of the trials that ran start to end
            // in one go (quantization and evaluation included: the sum of epoch
            // compute alone undershot by 15-35 %), spread over the workers that
            // can run; unknown ("finishing") while trials end with no epoch left.
            double paced_wall = 0;
            int64_t paced_epochs = 0;
            for (const auto& t : trials) {
              const double wall = IsoSeconds(t.ended_at) - IsoSeconds(t.started_at);
              if (t.state == db::TrialState::kComplete && t.attempts == 1 && wall > 0) {
                paced_wall += wall;
                paced_epochs += t.epochs_done;
              }
            }
            const double pace = paced_epochs > 0  ? paced_wall / static_cast<double>(paced_epochs)
                                : epochs_done > 0 ? seconds / static_cast<double>(epochs_done)
                                                  : 0.0;
            const double remaining = search::EstimateRemainingSeconds(
                pace, epochs_left, static_cast<int64_t>(left.items.size()), workers);
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
                 static_cast<int64_t>(left.candidates), count[db::TrialState::kComplete],
                 alive ? running : int64_t{0}, alive ? int64_t{0} : running,
                 count[db::TrialState::kInterrupted], count[db::TrialState::kPruned],
                 count[db::TrialState::kFailed], pending, epochs_done, epochs_left, seconds, eta,
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
