// Test helper: runs the factorize-nas binary as a user would and captures
// its exit code and its stdout+stderr.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace fnas::testing {

struct CliResult {
  int code = -1;    // exit code, or -1 if killed by a signal
  std::string out;  // stdout and stderr, interleaved
};

// Runs a shell command line; its exit code and its stdout+stderr.
inline CliResult RunShell(const std::string& cmd) {
  CliResult r;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline CliResult RunCli(const std::string& args) {
  return RunShell(std::string(FNAS_BINARY) + " " + args + " </dev/null");
}

inline std::string SourcePath(const std::string& relative) {
  return std::string(FNAS_SOURCE_DIR) + "/" + relative;
}

}  // namespace fnas::testing
