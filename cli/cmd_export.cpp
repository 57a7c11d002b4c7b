// factorize-nas export CHECKPOINT --config CONFIG --out DIR: the integer
// (quint8) model of a trained candidate, self-contained
// (docs/integer-model.md).
#include <iostream>

#include "cli/command.h"
#include "config/config.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/quant/export.h"
#include "evaluators/train/checkpoint.h"
#include "evaluators/train/dataset.h"

namespace fnas::cli {

namespace {

Command MakeExportCommand(CLI::App& root) {
  struct Args {
    std::string checkpoint;
    std::string config;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "export",
      "Write the quint8 integer model of a checkpoint (JSON manifest + uint8 weights and int32 "
      "biases) for inference by another program; see docs/integer-model.md");
  AddCheckpointArgs(app, args->checkpoint, args->config);
  app->add_option("--out", args->out, "Output directory (created)")->required();
  return {app, [args]() {
            const Config config = LoadConfig(args->config);
            evaluators::LoadedModel loaded =
                evaluators::LoadModelCheckpoint(args->checkpoint, config.macro());
            const evaluators::Dataset data =
                evaluators::LoadDataset(config.data, config.model, config.seed);
            const evaluators::QuantizedModel model = evaluators::QuantizeModel(
                loaded.model, data.train, data.normalization, config.quantization, config.seed);
            evaluators::ExportInfo info;
            info.candidate = loaded.candidate.name;
            info.key = loaded.candidate.key;
            info.dataset = data.name;
            info.mean = data.normalization.mean;
            info.std = data.normalization.std;
            evaluators::ExportIntegerNet(model.net, info, args->out);
            int64_t weights = 0;
            for (const auto& L : model.net.layers()) weights += L.weights.size();
            std::cout << "exported " << info.candidate << " (" << info.key << "), epoch "
                      << loaded.epoch << ": " << model.net.layers().size() << " layers, " << weights
                      << " uint8 weights, calibrated on " << model.calibration.samples
                      << " training images -> " << args->out << "/manifest.json\n";
            return 0;
          }};
}

const CommandRegistrar kRegistrar(40, MakeExportCommand);

}  // namespace

}  // namespace fnas::cli
