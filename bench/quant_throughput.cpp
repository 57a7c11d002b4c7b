// Benchmark: images/s of the quint8 integer inference vs. fp32 LibTorch
// inference of the same net, same batch and threads, side by side; and the
// time of a whole quantize-and-evaluate (calibration, integer net, metrics,
// layerwise statistics) on the test split. Not run in CI.
//
// quant_throughput_cpp CONFIG [--checkpoint CKPT] [--candidate NAME] [--batch B]
//                  [--threads T] [--seconds S] [--portable 0|1]
// Each inference is timed in 5 alternating rounds of seconds / 5 and keeps
// its best round. Without a checkpoint the candidate's net is freshly initialized (the
// arithmetic is the same; the accuracies are then meaningless).
#include <tbb/global_control.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/train/checkpoint.h"
#include "evaluators/train/dataset.h"
#include "space/candidate.h"

using namespace fnas;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Mean seconds per call of `f` (one batch) over `seconds` (at least 3 calls).
template <typename F>
double TimeIt(F&& f, double seconds) {
  int n = 0;
  const double start = Now();
  double now = start;
  while (n < 3 || now - start < seconds) {
    f();
    ++n;
    now = Now();
  }
  return (now - start) / n;
}

// The machine may be shared: the candidates are timed in alternation over
// several rounds and each keeps its best round.
std::vector<double> BestOfRounds(const std::vector<std::function<void()>>& fs, double seconds) {
  const int rounds = 5;
  std::vector<double> best(fs.size(), 1e30);
  for (const auto& f : fs) f();  // warm-up
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < fs.size(); ++i) {
      best[i] = std::min(best[i], TimeIt(fs[i], seconds / rounds));
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CONFIG [--checkpoint CKPT] [--candidate NAME] [--batch B] "
                 "[--threads T] [--seconds S]\n",
                 argv[0]);
    return 2;
  }
  std::string config_path = argv[1], checkpoint, candidate = "regular";
  int batch = 64, threads = 1;
  double seconds = 3;
  bool time_portable = true;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--checkpoint")
      checkpoint = v;
    else if (k == "--candidate")
      candidate = v;
    else if (k == "--batch")
      batch = std::stoi(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--seconds")
      seconds = std::stod(v);
    else if (k == "--portable")
      time_portable = v != "0";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    const Config config = LoadConfig(config_path);
    const space::Macro macro = config.macro();
    at::set_num_threads(threads);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    space::FactorizeNet net{nullptr};
    std::string name;
    if (!checkpoint.empty()) {
      auto loaded = evaluators::LoadModelCheckpoint(checkpoint, macro);
      net = loaded.model;
      name = loaded.candidate.name;
    } else {
      const space::Candidate c = space::ResolveCandidate(macro, config.candidates(), candidate);
      torch::manual_seed(config.seed);
      net = space::FactorizeNet(space::BuildPlan(macro, c.f));
      name = c.name + " (untrained)";
    }
    net->eval();
    const evaluators::Dataset data =
        evaluators::LoadDataset(config.data, config.model, config.seed);
    const evaluators::Normalization& normalize = data.normalization;

    // Whole quantize-and-evaluate on the test split.
    const double t0 = Now();
    const evaluators::QuantizedModel model =
        evaluators::QuantizeModel(net, data.train, normalize, config.quantization, config.seed);
    const double t1 = Now();
    const evaluators::QuantReport report =
        evaluators::Evaluate(model, net, data.test, normalize, config.quantization);
    const double t2 = Now();

    // Throughput on one batch of test images.
    const int64_t b = std::min<int64_t>(batch, data.test.size());
    const torch::Tensor x = normalize(data.test.images.slice(0, 0, b)).contiguous();
    torch::NoGradGuard no_grad;
    evaluators::IntegerNet portable = model.net;
    portable.set_portable(true);
    std::vector<std::function<void()>> runs = {[&] { net->forward(x); },
                                               [&] {
                                                 const auto xq = model.net.QuantizeInput(
                                                     x.data_ptr<float>(), b);
                                                 model.net.Run(xq.data(), b);
                                               }};
    if (time_portable) {
      runs.push_back([&] {
        const auto xq = portable.QuantizeInput(x.data_ptr<float>(), b);
        portable.Run(xq.data(), b);
      });
    }
    const std::vector<double> t = BestOfRounds(runs, seconds);
    const double fp32 = t[0], integer = t[1], port = time_portable ? t[2] : 0;

    const space::Plan& plan = net->plan();
    std::printf(
        "net: %s, %s %dx%dx%d, %.1f M conv MACs/image; batch %lld, %d thread(s); "
        "VNNI kernel: %s\n",
        name.c_str(), data.name.c_str(), data.channels, data.height, data.width,
        plan.macs_conv / 1e6, static_cast<long long>(b), threads,
        model.net.uses_vnni() ? "yes" : "no");
    std::printf("%-28s %12s %10s\n", "inference", "images/s", "vs fp32");
    std::printf("%-28s %12.0f %10.2f\n", "fp32 LibTorch", b / fp32, 1.0);
    std::printf("%-28s %12.0f %10.2f\n", "quint8 integer (VNNI)", b / integer, fp32 / integer);
    if (time_portable) {
      std::printf("%-28s %12.0f %10.2f\n", "quint8 integer (portable)", b / port, fp32 / port);
    }
    std::printf(
        "quantize (fold + calibrate %lld images + build): %.2f s; evaluate %lld test "
        "images (%s path, fp32 + quint8 + SQNR): %.2f s; total %.2f s\n",
        static_cast<long long>(model.calibration.samples), t1 - t0,
        static_cast<long long>(report.metrics.images), config.quantization.mode.c_str(), t2 - t1,
        t2 - t0);
    std::printf("acc_fp32 %.4f  acc_quint8 %.4f  rel_decrease %.2f%%\n", report.metrics.acc_fp32,
                report.metrics.acc_q, report.metrics.rel_decrease);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quant_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
