// factorize-nas: thin command-line front end over the libraries. Compiled
// twice (cli/CMakeLists.txt): factorize-nas-engine, every command; and with
// FNAS_FRONT, factorize-nas, the program users run, without LibTorch.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli/command.h"
#include "common/error.h"

#ifndef FNAS_VERSION
#define FNAS_VERSION "unknown"
#endif

namespace fnas::cli {

std::vector<RegisteredCommand>& CommandFactories() {
  static std::vector<RegisteredCommand> factories;
  return factories;
}

void AddFormatOption(CLI::App* app, std::string& format) {
  app->add_option("--format", format, "Output format: table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
}

void AddCheckpointArgs(CLI::App* app, std::string& checkpoint, std::string& config) {
  app->add_option("checkpoint", checkpoint, "Checkpoint (.ckpt) of a trained candidate")
      ->required();
  app->add_option("--config", config, "Study config (YAML) the candidate was trained with")
      ->required();
}

}  // namespace fnas::cli

namespace {

// LibTorch's OpenMP threads spin while they wait, and then fight oneTBB's
// workers (integer inference, parallel trials) for the cores: measured here,
// fp32 inference fell from ~6000 to ~130 images/s at 2 threads. libgomp reads
// OMP_WAIT_POLICY when it is loaded, before main(), so the variable must be
// set before the program that loads LibTorch starts (a user's own setting is
// kept). Returns whether it was set here.
bool SetPassiveOpenMpWait() {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return false;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  return true;
}

// A library's message without the C++ stack trace LibTorch appends to it.
std::string WithoutBacktrace(const std::string& what) {
  const size_t at = what.find("\nException raised from ");
  return at == std::string::npos ? what : what.substr(0, at);
}

#ifdef FNAS_FRONT
// The commands of the engine program, "name" and "description" (generated at
// build time from the engine itself: see cli/CMakeLists.txt).
struct EngineCommand {
  int order;  // as registered (the order of --help)
  const char* name;
  const char* description;
};
constexpr EngineCommand kEngineCommands[] = {
#include "engine_commands.inc"
};

// The program users run starts without LibTorch (whose libraries take ~1 s
// to load and initialize): it answers --help, --version and the commands
// compiled into it (queries, `space`), and hands every other command to
// factorize-nas-engine, beside it, by exec (same pid, signals and exit code).
[[noreturn]] void RunInEngine(char** argv) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string engine = "factorize-nas-engine";
  if (n > 0) {
    self[n] = '\0';
    const std::string dir(self);
    engine = dir.substr(0, dir.rfind('/') + 1) + engine;
  }
  SetPassiveOpenMpWait();
  execv(engine.c_str(), argv);
  std::cerr << "factorize-nas: error: cannot start " << engine << " (" << std::strerror(errno)
            << "); it runs the commands that train and is installed beside factorize-nas\n";
  std::exit(fnas::kExitRuntime);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace fnas;
#ifndef FNAS_FRONT
  // Re-executed once with the variable set (not needed when the front program
  // started this one: it sets it).
  if (SetPassiveOpenMpWait()) execv("/proc/self/exe", argv);
    // If re-executing fails, go on with the active policy (slower, still correct).
#endif
  CLI::App app{
      "factorize-nas: progressive depth factorization search with quint8-aware evaluation.\n"
      "Explores regular -> groupwise separable -> depthwise separable convs of a VGG-like CNN\n"
      "and keeps the Pareto front of MACs vs. quint8 accuracy.",
      "factorize-nas"};
  app.set_version_flag("--version", std::string("factorize-nas ") + FNAS_VERSION);
  app.require_subcommand(1);
  auto factories = cli::CommandFactories();
#ifdef FNAS_FRONT
  // The engine's other commands are listed by --help (never parsed here).
  for (const auto& c : kEngineCommands) {
    const bool here = std::any_of(factories.begin(), factories.end(),
                                  [&c](const auto& f) { return f.order == c.order; });
    if (!here) {
      factories.push_back({c.order, [&c](CLI::App& root) {
                             return cli::Command{root.add_subcommand(c.name, c.description), {}};
                           }});
    }
  }
#endif
  std::stable_sort(factories.begin(), factories.end(),
                   [](const auto& a, const auto& b) { return a.order < b.order; });
  std::vector<cli::Command> commands;
  for (const auto& f : factories) commands.push_back(f.factory(app));
#ifdef FNAS_FRONT
  // The subcommand is the first argument that is not an option (the program
  // has no option that takes a value); the engine runs those not compiled in.
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    for (const auto& cmd : commands) {
      if (!cmd.run && cmd.app->get_name() == argv[i]) RunInEngine(argv);
    }
    break;
  }
#else
  // Build step of the front program: the engine's commands as C++ initializers.
  if (argc == 2 && std::strcmp(argv[1], "--engine-commands") == 0) {
    for (size_t i = 0; i < commands.size(); ++i) {
      const CLI::App* sub = commands[i].app;
      std::cout << "{" << factories[i].order << ", \"" << sub->get_name() << "\", \"";
      for (char ch : sub->get_description()) {
        if (ch == '"' || ch == '\\') std::cout << '\\';
        std::cout << (ch == '\n' ? ' ' : ch);
      }
      std::cout << "\"},\n";
    }
    return kExitOk;
  }
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitBadInput;
  }
  for (const auto& cmd : commands) {
    if (!cmd.app->parsed()) continue;
    try {
      return cmd.run();
    } catch (const Error& e) {
      std::cerr << "factorize-nas " << cmd.app->get_name()
                << ": error: " << WithoutBacktrace(e.what()) << "\n";
      return e.exit_code();
    } catch (const std::exception& e) {
      std::cerr << "factorize-nas " << cmd.app->get_name()
                << ": error: " << WithoutBacktrace(e.what()) << "\n";
      return kExitRuntime;
    }
  }
  return kExitBadInput;
}
