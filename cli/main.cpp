// factorize-nas: thin command-line front end over the libraries.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
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
// OMP_WAIT_POLICY when it is loaded, before main(), so the program re-executes
// itself once with the variable set (a user's own setting is kept).
void EnsurePassiveOpenMpWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);
  // If re-executing fails, go on with the active policy (slower, still correct).
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fnas;
  EnsurePassiveOpenMpWait(argv);
  CLI::App app{
      "factorize-nas: progressive depth factorization search with quint8-aware evaluation.\n"
      "Explores regular -> groupwise separable -> depthwise separable convs of a VGG-like CNN\n"
      "and keeps the Pareto front of MACs vs. quint8 accuracy.",
      "factorize-nas"};
  app.set_version_flag("--version", std::string("factorize-nas ") + FNAS_VERSION);
  app.require_subcommand(1);
  auto factories = cli::CommandFactories();
  std::stable_sort(factories.begin(), factories.end(),
                   [](const auto& a, const auto& b) { return a.order < b.order; });
  std::vector<cli::Command> commands;
  for (const auto& f : factories) commands.push_back(f.factory(app));

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
      std::cerr << "factorize-nas " << cmd.app->get_name() << ": error: " << e.what() << "\n";
      return e.exit_code();
    } catch (const std::exception& e) {
      std::cerr << "factorize-nas " << cmd.app->get_name() << ": error: " << e.what() << "\n";
      return kExitRuntime;
    }
  }
  return kExitBadInput;
}
