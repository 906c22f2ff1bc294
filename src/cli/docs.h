// Shell completions and man pages generated from castor's CLI11 command tree
// (subcommands, options, flags), so they cannot drift from the parser.
// Hidden commands and options (CLI11 group "") are left out. Pure functions
// of the tree; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace castor::cli {

// A completion script for `shell` ("bash", "zsh" or "fish") completing the
// program `app.get_name()`; empty for any other shell.
std::string CompletionScript(const CLI::App& app, const std::string& shell);

struct ManPage {
  std::string file_name;  // "castor.1", "castor-nix-dump.1"
  std::string roff;       // the page, in man(7) macros
};

// One page per visible command, the root included. `version` goes in the
// footer ("castor 0.1.0").
std::vector<ManPage> ManPages(const CLI::App& app, const std::string& version);

}  // namespace castor::cli
