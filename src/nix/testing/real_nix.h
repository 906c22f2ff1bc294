// For tests that run the real Nix (Debian nix-bin, single-user as root):
// finds its binaries and gives them a configuration that works without the
// nixbld group, daemon or network, and without touching the user's caches.
// Header-only, for tests; thread-compatible.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "castore/testing/subprocess.h"

namespace castor::nix::testing {

class RealNix {
 public:
  // The directory holding nix-store and nix, from PATH; "" when Nix is not
  // installed.
  static std::string BinDir() {
    const char* path = std::getenv("PATH");
    for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin", ':')) {
      std::string d(dir);
      if (access((d + "/nix-store").c_str(), X_OK) == 0 &&
          access((d + "/nix").c_str(), X_OK) == 0) {
        return d;
      }
    }
    return "";
  }

  static constexpr const char* kSkipMessage =
      "nix-store / nix are not installed (scripts/setup.sh installs nix-bin); this test needs "
      "the real Nix";

  // `scratch_dir` holds Nix's caches and the commands' output files.
  RealNix(std::string bin_dir, std::string scratch_dir)
      : bin_dir_(std::move(bin_dir)), scratch_(std::move(scratch_dir)) {
    // No nixbld group here, no substituters (no network), no daemon; the
    // new CLI is experimental in 2.8. The sandbox-free settings only matter
    // to builds, which these tests do not run.
    ::setenv("NIX_CONFIG",
             "build-users-group =\nexperimental-features = nix-command\nsubstituters =\n", 1);
    ::setenv("XDG_CACHE_HOME", (scratch_ + "/xdg-cache").c_str(), 1);
  }

  // Runs `tool` (nix, nix-store, nix-instantiate) with `args`.
  castore::testing::RunResult Run(const std::string& tool, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {bin_dir_ + "/" + tool};
    argv.insert(argv.end(), args.begin(), args.end());
    return castore::testing::Run(argv, absl::StrCat(scratch_, "/run-", runs_++),
                                 std::chrono::seconds(120));
  }

 private:
  std::string bin_dir_;
  std::string scratch_;
  int runs_ = 0;
};

}  // namespace castor::nix::testing
