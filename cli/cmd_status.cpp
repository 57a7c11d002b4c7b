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
#include "search/progress.h"

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
        // The pace: wall time per epoch of the trials that ran start to end in
        // one go (their quantization, validation and test evaluation included:
        // the sum of epoch compute alone undershot by 15-35 %).
        double paced_wall = 0;
        int64_t paced_epochs = 0;
        for (const auto& t : store.Trials()) {
          ++count[t.state];
          by_candidate[t.candidate_id] = t;
          epochs_done += t.epochs_done;
          seconds += t.seconds;
          const double wall = IsoSeconds(t.ended_at) - IsoSeconds(t.started_at);
          if (t.state == db::TrialState::kComplete && t.attempts == 1 && wall > 0) {
            paced_wall += wall;
            paced_epochs += t.epochs_done;
          }
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
        const int workers =
            config.execution.workers > 0
                ? config.execution.workers
                : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        const double pace = paced_epochs > 0  ? paced_wall / static_cast<double>(paced_epochs)
                            : epochs_done > 0 ? seconds / static_cast<double>(epochs_done)
                                              : 0.0;
        const int64_t unfinished = static_cast<int64_t>(candidates.size()) - finished;
        const double remaining =
            search::EstimateRemainingSeconds(pace, epochs_left, unfinished, workers);
        Table::Cell eta;
        if (std::isfinite(remaining)) eta = remaining;
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
             std::holds_alternative<double>(eta)  ? search::FormatDuration(std::get<double>(eta))
             : unfinished > 0 && epochs_left == 0 ? std::string("finishing")
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
