// libFuzzer target: the checkpoint loader (evaluators/train/checkpoint.h).
// Any file must load or be refused with fnas::DataError naming it; any other
// exception, a crash or a sanitizer report is a bug. The seed is a real
// checkpoint of a tiny network, written by SaveCheckpoint at start-up.
// Build and run: scripts/fuzz.sh checkpoint (docs/reliability.md).
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
#include "evaluators/train/checkpoint.h"
#include "space/candidate.h"
#include "space/macro.h"
#include "space/model.h"
#include "space/plan.h"

namespace {

fnas::space::MacroOptions TinyMacro() {
  fnas::space::MacroOptions m;
  m.in_channels = 1;
  m.in_height = 8;
  m.in_width = 8;
  m.width = 0.0625;
  m.classes = 3;
  m.stages = {{1, 1}};
  m.dense = {4};
  return m;
}

std::string g_dir;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/fnas-fuzz-ckpt-XXXXXX";
  const char* d = mkdtemp(tmpl);
  if (!d) std::abort();
  g_dir = d;
  // A seed for the corpus: a real checkpoint (format 2, with its checksum).
  if (const char* seed_dir = std::getenv("FNAS_FUZZ_SEED_DIR")) {
    const fnas::space::Macro macro(TinyMacro());
    const fnas::space::Candidate c =
        fnas::space::MakeCandidate(macro, fnas::space::Factorization(macro.num_layers(), 1));
    fnas::space::FactorizeNet net(fnas::space::BuildPlan(macro, c.f));
    fnas::evaluators::TrainingState s;
    s.candidate_key = c.key;
    s.epoch = 1;
    fnas::evaluators::SaveCheckpoint(std::string(seed_dir) + "/seed.pt", *net, s);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = g_dir + "/fuzz.pt";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    static const fnas::space::Macro macro(TinyMacro());
    (void)fnas::evaluators::LoadModelCheckpoint(path, macro);
  } catch (const fnas::DataError& e) {
    if (std::string(e.what()).rfind(path, 0) != 0) {
      std::fprintf(stderr, "checkpoint error without the path: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint loader raised a non-DataError: %s\n", e.what());
    std::abort();
  }
  return 0;
}
