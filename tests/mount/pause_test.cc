// DevFuseSession::Pause / Resume on a real mount in this process (what a
// takeover does to the running mount): while paused, a request the kernel
// gets stays queued — the caller waits, nothing fails — and finished() stays
// false; after Resume the queued request is answered and the mount serves
// and unmounts as usual. Runs under ThreadSanitizer (the workers stop and
// start again).
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "mount_fixture.h"

namespace castor::testing {
namespace {

TEST(PauseTest, RequestsWaitWhilePausedAndAreAnsweredAfterResume) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  castore::Services s = MemoryServices();
  PutRoot(s, "f", PutFile(s, "bytes of f"));
  PutRoot(s, "g", PutFile(s, "bytes of g"));
  // Pausing is for takeovers, which are served through /dev/fuse only.
  auto m = MountedFs::Mount(s, {.threads = 2, .transport = fs::transport::Transport::kDev});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(ReadAll(m->Path("f")).data, "bytes of f");

  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(m->transport().Pause());
    EXPECT_FALSE(m->transport().finished());
    EXPECT_FALSE(m->transport().handed_over());
    std::atomic<bool> done{false};
    std::string got;
    // A name not looked up yet: the kernel must ask the (paused) mount.
    std::string name = round == 0 ? "g" : "f2";
    std::thread reader([&] {
      struct stat st;
      got = ::stat(m->Path(name).c_str(), &st) == 0 ? "found" : "missing";
      done.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(done.load()) << "a request was answered while paused";
    m->transport().Resume();
    reader.join();
    EXPECT_EQ(got, round == 0 ? "found" : "missing");
  }
  EXPECT_EQ(ReadAll(m->Path("g")).data, "bytes of g");
  EXPECT_FALSE(m->transport().finished());
}

}  // namespace
}  // namespace castor::testing
