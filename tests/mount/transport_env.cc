// Linked into every mount test binary that CTest also runs with
// CASTOR_MOUNT_TRANSPORT=uring (tests/mount/CMakeLists.txt). Unset, the
// variable is set to "dev" before the first test, so the plain pass serves
// every mount (in-process and every `castor mount` a test starts) through
// /dev/fuse even where `--transport=auto` would pick io_uring. In the uring
// pass, on a kernel that cannot serve FUSE over io_uring, every test is
// skipped with the reason instead of failing on `castor mount
// --transport=uring`'s refusal.
#include <cstdlib>
#include <string>

#include "fs/transport/fuse_uring.h"
#include "gtest/gtest.h"

namespace {

class UringTransportEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* t = std::getenv("CASTOR_MOUNT_TRANSPORT");
    if (t == nullptr) {
      // Before any test starts a thread.
      setenv("CASTOR_MOUNT_TRANSPORT", "dev", 0);
      return;
    }
    if (std::string(t) != "uring") return;
    absl::Status available = castor::fs::transport::FuseUring::Available();
    if (!available.ok()) {
      GTEST_SKIP() << "CASTOR_MOUNT_TRANSPORT=uring, but " << available.message();
    }
  }
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new UringTransportEnvironment);

}  // namespace
