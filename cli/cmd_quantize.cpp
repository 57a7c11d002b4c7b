// factorize-nas quantize CHECKPOINT --config CONFIG: quint8 post-training
// quantization of a trained candidate; prints the metrics (under every
// recorded calibration method), the layerwise table and the time of every
// phase from the process start (docs/method.md §6).
#include <tbb/global_control.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "common/error.h"
#include "common/table.h"
#include "config/config.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/train/checkpoint.h"
#include "evaluators/train/dataset.h"

namespace fnas::cli {

namespace {

// Seconds since this process was created (its fork, before the exec and the
// loading of LibTorch), from /proc/self/stat and CLOCK_BOOTTIME; 0 when
// unknown.
double SecondsSinceProcessStart() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  // Field 22 (starttime, clock ticks since boot); fields 3.. follow the ')'.
  for (int i = 3; i <= 22 && fields >> field; ++i) {
  }
  const double ticks = std::strtod(field.c_str(), nullptr);
  timespec now{};
  if (ticks <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0) return 0;
  const double since = now.tv_sec + now.tv_nsec * 1e-9 - ticks / sysconf(_SC_CLK_TCK);
  return since > 0 ? since : 0;
}

// Contiguous phases of the command: each Mark closes the phase since the
// previous one, so the phases sum to the total.
class Timeline {
 public:
  Timeline() : last_(Clock::now()) { phases_.push_back({"startup", SecondsSinceProcessStart()}); }
  double Mark(const std::string& name) {
    const auto now = Clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    phases_.push_back({name, s});
    last_ = now;
    return s;
  }
  void Add(const std::string& name, double seconds) { phases_.push_back({name, seconds}); }
  std::vector<evaluators::Phase>& phases() { return phases_; }
  double total() const {
    double t = 0;
    for (const auto& p : phases_) t += p.seconds;
    return t;
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_;
  std::vector<evaluators::Phase> phases_;
};

Command MakeQuantizeCommand(CLI::App& root) {
  struct Args {
    std::string checkpoint;
    std::string config;
    std::string split = "test";
    std::string format = "table";
    int threads = 0;
    std::string calibration;
    bool fake_agreement = false;
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
  app->add_option("--calibration", args->calibration,
                  "Calibration method instead of the config's quantization.calibration")
      ->check(CLI::IsMember({"minmax", "percentile", "mse", "entropy"}));
  app->add_flag("--fake-agreement", args->fake_agreement,
                "Also run the fake-quant path and report its top-1 agreement with the integer "
                "path");
  AddFormatOption(app, args->format);
  return {app, [args]() {
            Timeline timeline;
            const Format format = ParseFormat(args->format);
            const Config config = LoadConfig(args->config);
            std::unique_ptr<tbb::global_control> limit;
            if (args->threads > 0) {
              at::set_num_threads(args->threads);
              limit = std::make_unique<tbb::global_control>(
                  tbb::global_control::max_allowed_parallelism, args->threads);
            }
            evaluators::QuantOptions q = config.quantization;
            if (!args->calibration.empty()) q.calibration = args->calibration;
            q.fake_agreement = q.fake_agreement || args->fake_agreement;
            timeline.Mark("config");
            const evaluators::Dataset data =
                evaluators::LoadDataset(config.data, config.model, config.seed);
            const evaluators::Split& split = args->split == "val" ? data.validation : data.test;
            if (split.size() == 0) {
              throw UsageError("the " + args->split + " split of " + data.name + " is empty");
            }
            timeline.Mark("dataset");
            evaluators::LoadedModel loaded =
                evaluators::LoadModelCheckpoint(args->checkpoint, config.macro());
            timeline.Mark("checkpoint");
            const evaluators::Normalization& normalize = data.normalization;
            const evaluators::QuantizedModel model =
                evaluators::QuantizeModel(loaded.model, data.train, normalize, q, config.seed);
            const evaluators::QuantReport report =
                evaluators::Evaluate(model, loaded.model, split, normalize, q);
            // The analysis' own phases, and what they leave of its wall time.
            const double analysis = timeline.Mark("analysis");
            timeline.phases().pop_back();
            double inside = 0;
            for (const auto& p : report.phases) {
              timeline.Add(p.name, p.seconds);
              inside += p.seconds;
            }
            timeline.Add("analysis (other)", std::max(0.0, analysis - inside));
            const evaluators::QuantMetrics& m = report.metrics;

            // The names of the layer_stats columns (db/schema.cpp): one vocabulary.
            Table layers({"op", "layer", "w_range", "w_channel_precision", "folded_range",
                          "folded_channel_precision", "act_min", "act_max", "act_range",
                          "act_channel_precision", "sqnr_db"});
            for (const auto& s : report.layers) {
              layers.AddRow({s.op, s.layer, s.weights.range, s.weights.channel_precision,
                             s.folded.range, s.folded.channel_precision, s.activations.min,
                             s.activations.max, s.activations.range,
                             s.activations.channel_precision, s.sqnr_db});
            }
            Table methods({"method", "acc_quint8", "rel_decrease", "qmse", "qce"});
            for (const auto& mm : report.methods) {
              methods.AddRow({mm.method, mm.metrics.acc_q, mm.metrics.rel_decrease, mm.metrics.qmse,
                              mm.metrics.qce});
            }
            const auto& c = loaded.candidate;
            std::ostringstream out;
            const auto phase_table = [&timeline]() {
              Table t({"phase", "seconds"});
              for (const auto& p : timeline.phases()) t.AddRow({p.name, p.seconds});
              t.AddRow({std::string("total (from process start)"), timeline.total()});
              return t;
            };
            if (format == Format::kJson) {
              nlohmann::json j;
              j["candidate"] = c.name;
              j["factorization"] = c.key;
              j["epoch"] = loaded.epoch;
              j["split"] = args->split;
              j["mode"] = q.mode;
              j["calibration"] = report.method;
              j["calibration_samples"] = model.calibration.samples;
              j["percentile"] = q.percentile;
              j["metrics"] = {{"images", m.images},    {"acc_fp32", m.acc_fp32},
                              {"acc_quint8", m.acc_q}, {"rel_decrease", m.rel_decrease},
                              {"qmse", m.qmse},        {"qce", m.qce}};
              if (m.fake_agreement >= 0) {
                j["metrics"]["fake_vs_integer_top1_agreement"] = m.fake_agreement;
              }
              j["methods"] = nlohmann::json::array();
              for (const auto& mm : report.methods) {
                j["methods"].push_back({{"method", mm.method},
                                        {"acc_quint8", mm.metrics.acc_q},
                                        {"rel_decrease", mm.metrics.rel_decrease},
                                        {"qmse", mm.metrics.qmse},
                                        {"qce", mm.metrics.qce}});
              }
              std::ostringstream lj;
              layers.PrintJson(lj);
              j["layers"] = nlohmann::json::parse(lj.str());
              timeline.Mark("output");
              j["phases"] = nlohmann::json::array();
              for (const auto& p : timeline.phases()) {
                j["phases"].push_back({{"name", p.name}, {"seconds", p.seconds}});
              }
              j["seconds_total"] = timeline.total();
              std::cout << j.dump(2) << "\n";
              return 0;
            }
            Table metrics({"metric", "value"});
            metrics.AddRow({std::string("images"), m.images});
            metrics.AddRow({std::string("acc_fp32"), m.acc_fp32});
            metrics.AddRow({std::string("acc_quint8"), m.acc_q});
            metrics.AddRow({std::string("rel_decrease"), m.rel_decrease});
            metrics.AddRow({std::string("qmse"), m.qmse});
            metrics.AddRow({std::string("qce"), m.qce});
            if (m.fake_agreement >= 0) {
              metrics.AddRow({std::string("fake_vs_integer_top1_agreement"), m.fake_agreement});
            }
            if (format == Format::kTable) {
              out << "quantize " << c.name << " (" << c.key << "), epoch " << loaded.epoch << ": "
                  << data.name << " " << args->split << " split; calibration "
                  << model.calibration.samples << " training images, " << report.method;
              if (report.method == "percentile") out << " " << q.percentile << "%";
              out << "; quint8 path: " << q.mode << "\n\n";
            }
            metrics.Print(out, format);
            if (report.methods.size() > 1) {
              out << "\n";
              if (format == Format::kTable) out << "every recorded calibration method:\n";
              methods.Print(out, format);
            }
            out << "\n";
            if (format == Format::kTable) {
              out << "layerwise: ranges and average channel precision of the weights, "
                     "BN-folded weights and calibrated activations; SQNR of the output"
                  << (q.sqnr_samples > 0 && q.sqnr_samples < m.images
                          ? " (first " + std::to_string(q.sqnr_samples) + " images)"
                          : std::string())
                  << "\n";
            }
            layers.Print(out, format);
            out << "\n";
            timeline.Mark("output");
            std::cout << out.str();
            if (format == Format::kTable) {
              std::cout << "time by phase (startup: process start to the command: loading "
                           "LibTorch and the program)\n";
            }
            phase_table().Print(std::cout, format);
            return 0;
          }};
}

const CommandRegistrar kRegistrar(30, MakeQuantizeCommand);

}  // namespace

}  // namespace fnas::cli
