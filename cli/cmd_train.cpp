// factorize-nas train CONFIG --candidate NAME: trains one candidate with the
// config's data and training recipe, one line per epoch, checkpointing every
// epoch (Ctrl-C finishes the epoch, writes its checkpoint and exits 130; a
// second Ctrl-C exits 130 at once: cli/interrupt.h).
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/interrupt.h"
#include "common/error.h"
#include "common/table.h"
#include "config/config.h"
#include "evaluators/train/checkpoint.h"
#include "evaluators/train/dataset.h"
#include "evaluators/train/trainer.h"
#include "search/execution.h"
#include "space/plan.h"

namespace fnas::cli {

namespace {

Command MakeTrainCommand(CLI::App& root) {
  struct Args {
    std::string config;
    std::string candidate;
    int epochs = 0;
    std::string checkpoint_dir;
    bool resume = false;
    int threads = 0;
    std::string format = "table";
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "train",
      "Train one candidate with the config's data and training recipe; one line per epoch, "
      "a checkpoint after every epoch");
  app->add_option("config", args->config, "Study config (YAML)")->required();
  app->add_option("--candidate", args->candidate,
                  "Candidate name or factorization key (regular, uniform-f4, 1.2.2.4.4.4.8.8)")
      ->required();
  app->add_option("--epochs", args->epochs,
                  "Epochs (default training.epochs); fractional "
                  "milestones scale with it")
      ->check(CLI::Range(1, 100000));
  app->add_option("--checkpoint-dir", args->checkpoint_dir,
                  "Directory of the checkpoint (default: the config's storage.checkpoints)");
  app->add_flag("--resume", args->resume, "Continue from the candidate's last checkpoint");
  app->add_option("--threads", args->threads, "Intra-op threads (0 = LibTorch's default)")
      ->check(CLI::Range(0, 1024));
  AddFormatOption(app, args->format);
  return {app, [args]() {
            const Format format = ParseFormat(args->format);
            const Config config = LoadConfig(args->config);
            search::PrepareDevices(config.execution);  // as `search` does: never a silent CPU run
            const space::Macro macro = config.macro();
            const space::Candidate cand =
                space::ResolveCandidate(macro, config.candidates(), args->candidate);
            if (args->threads > 0) at::set_num_threads(args->threads);
            const evaluators::Dataset data =
                evaluators::LoadDataset(config.data, config.model, config.seed);
            evaluators::TrainerRunOptions options;
            options.epochs = args->epochs;
            options.resume = args->resume;
            options.device = config.execution.device;
            const std::string dir =
                args->checkpoint_dir.empty() ? config.checkpoint_dir() : args->checkpoint_dir;
            options.checkpoint_path = evaluators::CheckpointFile(dir, cand);
            evaluators::Trainer trainer(config.training, config.model, config.seed, cand, data,
                                        options);
            const space::Plan& plan = trainer.model()->plan();

            std::ostream& info = format == Format::kTable ? std::cout : std::cerr;
            info << "train " << cand.name << " (" << cand.key << "): " << plan.macs_conv / 1e6
                 << " M conv MACs, " << plan.params << " params; " << data.name << " "
                 << data.train.size() << " train / " << data.validation.size() << " validation / "
                 << data.test.size() << " test images; " << trainer.epochs() << " epochs, "
                 << at::get_num_threads() << " threads\n"
                 << "checkpoint " << options.checkpoint_path << "\n";
            if (format == Format::kTable) {
              std::printf("%6s %10s %9s %8s %9s %8s %9s\n", "epoch", "train_loss", "train_acc",
                          "val_acc", "lr", "seconds", "images/s");
              std::fflush(stdout);
            }
            Table table(
                {"epoch", "train_loss", "train_acc", "val_acc", "lr", "seconds", "images_per_s"});
            const InterruptGuard guard(
                "the checkpoint is that of the last finished epoch; resume with --resume");
            auto on_epoch = [&](const evaluators::EpochRecord& r, space::FactorizeNet&) {
              if (format == Format::kTable) {
                std::printf("%6d %10.4f %9.4f %8.4f %9.2g %8.1f %9.0f\n", r.epoch, r.train_loss,
                            r.train_acc, r.val_acc, r.lr, r.seconds, r.images_per_s);
                std::fflush(stdout);
              }
              return true;
            };
            // On a terminal, a progress line per batch (overwritten in place).
            const bool tty = isatty(STDERR_FILENO);
            auto last = std::chrono::steady_clock::now();
            auto on_batch = [&](const evaluators::BatchProgress& p) {
              const auto now = std::chrono::steady_clock::now();
              if (p.batch + 1 < p.batches && now - last < std::chrono::milliseconds(500)) return;
              last = now;
              std::fprintf(stderr, "\r  epoch %d  batch %lld/%lld  loss %.4f  %.0f images/s   %s",
                           p.epoch, static_cast<long long>(p.batch + 1),
                           static_cast<long long>(p.batches), p.loss, p.images_per_s,
                           p.batch + 1 == p.batches ? "\r\033[K" : "");
            };
            evaluators::TrainResult result = trainer.Run(
                on_epoch, tty ? evaluators::BatchCallback(on_batch) : nullptr, guard.stop_flag());
            for (const auto& r : result.records) {
              table.AddRow({int64_t{r.epoch}, r.train_loss, r.train_acc, r.val_acc, r.lr, r.seconds,
                            r.images_per_s});
            }
            if (format != Format::kTable) table.Print(std::cout, format);
            using Status = evaluators::TrainResult::Status;
            if (result.status == Status::kDiverged) throw RuntimeError(result.message);
            if (result.status == Status::kStopped) {
              info << result.message << "; resume with --resume\n";
              return static_cast<int>(kExitInterrupted);
            }
            // The test split is only reported, never used for a decision.
            const double test_acc =
                evaluators::Accuracy(*result.model, data, data.test, options.eval_batch);
            char line[160];
            std::snprintf(line, sizeof(line),
                          "%s: %d epochs, validation accuracy %.4f, test accuracy %.4f\n",
                          StatusName(result.status), result.epochs_done,
                          result.records.empty() ? 0.0 : result.records.back().val_acc, test_acc);
            info << line;
            return 0;
          }};
}

const CommandRegistrar kRegistrar(20, MakeTrainCommand);

}  // namespace

}  // namespace fnas::cli
