#include "cli/commands.h"

#include <map>

namespace castor::cli {
namespace {
struct Runner {
  std::function<int()> run;
  Signals signals = Signals::kDefault;
};
std::map<const CLI::App*, Runner>& Runners() {
  static auto* r = new std::map<const CLI::App*, Runner>;
  return *r;
}
}  // namespace

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void SetRunner(CLI::App* sub, std::function<int()> run) {
  SetRunner(sub, Signals::kDefault, std::move(run));
}

void SetRunner(CLI::App* sub, Signals signals, std::function<int()> run) {
  Runners()[sub] = Runner{std::move(run), signals};
}

void RegisterCommands(CLI::App& app) {
  AddStoreCommands(app);
  AddMountCommand(app);
  AddDaemonCommand(app);
  AddVirtiofsCommand(app);
  AddNixCommands(app);
  AddDocsCommands(app);
}

int RunSelected(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands()) {
    auto it = Runners().find(sub);
    // A command group (castor nix): its selected subcommand runs.
    if (it == Runners().end()) {
      if (sub->get_subcommands().empty()) continue;
      return RunSelected(*sub);
    }
    if (it->second.signals == Signals::kAwaited) {
      // Still the only thread: every later one inherits the mask.
      sigset_t set = TerminationSignals();
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
    }
    return it->second.run();
  }
  return 2;
}

}  // namespace castor::cli
