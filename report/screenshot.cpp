#include "report/screenshot.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/error.h"

namespace fnas::report {

namespace fs = std::filesystem;

std::string FindChromium() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::vector<std::string> folders;
  for (std::string d; std::getline(dirs, d, ':');) folders.push_back(d.empty() ? "." : d);
  for (const char* name : {"chromium", "chromium-browser"}) {
    for (const auto& d : folders) {
      const fs::path p = fs::path(d) / name;
      if (access(p.c_str(), X_OK) == 0) return p.string();
    }
  }
  return "";
}

void Screenshot(const std::string& html_path, const std::string& png_path, int width, int height,
                int timeout_s) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    throw RuntimeError(
        "--screenshot needs Debian's chromium on PATH: apt-get install chromium "
        "(scripts/install-deps.sh installs it)");
  }
  std::error_code ec;
  const fs::path html = fs::absolute(html_path, ec);
  const fs::path png = fs::absolute(png_path, ec);
  if (png.has_parent_path()) fs::create_directories(png.parent_path(), ec);
  char profile_template[] = "/tmp/fnas-chromium-XXXXXX";
  const char* profile = mkdtemp(profile_template);
  if (!profile) throw RuntimeError("cannot create a temporary chromium profile under /tmp");
  const fs::path log = fs::path(profile) / "chromium.log";
  fs::remove(png, ec);

  std::vector<std::string> args = {
      chromium,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--hide-scrollbars",
      "--user-data-dir=" + std::string(profile),
      "--window-size=" + std::to_string(width) + "," + std::to_string(height),
      "--screenshot=" + png.string(),
      "file://" + html.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) throw RuntimeError("cannot start " + chromium);
  if (pid == 0) {
    setpgid(0, 0);  // its own process group: a timeout ends chromium's helpers too
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  bool timed_out = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      timed_out = false;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::ifstream in(log);
  std::stringstream out;
  out << in.rdbuf();
  fs::remove_all(profile, ec);
  if (timed_out) {
    throw RuntimeError(chromium + " took longer than " + std::to_string(timeout_s) +
                       " s to screenshot " + html.string());
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(png)) {
    std::string tail = out.str();
    if (tail.size() > 1500) tail = "..." + tail.substr(tail.size() - 1500);
    throw RuntimeError(chromium + " could not screenshot " + html.string() + " to " + png.string() +
                       ":\n" + tail);
  }
}

}  // namespace fnas::report
