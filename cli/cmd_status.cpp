// factorize-nas status DB: progress of a running or stopped study.
#include <iostream>
#include <map>

#include "cli/command.h"
#include "cli/query.h"
#include "config/config.h"
#include "db/store.h"
#include "search/progress.h"

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
  return {
      app, [args]() {
        const Format format = ParseFormat(args->format);
        db::Store store(args->db, db::Store::Mode::kReadOnly);
        const db::StudyRow study = store.Study();
        const Config config = ParseConfig(study.yaml, args->db + " (stored config)");
        const int epochs = config.training.epochs;
        const auto owner = store.CurrentOwner();
        const bool alive = owner && db::Store::OwnerAlive(*owner, kStaleAfterS, db::NowSeconds());

        std::map<db::TrialState, int64_t> count;
        std::map<int64_t, db::TrialRow> by_candidate;
        int64_t epochs_done = 0;
        double seconds = 0;
        for (const auto& t : store.Trials()) {
          ++count[t.state];
          by_candidate[t.candidate_id] = t;
          epochs_done += t.epochs_done;
          seconds += t.seconds;
        }
        const auto candidates = store.Candidates();
        int64_t pending = 0, epochs_left = 0;
        for (const auto& c : candidates) {
          auto it = by_candidate.find(c.id);
          if (it == by_candidate.end()) {
            ++pending;
            epochs_left += epochs;
          } else if (!db::IsFinished(it->second.state)) {
            epochs_left += std::max(0, epochs - it->second.epochs_done);
          }
        }
        const int64_t running = count[db::TrialState::kRunning];
        const int64_t finished = count[db::TrialState::kComplete] + count[db::TrialState::kPruned] +
                                 count[db::TrialState::kFailed];
        std::string state;
        if (finished == static_cast<int64_t>(candidates.size())) {
          state = "finished";
        } else if (alive) {
          state = "running";
        } else {
          state = "stopped";
        }
        const int workers = std::max(1, config.execution.workers);
        Table::Cell eta;
        if (epochs_left == 0) {
          eta = 0.0;
        } else if (epochs_done > 0) {
          eta = seconds / static_cast<double>(epochs_done) * static_cast<double>(epochs_left) /
                workers;
        }
        Table table({"study", "db", "state", "owner", "candidates", "complete", "running", "stale",
                     "interrupted", "pruned", "failed", "pending", "epochs_done", "epochs_left",
                     "compute_s", "eta_s", "eta"});
        table.AddRow(
            {study.name, args->db, state,
             owner ? std::to_string(owner->pid) + "@" + owner->host + (alive ? "" : " (dead)")
                   : std::string("none"),
             static_cast<int64_t>(candidates.size()), count[db::TrialState::kComplete],
             alive ? running : int64_t{0}, alive ? int64_t{0} : running,
             count[db::TrialState::kInterrupted], count[db::TrialState::kPruned],
             count[db::TrialState::kFailed], pending, epochs_done, epochs_left, seconds, eta,
             std::holds_alternative<double>(eta) ? search::FormatDuration(std::get<double>(eta))
                                                 : std::string("?")});
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
