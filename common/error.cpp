#include "common/error.h"

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

namespace fnas {

namespace {

bool EnvironmentErrno(int e) {
  switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EROFS:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EFBIG:
    case ESTALE:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool IsEnvironmentFailure(const std::exception& e) {
  if (dynamic_cast<const EnvironmentError*>(&e)) return true;
  if (const auto* error = dynamic_cast<const Error*>(&e)) {
    if (error->exit_code() == kExitBadInput) return false;  // the input's fault
  }
  if (dynamic_cast<const std::bad_alloc*>(&e)) return true;
  if (const auto* s = dynamic_cast<const std::system_error*>(&e)) {
    if (s->code().category() == std::generic_category() ||
        s->code().category() == std::system_category()) {
      return EnvironmentErrno(s->code().value());
    }
  }
  // Libraries that report errno or allocation failures only in their text
  // (LibTorch's allocators and serializers, SQLiteCpp).
  const std::string what = e.what();
  for (const char* text : {"out of memory", "can't allocate memory", "Cannot allocate memory",
                           "No space left on device", "Disk quota exceeded", "Input/output error",
                           "Read-only file system", "File too large", "database or disk is full"}) {
    if (what.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace fnas
