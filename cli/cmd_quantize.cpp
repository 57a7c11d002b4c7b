// factorize-nas quantize CHECKPOINT --config CONFIG: quint8 post-training
// quantization of a trained candidate; prints the metrics and the layerwise
// table (docs/method.md §6).
#include <tbb/global_control.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "common/error.h"
#include "common/table.h"
#include "config/config.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/train/checkpoint.h"
#include "evaluators/train/dataset.h"

namespace fnas::cli {

namespace {

Command MakeQuantizeCommand(CLI::App& root) {
  struct Args {
    std::string checkpoint;
    std::string config;
    std::string split = "test";
    std::string format = "table";
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "quantize",
      "quint8 post-training quantization of a checkpoint (BN folding, calibration, integer "
      "inference): fp32 / quint8 accuracy, QMSE, QCE and the layerwise statistics");
  AddCheckpointArgs(app, args->checkpoint, args->config);
  app->add_option("--split", args->split, "Split to evaluate: val or test")
      ->check(CLI::IsMember({"val", "test"}))
      ->capture_default_str();
  app->add_option("--threads", args->threads, "Threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  AddFormatOption(app, args->format);
  return {app, [args]() {
            const Format format = ParseFormat(args->format);
            const Config config = LoadConfig(args->config);
            std::unique_ptr<tbb::global_control> limit;
            if (args->threads > 0) {
              at::set_num_threads(args->threads);
              limit = std::make_unique<tbb::global_control>(
                  tbb::global_control::max_allowed_parallelism, args->threads);
            }
            evaluators::LoadedModel loaded =
                evaluators::LoadModelCheckpoint(args->checkpoint, config.macro());
            const evaluators::Dataset data =
                evaluators::LoadDataset(config.data, config.model, config.seed);
            const evaluators::Split& split = args->split == "val" ? data.validation : data.test;
            if (split.size() == 0) {
              throw UsageError("the " + args->split + " split of " + data.name + " is empty");
            }
            const evaluators::QuantOptions& q = config.quantization;
            const auto start = std::chrono::steady_clock::now();
            const evaluators::Normalization& normalize = data.normalization;
            const evaluators::QuantizedModel model =
                evaluators::QuantizeModel(loaded.model, data.train, normalize, q, config.seed);
            const evaluators::QuantReport report =
                evaluators::Evaluate(model, loaded.model, split, normalize, q);
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            // How far the fake-quant simulation is from the integer path.
            const double agreement = evaluators::FakeIntegerAgreement(
                model.net, normalize(split.images), std::max(1, q.eval_batch));
            const evaluators::QuantMetrics& m = report.metrics;

            Table layers({"op", "layer", "w_range", "w_precision", "fold_range", "fold_precision",
                          "act_min", "act_max", "act_range", "act_precision", "sqnr_db"});
            for (const auto& s : report.layers) {
              layers.AddRow({s.op, s.layer, s.weights.range, s.weights.channel_precision,
                             s.folded.range, s.folded.channel_precision, s.activations.min,
                             s.activations.max, s.activations.range,
                             s.activations.channel_precision, s.sqnr_db});
            }
            const auto& c = loaded.candidate;
            if (format == Format::kJson) {
              nlohmann::json j;
              j["candidate"] = c.name;
              j["factorization"] = c.key;
              j["epoch"] = loaded.epoch;
              j["split"] = args->split;
              j["mode"] = q.mode;
              j["calibration_samples"] = model.calibration.samples;
              j["percentile"] = q.percentile;
              j["metrics"] = {{"images", m.images},
                              {"acc_fp32", m.acc_fp32},
                              {"acc_q", m.acc_q},
                              {"rel_decrease", m.rel_decrease},
                              {"qmse", m.qmse},
                              {"qce", m.qce},
                              {"fake_agreement", agreement},
                              {"seconds", seconds}};
              std::ostringstream lj;
              layers.PrintJson(lj);
              j["layers"] = nlohmann::json::parse(lj.str());
              std::cout << j.dump(2) << "\n";
              return 0;
            }
            Table metrics({"metric", "value"});
            metrics.AddRow({std::string("images"), m.images});
            metrics.AddRow({std::string("acc_fp32"), m.acc_fp32});
            metrics.AddRow({std::string("acc_quint8"), m.acc_q});
            metrics.AddRow({std::string("rel_decrease_pct"), m.rel_decrease});
            metrics.AddRow({std::string("qmse"), m.qmse});
            metrics.AddRow({std::string("qce"), m.qce});
            metrics.AddRow({std::string("fake_vs_integer_top1_agreement"), agreement});
            metrics.AddRow({std::string("seconds"), seconds});
            if (format == Format::kTable) {
              std::cout << "quantize " << c.name << " (" << c.key << "), epoch " << loaded.epoch
                        << ": " << data.name << " " << args->split << " split; calibration "
                        << model.calibration.samples << " training images, " << q.percentile
                        << "% clipping; quint8 path: " << q.mode << "\n\n";
            }
            metrics.Print(std::cout, format);
            std::cout << "\n";
            if (format == Format::kTable) {
              std::cout << "layerwise: ranges and average channel precision of the weights, "
                           "BN-folded weights and clipped activations; SQNR of the output\n";
            }
            layers.Print(std::cout, format);
            return 0;
          }};
}

const CommandRegistrar kRegistrar(30, MakeQuantizeCommand);

}  // namespace

}  // namespace fnas::cli
