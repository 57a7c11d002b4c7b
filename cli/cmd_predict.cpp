// factorize-nas predict MODEL IMAGES: runs an exported integer model (our
// directory format) or a trained checkpoint on images, and prints the
// predicted class of each, or its logits, so that results can be compared
// with any other runtime.
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/images.h"
#include "cli/model_source.h"
#include "common/error.h"
#include "common/table.h"
#include "evaluators/quant/export.h"
#include "evaluators/train/dataset.h"

namespace fnas::cli {

namespace {

namespace fs = std::filesystem;

struct Predictions {
  torch::Tensor logits;  // float [N][classes]: dequantized (integer) or fp32 (checkpoint)
  torch::Tensor codes;   // uint8 [N][classes], integer models only
  std::string what;
};

Predictions RunInteger(const evaluators::IntegerNet& net, const evaluators::ExportInfo& info,
                       const ImageSet& set, int batch) {
  const int64_t n = set.images.size(0), classes = net.output_size();
  Predictions p;
  p.codes = torch::empty({n, classes}, torch::kUInt8);
  // The normalization the model was calibrated with, from its manifest.
  const evaluators::Normalization normalize{info.mean, info.std};
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t b = std::min<int64_t>(batch, n - start);
    const torch::Tensor x = normalize(set.images.narrow(0, start, b)).contiguous();
    const auto q = net.QuantizeInput(x.data_ptr<float>(), b);
    const auto out = net.Run(q.data(), b);
    std::copy(out.begin(), out.end(), p.codes.data_ptr<uint8_t>() + start * classes);
  }
  const evaluators::QParams& o = net.output();
  p.logits = (p.codes.to(torch::kFloat64) - o.zero_point)
                 .mul_(static_cast<double>(o.scale))
                 .to(torch::kFloat32);
  p.what = "integer model " + info.candidate + " (" + info.key + ")";
  return p;
}

Predictions RunFloat(ModelSource& source, const ImageSet& set, int batch) {
  const evaluators::Dataset data =
      evaluators::LoadDataset(source.config.data, source.config.model, source.config.seed);
  torch::NoGradGuard no_grad;
  space::FactorizeNet& model = source.loaded.model;
  model->eval();
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < set.images.size(0); start += batch) {
    const int64_t b = std::min<int64_t>(batch, set.images.size(0) - start);
    parts.push_back(model->forward(data.normalization(set.images.narrow(0, start, b))));
  }
  Predictions p;
  p.logits = torch::cat(parts).contiguous();
  p.what = "float model " + source.loaded.candidate.name + " (" + source.loaded.candidate.key +
           ") of " + source.origin;
  return p;
}

Command MakePredictCommand(CLI::App& root) {
  struct Args {
    std::vector<std::string> positional;
    std::string config;
    std::string format = "table";
    bool logits = false;
    bool codes = false;
    int64_t limit = 0;
    int batch = 256;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "predict",
      "Run an exported integer model (directory from `export`) or a checkpoint on images: an "
      "IDX file, a CIFAR-10 binary batch or a directory of PNGs; prints each image's class");
  app->add_option("model_images", args->positional,
                  "MODEL IMAGES: MODEL is an integer model directory, a CHECKPOINT (with "
                  "--config) or DB TRIAL; IMAGES an IDX file, a CIFAR-10 .bin or a PNG directory")
      ->required()
      ->expected(2, 3);
  app->add_option("--config", args->config, "Study config (YAML) of a checkpoint");
  app->add_flag("--logits", args->logits,
                "Print the logits (integer models: dequantized) besides the class");
  app->add_flag("--codes", args->codes,
                "Integer models: print the uint8 logits (implies --logits)");
  app->add_option("--limit", args->limit, "Only the first N images (0 = all)")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--batch", args->batch, "Images per batch")->check(CLI::Range(1, 65536));
  AddFormatOption(app, args->format);
  return {
      app, [args]() {
        const Format format = ParseFormat(args->format);
        const std::string images = args->positional.back();
        const std::vector<std::string> model(args->positional.begin(), args->positional.end() - 1);
        const bool integer = model.size() == 1 && fs::is_directory(model[0]);
        Predictions p;
        ImageSet set;
        if (integer) {
          if (!args->config.empty()) {
            throw UsageError("--config is for a checkpoint, not an integer model directory");
          }
          evaluators::ExportInfo info;
          const evaluators::IntegerNet net = evaluators::ReadIntegerNet(model[0], &info);
          const space::Op& first = net.layers().front().op;
          set = ReadImages(images, first.in_c, first.in_h, first.in_w, args->limit);
          p = RunInteger(net, info, set, args->batch);
        } else {
          if (args->codes) throw UsageError("--codes is for integer models");
          ModelSource source = LoadModelSource(model, args->config);
          const space::Op& first = source.loaded.model->plan().ops.front();
          set = ReadImages(images, first.in_c, first.in_h, first.in_w, args->limit);
          p = RunFloat(source, set, args->batch);
        }
        const int64_t n = p.logits.size(0), classes = p.logits.size(1);
        const torch::Tensor predicted = p.logits.argmax(1);
        std::vector<std::string> columns = {"image"};
        if (set.labels.defined()) columns.push_back("label");
        columns.push_back("predicted");
        const bool logits = args->logits || args->codes;
        for (int64_t c = 0; logits && c < classes; ++c) {
          columns.push_back((args->codes ? "code_" : "logit_") + std::to_string(c));
        }
        Table table(columns);
        int64_t correct = 0;
        for (int64_t i = 0; i < n; ++i) {
          std::vector<Table::Cell> row = {set.names[i]};
          if (set.labels.defined()) {
            row.push_back(set.labels[i].item<int64_t>());
            correct += set.labels[i].item<int64_t>() == predicted[i].item<int64_t>();
          }
          row.push_back(predicted[i].item<int64_t>());
          for (int64_t c = 0; logits && c < classes; ++c) {
            if (args->codes) {
              row.push_back(static_cast<int64_t>(p.codes[i][c].item<uint8_t>()));
            } else {
              row.push_back(static_cast<double>(p.logits[i][c].item<float>()));
            }
          }
          table.AddRow(std::move(row));
        }
        if (format == Format::kTable) {
          std::cout << p.what << " on " << n << " images of " << images;
          if (set.labels.defined()) {
            std::cout << ": accuracy " << static_cast<double>(correct) / std::max<int64_t>(n, 1);
          }
          std::cout << "\n";
        }
        table.Print(std::cout, format);
        return 0;
      }};
}

const CommandRegistrar kRegistrar(45, MakePredictCommand);

}  // namespace

}  // namespace fnas::cli
