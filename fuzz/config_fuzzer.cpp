// libFuzzer target: the YAML config loader (config::ParseConfig). Any input
// must either parse or throw fnas::ConfigError (a message naming key, value and
// file:line); any other exception, a crash or a sanitizer report is a bug.
// Build and run: scripts/fuzz.sh config (docs/reliability.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "common/error.h"
#include "config/config.h"
#include "space/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const fnas::Config config = fnas::ParseConfig(text, "fuzz.yaml");
    // What `factorize-nas space` does with it: every candidate's plan.
    const fnas::space::Macro macro = config.macro();
    int planned = 0;
    for (const auto& c : config.candidates()) {
      if (++planned > 64) break;
      (void)fnas::space::BuildPlan(macro, c.f);
    }
  } catch (const fnas::ConfigError& e) {
    const std::string what = e.what();
    if (what.rfind("fuzz.yaml", 0) != 0) {
      std::fprintf(stderr, "config error without the file name: %s\n", e.what());
      std::abort();
    }
  } catch (const fnas::Error& e) {
    if (e.exit_code() != fnas::kExitBadInput) {
      std::fprintf(stderr, "a valid config's candidate failed at run time: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "config input raised a non-ConfigError: %s\n", e.what());
    std::abort();
  }
  return 0;
}
