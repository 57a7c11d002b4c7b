// factorize-nas: thin command-line front end over the libraries.
#include <algorithm>
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

}  // namespace fnas::cli

int main(int argc, char** argv) {
  using namespace fnas;
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
