#include "common/allocator.h"

#include <malloc.h>

#include <climits>
#include <cstdlib>
#include <cstring>

namespace {

bool tuned = false;

// Runs during static initialization; common/CMakeLists.txt makes every binary
// that links fnas_common pull this object in.
const bool kApplied = [] {
  const char* env = std::getenv("FNAS_MALLOC");
  if (env != nullptr && std::strcmp(env, "default") == 0) return false;
  tuned = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return tuned;
}();

}  // namespace

extern "C" int fnas_allocator_anchor() { return kApplied ? 1 : 0; }

namespace fnas {

bool AllocatorTuned() { return tuned; }

}  // namespace fnas
