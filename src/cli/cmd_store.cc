// Store commands: roots (more arrive with the CLI issue).
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"
#include "cli/commands.h"
#include "cli/store_flags.h"

namespace castor::cli {
namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "castor: %s\n", std::string(s.message()).c_str());
  return 1;
}

std::string Describe(const castore::Node& node) {
  return std::visit(
      [](const auto& n) -> std::string {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, castore::DirectoryNode>) {
          return absl::StrCat("directory ", n.digest.ToB3(), " ", n.size, " entries");
        } else if constexpr (std::is_same_v<T, castore::FileNode>) {
          return absl::StrCat(n.executable ? "executable " : "", "file ", n.digest.ToB3(), " ",
                              n.size, " bytes");
        } else {
          return absl::StrCat("symlink -> ", n.target.str());
        }
      },
      node);
}

}  // namespace

void AddStoreCommands(CLI::App& app) {
  auto flags = std::make_shared<StoreFlags>();
  CLI::App* roots = app.add_subcommand("roots", "List the named roots: name, kind, digest, size");
  flags->AddTo(*roots);
  SetRunner(roots, [flags] {
    auto services = flags->Open();
    if (!services.ok()) return Fail(services.status());
    absl::Status s = services->roots->List([](const castore::Entry& e) {
      std::printf("%s\t%s\n", e.name.str().c_str(), Describe(e.node).c_str());
      return absl::OkStatus();
    });
    if (!s.ok()) return Fail(s);
    return 0;
  });
}

}  // namespace castor::cli
