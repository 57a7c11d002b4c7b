// The project's one small error hierarchy. The CLI maps each kind to an exit
// code (see ExitCode); core code throws these and never calls exit().
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace fnas {

// Exit codes of the command-line program.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,   // a runtime failure (I/O, training, store)
  kExitBadInput = 2,  // bad usage, config or input data
  kExitInterrupted = 130,
};

// Base of every error the project throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual int exit_code() const { return kExitRuntime; }
};

// A bad config: the message names the key, the value and file:line.
class ConfigError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitBadInput; }
};

// Missing or corrupt data: the message names the path and what was expected.
class DataError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitBadInput; }
};

// The SQLite store refused or failed (foreign schema, locked, I/O).
class StoreError : public Error {
 public:
  using Error::Error;
};

// Anything else that went wrong while running (training diverged, I/O).
class RuntimeError : public Error {
 public:
  using Error::Error;
};

// The environment failed, not the input or the candidate: a full disk, an I/O
// error, a folder made read-only or removed, memory exhausted. Transient by
// nature: a search records the trial INTERRUPTED (resume retries it) instead
// of FAILED, and starts no new trial (docs/reliability.md).
class EnvironmentError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

// Bad command-line usage (unknown candidate, bad format name, ...).
class UsageError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitBadInput; }
};

// Whether `e` is a failure of the environment rather than of the input or the
// candidate: an EnvironmentError, std::bad_alloc, a std::system_error of the
// file system (ENOSPC, EDQUOT, EIO, EROFS, ENOMEM, ...), or a library's error
// whose message says so (LibTorch's "can't allocate memory", "out of memory",
// "No space left on device", ...). common/error.cpp; tested in
// tests/common/error_test.cpp.
bool IsEnvironmentFailure(const std::exception& e);

}  // namespace fnas
