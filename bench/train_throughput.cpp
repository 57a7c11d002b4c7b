// Training throughput of factorize-nas for bench/train_throughput: images/s
// of full training epochs (data loading, augmentation, forward, backward,
// step: the Trainer as `train` runs it) and of the bare training step on a
// batch held in memory, and the process's peak resident memory. Writes the
// network, data and recipe as JSON (--spec) so that the PyTorch baseline
// builds the same thing. Prints one JSON object.
#include <sys/resource.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "evaluators/train/augment.h"
#include "evaluators/train/dataset.h"
#include "evaluators/train/trainer.h"
#include "space/plan.h"

using namespace fnas;
using json = nlohmann::json;

namespace {

json Spec(const Config& c, const space::Plan& plan, const evaluators::Dataset& d, int images) {
  json ops = json::array();
  for (const auto& op : plan.ops) {
    json o;
    switch (op.kind) {
      case space::Op::Kind::kConv:
        o = {{"kind", "conv"}, {"in", op.in_c},       {"out", op.out_c}, {"k", op.kernel},
             {"pad", op.pad},  {"groups", op.groups}, {"relu", op.relu}};
        break;
      case space::Op::Kind::kMaxPool:
        o = {{"kind", "maxpool"}, {"k", op.kernel}};
        break;
      case space::Op::Kind::kFlatten:
        o = {{"kind", "flatten"}};
        break;
      case space::Op::Kind::kDense:
        o = {{"kind", "dense"}, {"in", op.in_c}, {"out", op.out_c}, {"relu", op.relu}};
        break;
    }
    ops.push_back(o);
  }
  const auto& t = c.training;
  const auto& a = t.augment;
  return {{"ops", ops},
          {"bn_eps", c.model.bn_eps},
          {"bn_momentum", c.model.bn_momentum},
          {"dataset", d.name},
          {"data_dir", evaluators::DatasetDirectory(c.data)},
          {"images", images},
          // Per channel; none when normalization is off (then 0 and 1).
          {"mean", d.normalization.mean.empty() ? std::vector<float>(d.channels, 0.0f)
                                                : d.normalization.mean},
          {"std", d.normalization.std.empty() ? std::vector<float>(d.channels, 1.0f)
                                              : d.normalization.std},
          {"batch_size", t.batch_size},
          {"lr", t.lr},
          {"momentum", t.momentum},
          {"weight_decay", t.weight_decay},
          {"augment",
           {{"enabled", a.enabled},
            {"shift", a.shift},
            {"zoom", a.zoom},
            {"rotation", a.rotation},
            {"hflip", a.hflip},
            {"vflip", a.vflip}}}};
}

double PeakRssMb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // kB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"factorize-nas training throughput (see bench/train_throughput)"};
  std::string config_path = "bench/train_throughput.yaml", candidate = "regular", spec_path;
  int images = 10000, threads = 1, epochs = 2, steps = 100;
  app.add_option("--config", config_path)->capture_default_str();
  app.add_option("--candidate", candidate)->capture_default_str();
  app.add_option("--images", images, "Training images per epoch")->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--epochs", epochs, "Epochs timed (the best is reported)")->capture_default_str();
  app.add_option("--steps", steps, "Bare steps per round (best of 3 rounds)")
      ->capture_default_str();
  app.add_option("--spec", spec_path, "Write the network/data/recipe JSON here");
  bool fused_bn_relu = true;
  app.add_option("--fused-bn-relu", fused_bn_relu,
                 "Fused BatchNorm+ReLU kernel in training (0: LibTorch's batch_norm and relu)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    at::set_num_threads(threads);
    Config config = LoadConfig(config_path);
    config.data.train_subset = images;
    config.data.validation = 0;  // the epochs time training only, as the baseline does
    const space::Candidate cand =
        space::ResolveCandidate(config.macro(), config.candidates(), candidate);
    const evaluators::Dataset data = LoadDataset(config.data, config.model, config.seed);
    evaluators::TrainerRunOptions options;
    options.epochs = epochs;
    evaluators::Trainer trainer(config.training, config.model, config.seed, cand, data, options);
    trainer.model()->set_fused_bn_relu(fused_bn_relu);
    if (!spec_path.empty()) {
      std::ofstream(spec_path) << Spec(config, trainer.model()->plan(), data, images).dump(1);
    }

    // Full epochs, as `train` runs them.
    const evaluators::TrainResult r = trainer.Run();
    double epoch_ips = 0;
    for (const auto& rec : r.records) epoch_ips = std::max(epoch_ips, rec.images_per_s);

    // The bare step: one augmented, normalized batch held in memory.
    const int64_t bs = config.training.batch_size;
    at::Generator gen = at::detail::createCPUGenerator(1);
    const torch::Tensor x = evaluators::Augment(
        data.normalization(data.train.images.slice(0, 0, bs)), config.training.augment, gen);
    const torch::Tensor y = data.train.labels.slice(0, 0, bs);
    for (int i = 0; i < 5; ++i) trainer.TrainStep(x, y, 1e-4);
    // Best of 3 rounds of `steps` steps (the machine may be shared).
    double s = 1e30;
    for (int round = 0; round < 3; ++round) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) trainer.TrainStep(x, y, 1e-4);
      s = std::min(s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }

    json out = {{"impl", "factorize-nas"},         {"threads", at::get_num_threads()},
                {"epoch_images_per_s", epoch_ips}, {"step_images_per_s", steps * bs / s},
                {"peak_rss_mb", PeakRssMb()},      {"status", evaluators::StatusName(r.status)},
                {"fused_bn_relu", fused_bn_relu}};
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "train_throughput_cpp: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
