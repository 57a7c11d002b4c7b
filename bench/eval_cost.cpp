// Benchmark: the cost of a rung's quantized evaluation against the cost of a
// training epoch over the same number of images, per width. Not run in CI.
//
// eval_cost_cpp CONFIG [--widths 0.125,0.25,0.5] [--images N] [--candidate NAME]
//               [--threads T] [--repeats R]
// For each width: the candidate trains 2 epochs on N training images (the
// faster epoch's training pass is the reference), then its quantized
// evaluation (calibration on the config's calibration_samples training
// images, or pruning.calibration_samples when the config sets it, as a rung
// does; fp32 + integer + SQNR on N validation images, every method of
// quantization.record_methods) is timed R times and the fastest is kept.
// Prints the ratio evaluation / epoch (target <= 0.5), what a rung adds to
// its epoch (the evaluation less the validation pass it replaces) and the
// phases.
#include <tbb/global_control.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/train/dataset.h"
#include "evaluators/train/trainer.h"
#include "space/candidate.h"

using namespace fnas;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds of the whole process (user + system): on a shared machine the
// fair measure of single-threaded work.
double CpuNow() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

std::vector<double> ParseList(const std::string& s) {
  std::vector<double> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stod(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CONFIG [--widths 0.125,0.25,0.5] [--images N] [--candidate NAME] "
                 "[--threads T] [--repeats R]\n",
                 argv[0]);
    return 2;
  }
  const std::string config_path = argv[1];
  std::string candidate = "uniform-f2";
  std::vector<double> widths = {0.125, 0.25, 0.5};
  int images = 2000, threads = 1, repeats = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--widths") {
      widths = ParseList(v);
    } else if (k == "--images") {
      images = std::stoi(v);
    } else if (k == "--candidate") {
      candidate = v;
    } else if (k == "--threads") {
      threads = std::stoi(v);
    } else if (k == "--repeats") {
      repeats = std::stoi(v);
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    at::set_num_threads(threads);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    Config base = LoadConfig(config_path);
    // A rung evaluates as the trial's validation at a rung epoch does
    // (search::TrialSpec::ValidationQuantOptions): pruning.evaluation and
    // pruning.calibration_samples, when set, replace the quantization ones.
    if (!base.pruning.evaluation.empty()) base.quantization.mode = base.pruning.evaluation;
    if (base.pruning.calibration_samples > 0) {
      base.quantization.calibration_samples = base.pruning.calibration_samples;
    }
    std::printf(
        "candidate %s, %d training / %d evaluated images, %d calibration images, %d "
        "thread(s); %s path, calibration %s",
        candidate.c_str(), images, images, base.quantization.calibration_samples, threads,
        base.quantization.mode.c_str(), base.quantization.calibration.c_str());
    for (const auto& m : base.quantization.record_methods) std::printf(" +%s", m.c_str());
    std::printf(", SQNR on %d images\n", base.quantization.sqnr_samples);
    // added_s: what a rung adds to its epoch. Its fp32 pass over the
    // validation images also gives the epoch's validation accuracy, so the
    // trainer's own validation pass (val_s, every epoch) is not run then.
    // Wall seconds, then CPU seconds (user + system: the fair figure on a
    // shared machine).
    std::printf("%-6s %8s %8s %8s %8s %6s %6s | %8s %8s %8s %8s %6s %6s  %s\n", "width", "epoch_s",
                "eval_s", "val_s", "added_s", "eval/e", "add/e", "epoch_c", "eval_c", "val_c",
                "added_c", "eval/e", "add/e", "eval phases (wall s)");
    for (double width : widths) {
      Config c = base;
      c.model.width = width;
      c.data.validation = images;
      c.data.train_subset = 2 * images;
      const evaluators::Dataset data = evaluators::LoadDataset(c.data, c.model, c.seed);
      const space::Candidate cand = space::ResolveCandidate(c.macro(), c.candidates(), candidate);
      evaluators::TrainerRunOptions options;
      options.epochs = 2;
      options.eval_batch = c.quantization.eval_batch;
      evaluators::Trainer trainer(c.training, c.model, c.seed, cand, data, options);
      // The training pass of each epoch, in wall and CPU time (the trainer's
      // own validation pass is not part of it).
      double epoch = 1e30, epoch_cpu = 1e30, t0 = Now(), c0 = CpuNow();
      const auto on_batch = [&](const evaluators::BatchProgress& p) {
        if (p.batch + 1 == p.batches) {
          const double scale = static_cast<double>(data.validation.size()) / data.train.size();
          epoch = std::min(epoch, (Now() - t0) * scale);
          epoch_cpu = std::min(epoch_cpu, (CpuNow() - c0) * scale);
        }
      };
      const auto on_epoch = [&](const evaluators::EpochRecord&, space::FactorizeNet&) {
        t0 = Now();
        c0 = CpuNow();
        return true;
      };
      const evaluators::TrainResult result = trainer.Run(on_epoch, on_batch);
      space::FactorizeNet net = result.model;
      const evaluators::Normalization& normalize = data.normalization;
      double best = 1e30, best_cpu = 1e30;
      evaluators::QuantReport report;
      for (int r = 0; r < repeats; ++r) {
        const double t0 = Now(), c0 = CpuNow();
        const evaluators::QuantizedModel model =
            evaluators::QuantizeModel(net, data.train, normalize, c.quantization, c.seed);
        evaluators::QuantReport rep =
            evaluators::Evaluate(model, net, data.validation, normalize, c.quantization);
        const double s = Now() - t0;
        best_cpu = std::min(best_cpu, CpuNow() - c0);
        if (s < best) {
          best = s;
          report = std::move(rep);
        }
      }
      // The trainer's own validation pass over the same images.
      double val = 1e30, val_cpu = 1e30;
      for (int r = 0; r < repeats; ++r) {
        const double t0 = Now(), c0 = CpuNow();
        evaluators::Accuracy(*net, data, data.validation, c.quantization.eval_batch);
        val = std::min(val, Now() - t0);
        val_cpu = std::min(val_cpu, CpuNow() - c0);
      }
      const double added = std::max(0.0, best - val);
      const double added_cpu = std::max(0.0, best_cpu - val_cpu);
      std::string phases;
      for (const auto& p : report.phases) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%s%s %.2f", phases.empty() ? "" : ", ", p.name.c_str(),
                      p.seconds);
        phases += buf;
      }
      std::printf(
          "%-6g %8.2f %8.2f %8.2f %8.2f %6.2f %6.2f | %8.2f %8.2f %8.2f %8.2f %6.2f %6.2f  %s\n",
          width, epoch, best, val, added, best / epoch, added / epoch, epoch_cpu, best_cpu, val_cpu,
          added_cpu, best_cpu / epoch_cpu, added_cpu / epoch_cpu, phases.c_str());
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eval_cost: %s\n", e.what());
    return 1;
  }
  return 0;
}
