// factorize-nas export (CHECKPOINT --config CONFIG | DB TRIAL) --out PATH
// [--format integer|onnx|onnx-exact|onnx-fp32]: a trained candidate for another
// program: our integer model directory (docs/integer-model.md), its ONNX
// QOperator model, the same model in exact integer ONNX operators, or the
// float model in ONNX (docs/deploy.md).
#include <iostream>

#include "cli/command.h"
#include "cli/model_source.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/quant/export.h"
#include "evaluators/quant/export_onnx.h"
#include "evaluators/quant/float_params.h"
#include "evaluators/train/dataset.h"

namespace fnas::cli {

namespace {

Command MakeExportCommand(CLI::App& root) {
  struct Args {
    std::vector<std::string> source;
    std::string config;
    std::string out;
    std::string format = "integer";
    bool layer_outputs = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "export",
      "Write a trained candidate for another program: the quint8 integer model (JSON manifest + "
      "uint8 weights, docs/integer-model.md), the same model in ONNX (QOperator form, or exact "
      "integer operators) or the float model in ONNX (docs/deploy.md)");
  app->add_option("source", args->source,
                  "CHECKPOINT (.ckpt, with --config), or DB TRIAL (a study database and a trial "
                  "id, candidate name or factorization key)")
      ->required()
      ->expected(1, 2);
  app->add_option("--config", args->config,
                  "Study config (YAML) the checkpoint was trained with (not with DB TRIAL)");
  app->add_option("--out", args->out,
                  "Output: a directory (integer) or a file (onnx, onnx-exact, onnx-fp32)")
      ->required();
  app->add_option("--format", args->format,
                  "integer: our integer model directory; onnx: the quint8 model in ONNX "
                  "(QLinearConv, the interchange form; runtimes requantize it with their own "
                  "rounding); onnx-exact: the quint8 model in exact integer operators "
                  "(ConvInteger, MatMulInteger, int64 requantization), bit-exact with our "
                  "integer path in any ONNX runtime; onnx-fp32: the trained float model with "
                  "BatchNorm in ONNX")
      ->check(CLI::IsMember({"integer", "onnx", "onnx-exact", "onnx-fp32"}))
      ->capture_default_str();
  app->add_flag(
      "--layer-outputs", args->layer_outputs,
      "onnx, onnx-exact: also output every layer's uint8 tensor (to compare runtimes layer "
      "by layer)");
  return {app, [args]() {
            ModelSource source = LoadModelSource(args->source, args->config);
            const Config& config = source.config;
            evaluators::LoadedModel& loaded = source.loaded;
            const evaluators::Dataset data =
                evaluators::LoadDataset(config.data, config.model, config.seed);
            evaluators::ExportInfo info;
            info.candidate = loaded.candidate.name;
            info.key = loaded.candidate.key;
            info.dataset = data.name;
            info.mean = data.normalization.mean;
            info.std = data.normalization.std;
            const std::string what = info.candidate + " (" + info.key + "), epoch " +
                                     std::to_string(loaded.epoch) + " of " + source.origin;
            if (args->format == "onnx-fp32") {
              evaluators::ExportOnnxFloat(
                  loaded.model->plan(), evaluators::FloatNetParams(loaded.model), info, args->out);
              evaluators::CheckOnnxModel(args->out);
              std::cout << "exported the float model of " << what << " -> " << args->out
                        << " (ONNX opset " << evaluators::kOnnxOpset << ")\n";
              return 0;
            }
            const evaluators::QuantizedModel model = evaluators::QuantizeModel(
                loaded.model, data.train, data.normalization, config.quantization, config.seed);
            int64_t weights = 0;
            for (const auto& L : model.net.layers()) weights += L.weights.size();
            const std::string summary = std::to_string(model.net.layers().size()) + " layers, " +
                                        std::to_string(weights) + " uint8 weights, calibrated on " +
                                        std::to_string(model.calibration.samples) +
                                        " training images";
            if (args->format == "onnx" || args->format == "onnx-exact") {
              const bool exact = args->format == "onnx-exact";
              (exact ? evaluators::ExportOnnxExact : evaluators::ExportOnnxInteger)(
                  model.net, info, args->out, args->layer_outputs);
              evaluators::CheckOnnxModel(args->out);
              std::cout << "exported the quint8 model of " << what << ": " << summary << " -> "
                        << args->out << " (ONNX opset " << evaluators::kOnnxOpset << ", "
                        << (exact ? "exact integer operators" : "QOperator") << ")\n";
              return 0;
            }
            evaluators::ExportIntegerNet(model.net, info, args->out);
            std::cout << "exported " << what << ": " << summary << " -> " << args->out
                      << "/manifest.json\n";
            return 0;
          }};
}

const CommandRegistrar kRegistrar(40, MakeExportCommand);

}  // namespace

}  // namespace fnas::cli
