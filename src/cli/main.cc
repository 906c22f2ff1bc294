// castor: the command-line entry point. Each subcommand lives in its own
// cmd_*.cc and registers itself here; main only parses and dispatches.
#include <sys/resource.h>

#include <cstdio>
#include <exception>
#include <string>

#include "CLI/CLI.hpp"
#include "castore/blake3_impl.h"
#include "cli/commands.h"

namespace {

// Raises the soft open-file limit to the hard one (often 1024 against
// 524288): an import or export holds a descriptor per directory level and
// one per file queued for hashing, and a mount or daemon one per open blob.
void RaiseOpenFileLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);  // best effort: the soft limit stays
  }
}

int Main(int argc, char** argv) {
  RaiseOpenFileLimit();
  // Named, not argv[0]: help, completions and man pages say `castor`.
  CLI::App app{
      "castor: a content-addressed store for file trees, with a lazy, "
      "read-only filesystem on top",
      "castor"};
  app.require_subcommand(1);
  // The BLAKE3 kernel is part of the version: hashing speed, and bug
  // reports, depend on it.
  app.set_version_flag("--version", std::string("castor " CASTOR_VERSION " (") +
                                        castor::castore::Blake3Description() + ")");
  castor::cli::RegisterCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return castor::cli::RunSelected(app);
}

}  // namespace

int main(int argc, char** argv) {
  // Errors are statuses; an exception that gets here (out of memory, a
  // library's) ends castor with its message instead of std::terminate.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "castor: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "castor: unexpected exception\n");
  }
  return 1;
}
