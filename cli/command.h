// The command-line program's subcommands. Each cmd_*.cpp registers one
// subcommand on the root CLI11 app and returns the function that runs it;
// main() parses, runs the chosen one and maps errors to exit codes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace fnas::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

using Registry = std::vector<Command>;

void RegisterSpace(CLI::App& root, Registry& commands);

// Adds the common --format option (table|csv|json) to a subcommand.
void AddFormatOption(CLI::App* app, std::string& format);

}  // namespace fnas::cli
