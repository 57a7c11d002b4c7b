// The project's one small error hierarchy. The CLI maps each kind to an exit
// code (see ExitCode); core code throws these and never calls exit().
#pragma once

#include <stdexcept>
#include <string>

namespace fnas {

// Exit codes of the command-line program.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,     // a runtime failure (I/O, training, store)
  kExitBadInput = 2,    // bad usage, config or input data
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

// Bad command-line usage (unknown candidate, bad format name, ...).
class UsageError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitBadInput; }
};

}  // namespace fnas
