// factorize-nas show DB TRIAL: one trial: its candidate's per-layer
// configuration, its metrics, per-epoch records, rung results, pruning
// decisions with their evidence and layerwise statistics.
#include <iostream>
#include <map>
#include <vector>

#include "cli/command.h"
#include "cli/model_source.h"
#include "cli/query.h"
#include "common/error.h"
#include "config/config.h"
#include "db/store.h"
#include "space/plan.h"

namespace fnas::cli {

namespace {

Command MakeShowCommand(CLI::App& root) {
  struct Args {
    std::string db;
    std::string trial;
    std::string format = "table";
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "show", "One trial: per-layer configuration, metrics, per-epoch records, layerwise table");
  app->add_option("db", args->db, "The study's SQLite database")->required();
  app->add_option("trial", args->trial, "Trial id, candidate name or factorization key")
      ->required();
  AddFormatOption(app, args->format);
  return {
      app, [args]() {
        const Format format = ParseFormat(args->format);
        db::Store store(args->db, db::Store::Mode::kReadOnly);
        const db::TrialRow t = FindTrial(store, args->trial);
        const Config config = ParseConfig(store.Study().yaml, args->db + " (stored config)");

        Table trial({"trial_id",   "candidate",    "factorization", "state",       "reason",
                     "worker",     "attempts",     "started_at",    "ended_at",    "epochs_done",
                     "seconds",    "macs_conv",    "params",        "test_images", "acc_fp32",
                     "acc_quint8", "rel_decrease", "qmse",          "qce",         "checkpoint"});
        trial.AddRow({t.id,
                      t.candidate_name,
                      t.candidate_key,
                      std::string(db::TrialStateName(t.state)),
                      t.reason,
                      t.worker,
                      static_cast<int64_t>(t.attempts),
                      t.started_at,
                      t.ended_at,
                      static_cast<int64_t>(t.epochs_done),
                      t.seconds,
                      t.macs_conv,
                      t.params,
                      t.has_test ? Table::Cell(t.test.images) : Table::Cell(),
                      Metric(t.test.acc_fp32),
                      Metric(t.test.acc_q),
                      Metric(t.test.rel_decrease),
                      Metric(t.test.qmse),
                      Metric(t.test.qce),
                      t.checkpoint});

        // The candidate's configuration: each factorizable layer and its rate.
        const space::Macro macro = config.macro();
        const space::Factorization f = space::ParseFactorization(t.candidate_key);
        const space::Plan plan = space::BuildPlan(macro, f);
        Table layers({"layer", "in_depth", "out_depth", "size", "f", "conv", "macs"});
        for (const auto& l : macro.layers()) {
          const int rate = f.at(static_cast<size_t>(l.index));
          int64_t macs = 0;
          for (const auto& op : plan.ops) {
            if (op.layer == l.name) macs += op.Macs();
          }
          const std::string kind = rate == 1            ? "regular"
                                   : rate == l.in_depth ? "depthwise separable"
                                                        : "groupwise separable";
          layers.AddRow({l.name, static_cast<int64_t>(l.in_depth),
                         static_cast<int64_t>(l.out_depth),
                         std::to_string(l.height) + "x" + std::to_string(l.width),
                         static_cast<int64_t>(rate), kind, macs});
        }

        // How the strategy reached this candidate: from its seed, one move a step.
        Table path({"step", "candidate", "factorization", "move", "macs_conv", "trial_id", "state",
                    "acc_quint8"});
        {
          std::map<int64_t, db::CandidateRow> candidates;
          for (auto& c : store.Candidates()) candidates[c.id] = std::move(c);
          std::map<int64_t, db::TrialRow> trials;
          for (auto& other : store.Trials()) trials[other.candidate_id] = std::move(other);
          std::vector<const db::CandidateRow*> chain;
          for (auto it = candidates.find(t.candidate_id); it != candidates.end();
               it = candidates.find(it->second.parent_id)) {
            chain.push_back(&it->second);
            if (it->second.parent_id == 0 || chain.size() > candidates.size()) break;
          }
          for (auto c = chain.rbegin(); c != chain.rend(); ++c) {
            const auto trial = trials.find((*c)->id);
            const bool has = trial != trials.end();
            path.AddRow({static_cast<int64_t>((*c)->step), (*c)->candidate.name,
                         (*c)->candidate.key, (*c)->parent_id ? (*c)->move : std::string("seed"),
                         (*c)->macs_conv, has ? Table::Cell(trial->second.id) : Table::Cell(),
                         has ? std::string(db::TrialStateName(trial->second.state))
                             : std::string("pending"),
                         has ? Metric(trial->second.test.acc_q) : Table::Cell()});
          }
        }

        Table epochs({"epoch", "train_loss", "train_acc", "val_acc", "lr", "seconds",
                      "images_per_s", "val_acc_fp32", "val_acc_quint8", "val_rel_decrease",
                      "val_qmse", "val_qce"});
        for (const auto& e : store.Epochs(t.id)) {
          const auto& r = e.record;
          auto v = [&](double x) { return e.recorded ? Metric(x) : Table::Cell(); };
          epochs.AddRow({static_cast<int64_t>(r.epoch), Metric(r.train_loss), Metric(r.train_acc),
                         Metric(r.val_acc), Metric(r.lr), Metric(r.seconds), Metric(r.images_per_s),
                         v(e.validation.acc_fp32), v(e.validation.acc_q),
                         v(e.validation.rel_decrease), v(e.validation.qmse), v(e.validation.qce)});
        }

        Table stats({"split", "epoch", "op", "layer", "w_range", "w_channel_precision",
                     "folded_range", "folded_channel_precision", "act_range",
                     "act_channel_precision", "sqnr_db"});
        for (const auto& l : store.Layers(t.id)) {
          const auto& s = l.stats;
          stats.AddRow({l.split, static_cast<int64_t>(l.epoch), s.op, s.layer,
                        Metric(s.weights.range), Metric(s.weights.channel_precision),
                        Metric(s.folded.range), Metric(s.folded.channel_precision),
                        Metric(s.activations.range), Metric(s.activations.channel_precision),
                        Metric(s.sqnr_db)});
        }
        // Its rung results and every pruning decision with the full evidence.
        Table rungs({"epoch", "arrival", "macs_conv", "acc_fp32", "acc_quint8", "rel_decrease",
                     "qmse", "qce"});
        for (const auto& r : store.RungResults()) {
          if (r.trial_id != t.id) continue;
          rungs.AddRow({static_cast<int64_t>(r.epoch), r.seq, r.macs_conv,
                        Metric(r.validation.acc_fp32), Metric(r.validation.acc_q),
                        Metric(r.validation.rel_decrease), Metric(r.validation.qmse),
                        Metric(r.validation.qce)});
        }
        Table pruning({"rung_epoch", "decision", "rule", "reason", "evidence"});
        for (const auto& d : store.PruneDecisions(t.id)) {
          pruning.AddRow(
              {static_cast<int64_t>(d.rung_epoch), d.decision, d.rule, d.reason, d.evidence});
        }
        // quint8 metrics under every recorded calibration method.
        Table methods({"split", "epoch", "method", "is_primary", "acc_quint8", "rel_decrease",
                       "qmse", "qce"});
        for (const auto& m : store.QuantMethods(t.id)) {
          const auto& q = m.metrics.metrics;
          methods.AddRow({m.split, static_cast<int64_t>(m.epoch), m.metrics.method,
                          int64_t{m.primary ? 1 : 0}, Metric(q.acc_q), Metric(q.rel_decrease),
                          Metric(q.qmse), Metric(q.qce)});
        }
        PrintSections(std::cout,
                      {{"=trial", trial},
                       {"layers", layers},
                       {"path", path},
                       {"epochs", epochs},
                       {"rungs", rungs},
                       {"pruning decisions", pruning},
                       {"calibration methods", methods},
                       {"layerwise", stats}},
                      format);
        return 0;
      }};
}

const CommandRegistrar kRegistrar(90, MakeShowCommand);

}  // namespace

}  // namespace fnas::cli
