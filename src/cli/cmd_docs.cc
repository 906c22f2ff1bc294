// castor completion SHELL and castor man DIR: hidden commands the build runs
// to generate the shell completions and man pages it installs (cli/docs.h).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>

#include "cli/commands.h"
#include "cli/docs.h"

namespace castor::cli {

void AddDocsCommands(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand("completion", "Print a shell completion script");
  completion->group("");  // hidden: for packagers, not a user's command
  completion->add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  SetRunner(completion, [&app, shell] {
    std::fputs(CompletionScript(app, *shell).c_str(), stdout);
    return 0;
  });

  auto dir = std::make_shared<std::string>();
  CLI::App* man = app.add_subcommand("man", "Write one man page per command into DIR");
  man->group("");
  man->add_option("dir", *dir, "Directory for the pages (created if missing)")->required();
  SetRunner(man, [&app, dir] {
    std::error_code ec;
    std::filesystem::create_directories(*dir, ec);
    if (ec) {
      std::fprintf(stderr, "castor man: cannot create %s: %s\n", dir->c_str(),
                   ec.message().c_str());
      return 1;
    }
    for (const ManPage& page : ManPages(app, "castor " CASTOR_VERSION)) {
      std::filesystem::path path = std::filesystem::path(*dir) / page.file_name;
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << page.roff;
      out.close();
      if (!out) {
        std::fprintf(stderr, "castor man: cannot write %s\n", path.c_str());
        return 1;
      }
    }
    return 0;
  });
}

}  // namespace castor::cli
