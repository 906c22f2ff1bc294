#include "cli/cli_util.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "castore/status_macros.h"

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

absl::StatusOr<std::unique_ptr<castore::StoreLock>> LockStore(const StoreFlags& flags,
                                                               castore::StoreLock::Mode mode) {
  castore::StoreAddresses a = flags.Addresses();
  auto local = [](const std::string& addr) {
    return absl::StartsWith(addr, "file://") || absl::StartsWith(addr, "lmdb://");
  };
  if (!local(a.blob) && !local(a.directory) && !local(a.root)) {
    return std::unique_ptr<castore::StoreLock>();
  }
  std::string dir = StoreDir(flags);
  return castore::StoreLock::Acquire(dir, mode, [&] {
    std::fprintf(stderr, "castor: waiting for %s on %s to finish...\n",
                 mode == castore::StoreLock::Mode::kShared ? "a running gc" : "running imports",
                 dir.c_str());
  });
}

}  // namespace castor::cli
