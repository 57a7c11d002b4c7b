// The command-line program's subcommands. Each cmd_*.cpp defines one
// subcommand and registers it with a static CommandRegistrar, so adding a
// command touches no other file; main() parses, runs the chosen one and maps
// errors to exit codes (common/error.h).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace fnas::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Adds a subcommand to `root` and returns it with the function that runs it.
using CommandFactory = std::function<Command(CLI::App& root)>;

// Registered factories, ordered by `order` (the order of `--help`).
struct RegisteredCommand {
  int order;
  CommandFactory factory;
};
std::vector<RegisteredCommand>& CommandFactories();

struct CommandRegistrar {
  CommandRegistrar(int order, CommandFactory factory) {
    CommandFactories().push_back({order, std::move(factory)});
  }
};

// Adds the common --format option (table|csv|json) to a subcommand.
void AddFormatOption(CLI::App* app, std::string& format);

// Adds the positional CHECKPOINT and the required --config of the commands
// that read a trained candidate (quantize, export).
void AddCheckpointArgs(CLI::App* app, std::string& checkpoint, std::string& config);

}  // namespace fnas::cli
