#include "cli/systemd.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "castore/testing/notify_socket.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor::cli::systemd {
namespace {

using castore::testing::TempDir;

using castore::testing::ManagerSocket;

class SystemdTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                          "LISTEN_PID", "LISTEN_FDNAMES"}) {
      ::unsetenv(v);
    }
  }
  TempDir dir_{"systemd"};
};

TEST_F(SystemdTest, NotifierSendsToAPathSocket) {
  std::string path = dir_.path() + "/notify";
  ManagerSocket manager(path);
  ASSERT_TRUE(manager.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(n->enabled());
  ASSERT_TRUE(n->Send("READY=1").ok());
  EXPECT_EQ(manager.Receive(), "READY=1");
  ASSERT_TRUE(n->Send("STOPPING=1").ok());
  EXPECT_EQ(manager.Receive(), "STOPPING=1");
}

TEST_F(SystemdTest, NotifierSendsToAnAbstractSocket) {
  std::string name = "@castor-systemd-test-" + std::to_string(::getpid());
  ManagerSocket manager(name);
  ASSERT_TRUE(manager.bound());
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_TRUE(n->Send("READY=1").ok());
  EXPECT_EQ(manager.Receive(), "READY=1");
}

TEST_F(SystemdTest, NotifierWithoutNotifySocketSendsNothing) {
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->enabled());
  EXPECT_TRUE(n->Send("READY=1").ok());
}

TEST_F(SystemdTest, NotifierRefusesARelativeSocketName) {
  ::setenv("NOTIFY_SOCKET", "relative/notify", 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(n.status().message().find("NOTIFY_SOCKET"), std::string_view::npos);
}

TEST_F(SystemdTest, NotifierReportsAMissingManagerSocket) {
  ::setenv("NOTIFY_SOCKET", (dir_.path() + "/nobody").c_str(), 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->Send("READY=1").ok());
}

TEST_F(SystemdTest, WatchdogIntervalIsOnlyForThePidNamed) {
  EXPECT_FALSE(WatchdogInterval(::getpid())->has_value());
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  EXPECT_EQ(WatchdogInterval(::getpid())->value(), std::chrono::seconds(2));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(::getpid())->value(), std::chrono::seconds(2));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(WatchdogInterval(::getpid())->has_value());
}

TEST_F(SystemdTest, WatchdogIntervalRefusesGarbage) {
  ::setenv("WATCHDOG_USEC", "soon", 1);
  EXPECT_EQ(WatchdogInterval(::getpid()).status().code(), absl::StatusCode::kInvalidArgument);
  ::setenv("WATCHDOG_USEC", "0", 1);
  EXPECT_FALSE(WatchdogInterval(::getpid()).ok());
  ::setenv("WATCHDOG_USEC", "1000", 1);
  ::setenv("WATCHDOG_PID", "me", 1);
  EXPECT_FALSE(WatchdogInterval(::getpid()).ok());
}

TEST_F(SystemdTest, WatchdogPingsAtHalfTheInterval) {
  std::string path = dir_.path() + "/notify";
  ManagerSocket manager(path);
  ASSERT_TRUE(manager.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok());
  auto start = std::chrono::steady_clock::now();
  {
    Watchdog watchdog(*n, std::chrono::milliseconds(400));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(manager.Receive(2000), "WATCHDOG=1");
  }
  // The first ping at once, then every 200 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(390));
  // Stopped: no more pings.
  EXPECT_EQ(manager.Receive(500), "");
}

TEST_F(SystemdTest, ListenFdsAreTakenFromThree) {
  int a[2], b[2];
  ASSERT_EQ(::pipe(a), 0);
  ASSERT_EQ(::pipe(b), 0);
  // Free 3 and 4 for the "passed" descriptors.
  int saved3 = ::fcntl(3, F_DUPFD_CLOEXEC, 100);
  int saved4 = ::fcntl(4, F_DUPFD_CLOEXEC, 100);
  ASSERT_EQ(::dup2(a[0], 3), 3);
  ASSERT_EQ(::dup2(b[0], 4), 4);
  ::setenv("LISTEN_FDS", "2", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDNAMES", "grpc:other", 1);
  auto fds = TakeListenFds(::getpid());
  ASSERT_TRUE(fds.ok()) << fds.status();
  ASSERT_EQ(fds->size(), 2u);
  EXPECT_EQ((*fds)[0].fd, 3);
  EXPECT_EQ((*fds)[0].name, "grpc");
  EXPECT_EQ((*fds)[1].fd, 4);
  EXPECT_EQ((*fds)[1].name, "other");
  EXPECT_TRUE(::fcntl(3, F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(4, F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_PID"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_FDNAMES"), nullptr);
  for (int fd : {a[0], a[1], b[0], b[1]}) ::close(fd);
  if (saved3 >= 0) {
    ::dup2(saved3, 3);
    ::close(saved3);
  } else {
    ::close(3);
  }
  if (saved4 >= 0) {
    ::dup2(saved4, 4);
    ::close(saved4);
  } else {
    ::close(4);
  }
}

TEST_F(SystemdTest, ListenFdsForAnotherProcessAreIgnoredAndUnset) {
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
  auto fds = TakeListenFds(::getpid());
  ASSERT_TRUE(fds.ok());
  EXPECT_TRUE(fds->empty());
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
  // Without LISTEN_PID they are not ours either.
  ::setenv("LISTEN_FDS", "1", 1);
  EXPECT_TRUE(TakeListenFds(::getpid())->empty());
  // Nothing passed.
  EXPECT_TRUE(TakeListenFds(::getpid())->empty());
}

TEST_F(SystemdTest, MalformedListenFdsAreRefused) {
  const std::string pid = std::to_string(::getpid());
  ::setenv("LISTEN_FDS", "two", 1);
  ::setenv("LISTEN_PID", pid.c_str(), 1);
  auto r = TakeListenFds(::getpid());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("LISTEN_FDS"), std::string_view::npos);

  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", pid.c_str(), 1);
  ::setenv("LISTEN_FDNAMES", "a:b", 1);
  r = TakeListenFds(::getpid());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("LISTEN_FDNAMES"), std::string_view::npos);

  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", "pid", 1);
  EXPECT_FALSE(TakeListenFds(::getpid()).ok());
}

TEST_F(SystemdTest, AClosedListenFdIsRefused) {
  // Not all of 3..1000 are open.
  ::setenv("LISTEN_FDS", "998", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  auto r = TakeListenFds(::getpid());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("passed socket fd"), std::string_view::npos);
}

}  // namespace
}  // namespace castor::cli::systemd
