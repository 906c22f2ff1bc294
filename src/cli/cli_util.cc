#include "cli/cli_util.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"

namespace castor::cli {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "castor: %s\n", std::string(s.message()).c_str());
  return 1;
}

std::string HumanBytes(uint64_t n) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return absl::StrCat(n, " B");
  double v = n;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", v, kUnits[u]);
}

std::string DescribeNode(const castore::Node& node) {
  return std::visit(
      [](const auto& n) -> std::string {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, castore::DirectoryNode>) {
          return absl::StrCat("directory ", n.digest.ToB3(), " ", n.size, " entries");
        } else if constexpr (std::is_same_v<T, castore::FileNode>) {
          return absl::StrCat(n.executable ? "executable " : "", "file ", n.digest.ToB3(), " ",
                              n.size, " bytes");
        } else {
          return absl::StrCat("symlink -> ", castore::QuoteName(n.target.str()));
        }
      },
      node);
}

std::string StoreDir(const StoreFlags& flags) {
  return flags.store.empty() ? castore::DefaultStoreDir() : flags.store;
}

bool UsesLocalStore(const StoreFlags& flags) {
  castore::StoreAddresses a = flags.Addresses();
  auto local = [](const std::string& addr) {
    return absl::StartsWith(addr, "file://") || absl::StartsWith(addr, "lmdb://");
  };
  return local(a.blob) || local(a.directory) || local(a.root);
}

absl::StatusOr<std::unique_ptr<castore::StoreLock>> LockStore(const StoreFlags& flags,
                                                              castore::StoreLock::Mode mode) {
  if (!UsesLocalStore(flags)) return std::unique_ptr<castore::StoreLock>();
  std::string dir = StoreDir(flags);
  return castore::StoreLock::Acquire(dir, mode, [&] {
    std::fprintf(stderr, "castor: waiting for %s on %s to finish...\n",
                 mode == castore::StoreLock::Mode::kShared ? "a running gc" : "running imports",
                 dir.c_str());
  });
}

absl::StatusOr<std::unique_ptr<castore::ServeLock>> LockServing(
    const StoreFlags& flags, const std::string& program,
    const std::function<absl::Status(const castore::ServeLock::Holder& daemon)>& on_daemon) {
  if (!UsesLocalStore(flags)) return std::unique_ptr<castore::ServeLock>();
  std::string dir = StoreDir(flags);
  castore::ServeLock::Holder me{.program = program, .pid = ::getpid()};
  castore::ServeLock::Holder holder;
  ASSIGN_OR_RETURN(auto lock, castore::ServeLock::TryAcquire(dir, me, &holder));
  if (lock != nullptr) return lock;
  if (holder.program == kDaemonProgram) RETURN_IF_ERROR(on_daemon(holder));
  std::fprintf(stderr, "castor: waiting for %s on %s to %s...\n", holder.Describe().c_str(),
               dir.c_str(), holder.program == kDaemonProgram ? "exit" : "finish");
  return castore::ServeLock::Acquire(dir, me);
}

}  // namespace castor::cli
