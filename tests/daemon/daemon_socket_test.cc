// The daemon's unix socket never exists with a wider mode than asked for:
// the test watches the socket's directory with inotify while a real
// `castor daemon` starts (under umask 0, where a plain bind would make the
// socket 0777) and stats every entry the moment it appears. The socket
// must appear only by a rename (IN_MOVED_TO, never IN_CREATE) and already
// carry its final mode; the private directory it was bound in must be 0700
// when created.
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

using castore::testing::Child;
using castore::testing::TempDir;

struct Seen {
  std::string name;
  uint32_t mask;
  int stat_errno;  // 0 when the lstat worked
  mode_t mode;
};

class DaemonSocketTest : public ::testing::TestWithParam<const char*> {};

TEST_P(DaemonSocketTest, SocketAppearsByRenameWithItsFinalMode) {
  const std::string mode_text = GetParam();
  const mode_t want = static_cast<mode_t>(std::stoul(mode_text, nullptr, 8));
  TempDir dir("daemon-socket");
  std::string sockdir = dir.path() + "/run";
  ASSERT_EQ(::mkdir(sockdir.c_str(), 0755), 0);
  std::string sock = sockdir + "/castor.sock";

  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, sockdir.c_str(), IN_CREATE | IN_MOVED_TO | IN_ATTRIB), 0);

  mode_t old_umask = ::umask(0);
  Child daemon =
      Child::Spawn({castore::testing::CastorBinary(), "daemon", "--store", dir.path() + "/store",
                    "--listen", "unix://" + sock, "--socket-mode", mode_text},
                   dir.path() + "/log", dir.path() + "/log");
  ::umask(old_umask);
  ASSERT_TRUE(daemon.started());

  std::vector<Seen> seen;
  bool published = false;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!published && std::chrono::steady_clock::now() < until) {
    pollfd p{in, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      ASSERT_TRUE(daemon.Running()) << castore::testing::SlurpFile(dir.path() + "/log");
      continue;
    }
    alignas(inotify_event) char buf[8192];
    ssize_t n = ::read(in, buf, sizeof(buf));
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      off += sizeof(inotify_event) + ev->len;
      if (ev->len == 0) continue;
      Seen s{ev->name, ev->mask, 0, 0};
      struct stat st;
      if (::lstat((sockdir + "/" + s.name).c_str(), &st) == 0) {
        s.mode = st.st_mode;
      } else {
        s.stat_errno = errno;
      }
      seen.push_back(s);
      if (s.name == "castor.sock") published = true;
    }
  }
  ::close(in);
  ASSERT_TRUE(published) << castore::testing::SlurpFile(dir.path() + "/log");

  for (const Seen& s : seen) {
    SCOPED_TRACE(s.name + " mask " + std::to_string(s.mask));
    if (s.name == "castor.sock") {
      EXPECT_FALSE(s.mask & IN_CREATE) << "socket created in place, not renamed";
      if (s.mask & IN_MOVED_TO) {
        ASSERT_EQ(s.stat_errno, 0) << strerror(s.stat_errno);
        EXPECT_TRUE(S_ISSOCK(s.mode));
        EXPECT_EQ(s.mode & 07777, want) << std::oct << (s.mode & 07777);
      }
    } else if (s.mask & IN_CREATE) {
      // The private directory the socket is bound in (when the lstat was
      // quick enough to see it before its removal).
      EXPECT_EQ(s.name.rfind(".castor-", 0), 0u);
      if (s.stat_errno == 0) {
        EXPECT_TRUE(S_ISDIR(s.mode));
        EXPECT_EQ(s.mode & 0777, 0700u) << std::oct << (s.mode & 0777);
      }
    }
  }
  struct stat st;
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, want);

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(15)), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, DaemonSocketTest, ::testing::Values("0660", "0600"));

}  // namespace
}  // namespace castor
