// factorize-nas space CONFIG: list the candidates of the configured paths.
#include <iostream>

#include "cli/command.h"
#include "common/table.h"
#include "config/config.h"
#include "space/plan.h"

namespace fnas::cli {

namespace {

Command MakeSpaceCommand(CLI::App& root) {
  struct Args {
    std::string config;
    std::string format = "table";
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand(
      "space",
      "List every candidate of the configured paths with its exact MACs and parameters "
      "(no training)");
  app->add_option("config", args->config, "Study config (YAML)")->required();
  AddFormatOption(app, args->format);
  return {
      app, [args]() {
        const Config config = LoadConfig(args->config);
        const space::Macro macro = config.macro();
        Table table({"name", "factorization", "macs_conv", "macs_dense", "params", "mmacs_conv"});
        table.set_precision(1);
        for (const auto& c : config.candidates()) {
          const space::Plan plan = space::BuildPlan(macro, c.f);
          table.AddRow(
              {c.name, c.key, plan.macs_conv, plan.macs_dense, plan.params, plan.macs_conv / 1e6});
        }
        const Format format = ParseFormat(args->format);
        if (format == Format::kTable) {
          const auto& m = config.model;
          std::cout << config.name << ": input " << m.in_channels << "x" << m.in_height << "x"
                    << m.in_width << ", width " << m.width << ", " << table.rows().size()
                    << " candidates\n";
        }
        table.Print(std::cout, format);
        return 0;
      }};
}

const CommandRegistrar kRegistrar(10, MakeSpaceCommand);

}  // namespace

}  // namespace fnas::cli
