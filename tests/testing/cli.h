// Test helper: runs the factorize-nas binary as a user would and captures
// its exit code and its stdout+stderr.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <thread>
#include <vector>

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

// Starts factorize-nas with `args` in the background, stdout and stderr to
// the file `log`, with the variables `env` added to its environment; returns
// its pid (see Wait).
inline pid_t Spawn(const std::vector<std::string>& args, const std::string& log,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(FNAS_BINARY));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(FNAS_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for a Spawned process: its exit code, or -signal if a signal killed it.
inline int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// The whole file at `path` ("" when it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `done` every 25 ms until it holds (true) or `timeout` passed (false).
// Generous by default: the machines that run the tests may be loaded.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

inline std::string SourcePath(const std::string& relative) {
  return std::string(FNAS_SOURCE_DIR) + "/" + relative;
}

}  // namespace fnas::testing
