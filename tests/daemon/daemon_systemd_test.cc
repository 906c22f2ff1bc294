// `castor daemon` under systemd's protocol, without systemd: socket
// activation through systemd-socket-activate (a real client reads a file
// through the passed socket), readiness and watchdog messages to a
// NOTIFY_SOCKET the test binds, and the refusal of --listen beside passed
// sockets or of a passed fd that is not a listening socket.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/notify_socket.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

using castore::testing::CastorBinary;
using castore::testing::Child;
using castore::testing::SlurpFile;
using castore::testing::TempDir;

using castore::testing::ManagerSocket;

// Sets an environment variable for the children spawned while it lives.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

bool WaitForPath(const std::string& path, std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  struct stat st;
  while (::lstat(path.c_str(), &st) != 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class DaemonSystemdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/systemd-socket-activate", X_OK) != 0) {
      GTEST_SKIP() << "systemd-socket-activate missing (scripts/setup.sh installs systemd)";
    }
    ASSERT_EQ(::mkdir((dir_ / "data").c_str(), 0755), 0);
    std::FILE* f = std::fopen((dir_ / "data/hello.txt").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("hello from castor\n", f);
    std::fclose(f);
    auto r = castore::testing::Run(
        {CastorBinary(), "import", "--store", store_, "--name", "demo", dir_ / "data"},
        dir_ / "import");
    ASSERT_EQ(r.code, 0) << r.err;
  }

  std::vector<std::string> Client(const std::string& addr) {
    return {"--blob-service-addr", addr, "--directory-service-addr", addr,
            "--root-service-addr", addr};
  }

  TempDir dir_{"daemon-systemd"};
  std::string store_ = dir_ / "store";
};

TEST_F(DaemonSystemdTest, ServesClientsOnASocketPassedBySocketActivation) {
  const std::string sock = dir_ / "activated.sock";
  const std::string log = dir_ / "log";
  Child daemon = Child::Spawn(
      {"systemd-socket-activate", "-l", sock, CastorBinary(), "daemon", "--store", store_}, log,
      log);
  ASSERT_TRUE(daemon.started());
  ASSERT_TRUE(WaitForPath(sock, std::chrono::seconds(20))) << SlurpFile(log);

  // The first connection starts the daemon on the passed socket.
  std::vector<std::string> cat = {CastorBinary(), "cat", "demo/hello.txt"};
  for (const std::string& a : Client("grpc+unix://" + sock)) cat.push_back(a);
  auto r = castore::testing::Run(cat, dir_ / "cat");
  ASSERT_EQ(r.code, 0) << r.err << SlurpFile(log);
  EXPECT_EQ(r.out, "hello from castor\n");
  // Again, on a second connection.
  r = castore::testing::Run(cat, dir_ / "cat");
  ASSERT_EQ(r.code, 0) << r.err << SlurpFile(log);
  EXPECT_EQ(r.out, "hello from castor\n");
  EXPECT_NE(SlurpFile(log).find("serving grpc+unix://" + sock), std::string::npos)
      << SlurpFile(log);

  // systemd-socket-activate execs castor in its own process: SIGTERM stops
  // the accept loop and the server cleanly.
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0) << SlurpFile(log);
}

// gc is an admin call: served to unix-socket peers by default. A socket
// passed by the service manager is a unix socket too, so `castor gc
// --root-service-addr` through it works without --admin all.
TEST_F(DaemonSystemdTest, GcThroughAPassedUnixSocketIsServedByDefault) {
  const std::string sock = dir_ / "activated.sock";
  const std::string log = dir_ / "log";
  Child daemon = Child::Spawn(
      {"systemd-socket-activate", "-l", sock, CastorBinary(), "daemon", "--store", store_}, log,
      log);
  ASSERT_TRUE(daemon.started());
  ASSERT_TRUE(WaitForPath(sock, std::chrono::seconds(20))) << SlurpFile(log);

  auto r = castore::testing::Run(
      {CastorBinary(), "gc", "--root-service-addr", "grpc+unix://" + sock}, dir_ / "gc");
  EXPECT_EQ(r.code, 0) << r.err << SlurpFile(log);
  EXPECT_NE(r.out.find("reachable from 1 roots"), std::string::npos) << r.out << r.err;

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0) << SlurpFile(log);
}

TEST_F(DaemonSystemdTest, ListenBesidePassedSocketsIsRefused) {
  const std::string sock = dir_ / "activated.sock";
  const std::string log = dir_ / "log";
  Child daemon = Child::Spawn({"systemd-socket-activate", "-l", sock, CastorBinary(), "daemon",
                               "--store", store_, "--listen", "unix://" + (dir_ / "other.sock")},
                              log, log);
  ASSERT_TRUE(daemon.started());
  ASSERT_TRUE(WaitForPath(sock, std::chrono::seconds(20))) << SlurpFile(log);
  std::vector<std::string> roots = {CastorBinary(), "roots", "--rpc-timeout", "5"};
  for (const std::string& a : Client("grpc+unix://" + sock)) roots.push_back(a);
  auto r = castore::testing::Run(roots, dir_ / "roots");
  EXPECT_NE(r.code, 0);
  int code = daemon.Wait(std::chrono::seconds(20));
  EXPECT_NE(code, 0);
  EXPECT_NE(code, -1);
  EXPECT_NE(SlurpFile(log).find("--listen and sockets passed by socket activation"),
            std::string::npos)
      << SlurpFile(log);
}

TEST_F(DaemonSystemdTest, APassedFdThatIsNotAListeningSocketIsRefused) {
  const std::string log = dir_ / "log";
  // The shell's pid is the daemon's after exec; fd 3 is /dev/null.
  Child daemon = Child::Spawn({"sh", "-c",
                               "exec 3</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\" daemon "
                               "--store \"$1\"",
                               CastorBinary(), store_},
                              log, log);
  ASSERT_TRUE(daemon.started());
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 1) << SlurpFile(log);
  EXPECT_NE(SlurpFile(log).find("passed fd 3 is not a listening stream socket"), std::string::npos)
      << SlurpFile(log);
  // It did not fall back to its default socket.
  struct stat st;
  EXPECT_NE(::lstat((store_ + "/castor.sock").c_str(), &st), 0);
}

TEST_F(DaemonSystemdTest, NotifiesReadyWatchdogAndStopping) {
  const std::string notify = dir_ / "notify";
  ManagerSocket manager(notify);
  ASSERT_TRUE(manager.bound());
  const std::string sock = dir_ / "castor.sock";
  const std::string log = dir_ / "log";
  Child daemon;
  {
    ScopedEnv n("NOTIFY_SOCKET", notify);
    ScopedEnv w("WATCHDOG_USEC", "400000");
    daemon = Child::Spawn(
        {CastorBinary(), "daemon", "--store", store_, "--listen", "unix://" + sock}, log, log);
  }
  ASSERT_TRUE(daemon.started());
  std::string ready = manager.Receive();
  EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << ready << SlurpFile(log);
  EXPECT_NE(ready.find("STATUS=serving grpc+unix://" + sock), std::string::npos) << ready;
  // Serving by then: the socket is there.
  struct stat st;
  EXPECT_EQ(::lstat(sock.c_str(), &st), 0);
  // Pings every 200 ms.
  EXPECT_EQ(manager.Receive(2000), "WATCHDOG=1");
  EXPECT_EQ(manager.Receive(2000), "WATCHDOG=1");

  daemon.Signal(SIGTERM);
  std::string msg;
  do {
    msg = manager.Receive(10000);
  } while (msg == "WATCHDOG=1");
  EXPECT_EQ(msg, "STOPPING=1") << SlurpFile(log);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0) << SlurpFile(log);
}

TEST_F(DaemonSystemdTest, ABadNotifySocketIsRefusedClearly) {
  const std::string log = dir_ / "log";
  Child daemon;
  {
    ScopedEnv n("NOTIFY_SOCKET", "not/absolute");
    daemon = Child::Spawn({CastorBinary(), "daemon", "--store", store_, "--listen",
                           "unix://" + (dir_ / "castor.sock")},
                          log, log);
  }
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 1);
  EXPECT_NE(SlurpFile(log).find("NOTIFY_SOCKET='not/absolute'"), std::string::npos)
      << SlurpFile(log);
}

}  // namespace
}  // namespace castor
