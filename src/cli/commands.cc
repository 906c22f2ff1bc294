#include "cli/commands.h"

#include <map>

#include "rpc/register.h"

namespace castor::cli {
namespace {
std::map<const CLI::App*, std::function<int()>>& Runners() {
  static auto* r = new std::map<const CLI::App*, std::function<int()>>;
  return *r;
}
}  // namespace

void SetRunner(CLI::App* sub, std::function<int()> run) { Runners()[sub] = std::move(run); }

void RegisterCommands(CLI::App& app) {
  AddStoreCommands(app);
  AddMountCommand(app);
  AddDaemonCommand(app);
  rpc::RegisterGrpcSchemes();
  AddVirtiofsCommand(app);
}

int RunSelected(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands()) {
    auto it = Runners().find(sub);
    if (it != Runners().end()) return it->second();
  }
  return 2;
}

}  // namespace castor::cli
