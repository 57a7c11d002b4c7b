#include "common/crashpoint.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace fnas {

namespace {

struct Target {
  const char* name = std::getenv("FNAS_CRASH_AT");
  long after = [] {
    const char* n = std::getenv("FNAS_CRASH_AFTER");
    const long v = n ? std::strtol(n, nullptr, 10) : 1;
    return v > 0 ? v : 1;
  }();
  std::atomic<long> hits{0};
};

}  // namespace

void CrashPoint(const char* name) {
  static Target target;
  if (target.name == nullptr || std::strcmp(target.name, name) != 0) return;
  if (target.hits.fetch_add(1) + 1 == target.after) ::kill(::getpid(), SIGKILL);
}

}  // namespace fnas
