// libFuzzer target: the integer-model reader (evaluators/quant/export.h), as
// `factorize-nas predict` uses it. The input is a manifest.json, read beside
// the weight files of a real exported model (a tiny quantized network built at
// start-up); a manifest that is read must also run on one image. Anything else
// than a model that runs or a DataError naming the manifest (another
// exception, a crash, a sanitizer report) is a bug.
// Build and run: scripts/fuzz.sh integer_model (docs/reliability.md).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "evaluators/quant/analysis.h"
#include "evaluators/quant/export.h"
#include "space/candidate.h"
#include "space/model.h"
#include "space/plan.h"

namespace {

std::string g_dir;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/fnas-fuzz-int-XXXXXX";
  const char* d = mkdtemp(tmpl);
  if (!d) std::abort();
  g_dir = d;
  namespace ev = fnas::evaluators;
  fnas::space::MacroOptions o;
  o.in_channels = 1;
  o.in_height = o.in_width = 8;
  o.width = 0.25;  // channels 2, 4, 4: the last layer can take f = 2
  o.classes = 3;
  o.stem_depth = 8;
  o.stages = {{16, 1}, {16, 1}};
  o.dense = {4};
  const fnas::space::Macro macro(o);
  fnas::space::Factorization f(macro.num_layers(), 1);
  f.back() = 2;  // one grouped layer, so that groups appear in the seed
  fnas::space::FactorizeNet net(fnas::space::BuildPlan(macro, f));
  net->eval();
  ev::Split calibration{torch::randint(0, 256, {16, 1, 8, 8}, torch::kUInt8),
                        torch::randint(0, 3, {16}, torch::kInt64)};
  ev::QuantOptions q;
  q.calibration_samples = 16;
  const ev::QuantizedModel m = ev::QuantizeModel(net, calibration, ev::Normalization{}, q, 1);
  ev::ExportInfo info;
  info.candidate = "seed";
  info.key = fnas::space::JoinFactorization(f);
  info.dataset = "synthetic";
  ev::ExportIntegerNet(m.net, info, g_dir);
  if (const char* seed_dir = std::getenv("FNAS_FUZZ_SEED_DIR")) {
    std::filesystem::copy_file(g_dir + "/manifest.json", std::string(seed_dir) + "/seed.json",
                               std::filesystem::copy_options::overwrite_existing);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string manifest = g_dir + "/manifest.json";
  {
    std::ofstream out(manifest, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const fnas::evaluators::IntegerNet net = fnas::evaluators::ReadIntegerNet(g_dir);
    const auto& first = net.layers().front().op;
    const std::vector<float> x(size_t(first.in_c) * first.in_h * first.in_w, 0.5f);
    const auto xq = net.QuantizeInput(x.data(), 1);
    (void)net.Run(xq.data(), 1);
  } catch (const fnas::DataError& e) {
    if (std::string(e.what()).find(g_dir) == std::string::npos) {
      std::fprintf(stderr, "model error without the path: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "integer-model reader raised a non-DataError: %s\n", e.what());
    std::abort();
  }
  return 0;
}
