// factorize-nas replay DB --pruning FILE.yaml|MAPPING: simulates a pruner on a
// study trained without pruning (its rungs recorded), without training.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/command.h"
#include "cli/query.h"
#include "common/error.h"
#include "config/config.h"
#include "db/store.h"
#include "search/replay.h"

namespace fnas::cli {

namespace {

// A file's `pruning:` section (or the file is the mapping), else an inline mapping.
search::PruningOptions LoadPruning(const std::string& arg) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(arg, ec)) {
    std::ifstream in(arg, std::ios::binary);
    if (!in) throw ConfigError(arg + ": cannot read the pruning file");
    std::stringstream ss;
    ss << in.rdbuf();
    return ParsePruningOptions(ss.str(), arg);
  }
  if (arg.find(':') == std::string::npos) {
    throw UsageError("--pruning " + arg +
                     ": no such file, and not an inline mapping such as "
                     "'{pruner: quant-aware, eta: 3}'");
  }
  return ParsePruningOptions(arg, "--pruning");
}

std::string IdList(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

Command MakeReplayCommand(CLI::App& root) {
  struct Args {
    std::string db;
    std::string pruning;
    std::string format = "table";
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "replay",
      "Simulate a pruner on a study trained without pruning (rungs recorded), without training: "
      "epochs saved, trials pruned, front members lost, recovered hypervolume");
  app->add_option("db", args->db, "The study's SQLite database")->required();
  app->add_option("--pruning", args->pruning,
                  "A YAML file with a pruning: section (or the mapping alone), or an inline "
                  "mapping such as '{pruner: asha, eta: 2}'")
      ->required();
  AddFormatOption(app, args->format);
  return {app, [args]() {
            const Format format = ParseFormat(args->format);
            const search::PruningOptions options = LoadPruning(args->pruning);
            db::Store store(args->db, db::Store::Mode::kReadOnly);
            const search::ReplayInput input = search::LoadReplayInput(store);
            const search::ReplayResult r = search::Replay(input, options);
            std::map<int64_t, std::string> names;
            for (const auto& t : input.trials) names[t.trial_id] = t.name;

            std::string rungs;
            for (int e : r.rungs) rungs += (rungs.empty() ? "" : " ") + std::to_string(e);
            Table summary({"study", "pruner", "rungs", "trials", "pruned", "epochs_full",
                           "epochs_trained", "epoch_fraction", "front_size", "front_lost",
                           "lost_trials", "hv_full", "hv_found", "hv_fraction"});
            summary.AddRow({store.Study().name, r.pruner, rungs,
                            static_cast<int64_t>(input.trials.size()),
                            static_cast<int64_t>(r.pruned.size()), r.epochs_full, r.epochs_trained,
                            r.epoch_fraction, static_cast<int64_t>(r.full_front.size()),
                            static_cast<int64_t>(r.lost.size()), IdList(r.lost), r.hv_full,
                            r.hv_found, r.hv_fraction});
            std::map<int64_t, const search::PruneVerdict*> verdicts;
            for (const auto& d : r.decisions) {
              if (d.verdict.prune) verdicts[d.trial_id] = &d.verdict;
            }
            Table pruned({"trial_id", "candidate", "rung_epoch", "rule", "reason", "justified_by"});
            for (const auto& [trial, epoch] : r.pruned) {
              const search::PruneVerdict& v = *verdicts.at(trial);
              pruned.AddRow({trial, names[trial], static_cast<int64_t>(epoch), v.rule, v.reason,
                             IdList(v.justified_by)});
            }
            Table lost({"trial_id", "candidate", "macs_conv", "acc_quint8"});
            for (const auto& p : r.full_front) {
              if (verdicts.count(p.id)) {
                lost.AddRow({p.id, names[p.id], p.macs, Metric(p.accuracy)});
              }
            }
            Table decisions({"trial_id", "candidate", "rung_epoch", "decision", "rule", "reason"});
            for (const auto& d : r.decisions) {
              decisions.AddRow({d.trial_id, names[d.trial_id], static_cast<int64_t>(d.epoch),
                                std::string(d.verdict.prune ? "prune" : "continue"), d.verdict.rule,
                                d.verdict.reason});
            }
            PrintSections(std::cout,
                          {{"=replay", summary},
                           {"pruned", pruned},
                           {"front members lost", lost},
                           {"decisions", decisions}},
                          format);
            return 0;
          }};
}

const CommandRegistrar kRegistrar(95, MakeReplayCommand);

}  // namespace

}  // namespace fnas::cli
