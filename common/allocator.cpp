#include "common/allocator.h"

#include <dlfcn.h>
#include <malloc.h>

#include <climits>
#include <cstdlib>
#include <cstring>

namespace {

// Whether malloc, as every library of the process resolves it, is tcmalloc's.
bool TcmallocServesMalloc() {
  void* tc = dlsym(RTLD_DEFAULT, "tc_malloc");
  return tc != nullptr && dlsym(RTLD_DEFAULT, "malloc") == tc;
}

const char* name = "glibc";

const bool kApplied = [] {
  if (TcmallocServesMalloc()) {
    name = "tcmalloc";
    return true;
  }
  const char* env = std::getenv("FNAS_MALLOC");
  if (env != nullptr && std::strcmp(env, "default") == 0) return false;
  if (mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1) {
    name = "glibc-tuned";
  }
  return true;
}();

}  // namespace

extern "C" int fnas_allocator_anchor() { return kApplied ? 1 : 0; }

namespace fnas {

const char* AllocatorName() { return name; }

}  // namespace fnas
