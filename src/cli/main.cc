// castor: the command-line entry point. Each subcommand lives in its own
// cmd_*.cc and registers itself here; main only parses and dispatches.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"castor: a content-addressed store for file trees, with a lazy, "
               "read-only filesystem on top"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "castor 0.1.0");
  castor::cli::RegisterCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return castor::cli::RunSelected(app);
}
