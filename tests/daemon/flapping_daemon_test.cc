// Clients of a flapping daemon: a real `castor daemon` process is killed
// (SIGKILL, leaving a stale socket, or SIGTERM) and started again five times
// on the same socket path. A long-running `castor mount` through
// grpc+unix:// and in-process gRPC clients, none of them restarted, must
// fail promptly while it is down (EIO / Unavailable, never a hang) and
// answer correctly again after every restart.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/files.h"
#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/grpc_blob_service.h"
#include "rpc/grpc_directory_service.h"
#include "rpc/grpc_root_service.h"

namespace castor {
namespace {

using castore::testing::Child;
using castore::testing::FuseMountGuard;
using castore::testing::ListNames;
using castore::testing::RandomBytes;
using castore::testing::ReadAll;
using castore::testing::TempDir;
using castore::testing::WriteFile;
using Clock = std::chrono::steady_clock;

constexpr int kCycles = 5;
// "Promptly": far below the test timeout, far above scheduling noise.
constexpr auto kPrompt = std::chrono::seconds(5);
// Clients reconnect by themselves within their backoff cap (1 s, see
// rpc/channel.cc) plus a backup poll (100 ms); this allows for a loaded
// machine, and fails when the backup poll is gRPC's default 5 s.
constexpr auto kReconnect = std::chrono::seconds(3);

// Runs `fn` on another thread; fails the test if it takes longer than
// kPrompt (then waits for it anyway, so nothing dangles).
template <typename Fn>
auto Promptly(const std::string& what, Fn fn) {
  auto start = Clock::now();
  auto f = std::async(std::launch::async, std::move(fn));
  if (f.wait_for(kPrompt) != std::future_status::ready) ADD_FAILURE() << what << ": hangs";
  auto r = f.get();
  EXPECT_LT(Clock::now() - start, kPrompt) << what;
  return r;
}

class FlappingDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
    bin_ = castore::testing::CastorBinary();
    root_ = dir_.path();
    store_ = root_ + "/store";
    sock_ = root_ + "/castor.sock";
    addr_ = "grpc+unix://" + sock_;
    src_ = root_ + "/src";
    mnt_ = root_ + "/mnt";
    ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
    for (int i = 0; i < kCycles; ++i) {
      std::string n = std::to_string(i);
      WriteFile(src_ + "/f" + n, RandomBytes(200000 + i, i));
      WriteFile(src_ + "/down" + n, RandomBytes(100000 + i, 100 + i));
      ASSERT_EQ(::mkdir((src_ + "/d" + n).c_str(), 0755), 0);
      WriteFile(src_ + "/d" + n + "/inner" + n, "inner " + n);
    }
    auto r = castore::testing::Run({bin_, "import", "--store", store_, "--name", "t", src_},
                                   root_ + "/import");
    ASSERT_EQ(r.code, 0) << r.err;

    auto channel = rpc::OpenChannel(*castore::ServiceAddress::Parse(addr_));
    ASSERT_TRUE(channel.ok()) << channel.status();
    blobs_ = std::make_unique<rpc::GrpcBlobService>(*channel, addr_);
    directories_ = std::make_unique<rpc::GrpcDirectoryService>(*channel, addr_);
    roots_ = std::make_unique<rpc::GrpcRootService>(*channel, addr_);
  }

  std::string Log() { return castore::testing::SlurpFile(root_ + "/log"); }

  // Whether something accepts connections on the socket (the daemon
  // publishes it only once it serves).
  bool Accepting() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, sock_.c_str(), sizeof(sa.sun_path) - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    ::close(fd);
    return ok;
  }

  // Starts a daemon on the socket and waits until it accepts connections.
  // (Not through the long-lived clients: how fast they come back is what
  // the test measures.)
  void StartDaemon() {
    daemon_ = Child::Spawn({bin_, "daemon", "--store", store_, "--listen", "unix://" + sock_},
                           root_ + "/log", root_ + "/log");
    ASSERT_TRUE(daemon_.started());
    pids_.insert(daemon_.pid());
    auto until = Clock::now() + std::chrono::seconds(15);
    while (!Accepting()) {
      ASSERT_TRUE(daemon_.Running()) << "daemon exited; log:\n" << Log();
      ASSERT_LT(Clock::now(), until) << "daemon does not listen; log:\n" << Log();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Polls `ok()` until it holds, at most kReconnect; how long it took.
  template <typename Fn>
  Clock::duration Eventually(const std::string& what, Fn ok) {
    auto start = Clock::now();
    while (!ok()) {
      if (Clock::now() - start > kReconnect) {
        ADD_FAILURE() << what << ": no recovery within " << kReconnect.count() << " s";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Clock::now() - start;
  }

  TempDir dir_{"flapping"};
  std::string bin_, root_, store_, sock_, addr_, src_, mnt_;
  std::unique_ptr<rpc::GrpcBlobService> blobs_;
  std::unique_ptr<rpc::GrpcDirectoryService> directories_;
  std::unique_ptr<rpc::GrpcRootService> roots_;
  Child daemon_;
  std::set<pid_t> pids_;
};

TEST_F(FlappingDaemonTest, MountAndClientsRecoverAfterEveryRestartAndFailPromptlyInBetween) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  FuseMountGuard guard(mnt_);  // declared before the mount: unmounts after it is killed
  Child mount = Child::Spawn({bin_, "mount", mnt_, "--blob-service-addr", addr_,
                              "--directory-service-addr", addr_, "--root-service-addr", addr_},
                             root_ + "/log", root_ + "/log");
  ASSERT_TRUE(castore::testing::WaitForFuseMount(mnt_)) << Log();
  const std::string tree = mnt_ + "/t";
  Clock::duration worst_mount{}, worst_client{};
  auto f0_digest = castore::B3Digest::Of(std::string_view(RandomBytes(200000, 0)));

  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    std::string n = std::to_string(cycle);
    // Up: a file and a directory this mount has not read before, and the
    // in-process clients.
    auto [err, data] = ReadAll(tree + "/f" + n);
    EXPECT_EQ(err, 0) << strerror(err);
    EXPECT_TRUE(data == RandomBytes(200000 + cycle, cycle)) << data.size();
    auto [lerr, names] = ListNames(tree + "/d" + n);
    EXPECT_EQ(lerr, 0) << strerror(lerr);
    EXPECT_EQ(names, std::set<std::string>{"inner" + n});
    auto blob = castore::ReadBlob(*blobs_, f0_digest);
    ASSERT_TRUE(blob.ok()) << blob.status();
    ASSERT_TRUE(blob->has_value());
    EXPECT_TRUE(**blob == RandomBytes(200000, 0));

    // Down: the stale socket of a SIGKILLed daemon, or none after SIGTERM.
    daemon_.Signal(cycle % 2 == 0 ? SIGKILL : SIGTERM);
    int code = daemon_.Wait(std::chrono::seconds(15));
    EXPECT_EQ(code, cycle % 2 == 0 ? 128 + SIGKILL : 0) << Log();

    auto down = Promptly("read through the mount", [&] { return ReadAll(tree + "/down" + n); });
    EXPECT_EQ(down.error, EIO) << strerror(down.error);
    EXPECT_TRUE(down.data.empty()) << "bytes served without a daemon";
    if (cycle + 1 < kCycles) {
      std::string next = std::to_string(cycle + 1);
      auto listing =
          Promptly("listing through the mount", [&] { return ListNames(tree + "/d" + next); });
      EXPECT_EQ(listing.error, EIO) << strerror(listing.error);
    }
    auto has = Promptly("Has", [&] { return blobs_->Has(f0_digest); });
    EXPECT_EQ(has.status().code(), absl::StatusCode::kUnavailable) << has.status();
    auto dir = Promptly("Get", [&] {
      return directories_->Get(castore::B3Digest::Of(std::string_view("no such directory")));
    });
    EXPECT_EQ(dir.status().code(), absl::StatusCode::kUnavailable) << dir.status();
    auto roots = Promptly("List", [&] {
      return roots_->List([](const castore::Entry&) { return absl::OkStatus(); });
    });
    EXPECT_EQ(roots.code(), absl::StatusCode::kUnavailable) << roots;

    // Up again, same socket path, another process.
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    // The clients reconnect on their own, within their backoff cap: the
    // long-lived gRPC client answers, and the file that failed while the
    // daemon was down reads correctly through the mount. Meanwhile a read
    // may fail, but never serves a wrong byte.
    worst_client =
        std::max(worst_client, Eventually("in-process client", [&] {
                   return roots_->List([](const castore::Entry&) { return absl::OkStatus(); }).ok();
                 }));
    worst_mount = std::max(worst_mount, Eventually("mount", [&] {
                             auto [e, bytes] = ReadAll(tree + "/down" + n);
                             if (e != 0) {
                               EXPECT_EQ(e, EIO) << strerror(e);
                               EXPECT_TRUE(bytes.empty());
                               return false;
                             }
                             EXPECT_TRUE(bytes == RandomBytes(100000 + cycle, 100 + cycle));
                             return true;
                           }));
  }
  std::printf("slowest recovery after a restart: mount %.0f ms, in-process client %.0f ms\n",
              std::chrono::duration<double, std::milli>(worst_mount).count(),
              std::chrono::duration<double, std::milli>(worst_client).count());
  EXPECT_EQ(pids_.size(), static_cast<size_t>(kCycles + 1));
  EXPECT_TRUE(mount.Running()) << "the mount died; log:\n" << Log();
  // Everything compares equal to the source at the end.
  std::string diff = "diff -r '" + src_ + "' '" + tree + "' >/dev/null";
  EXPECT_EQ(std::system(diff.c_str()), 0);

  mount.Signal(SIGTERM);
  EXPECT_EQ(mount.Wait(std::chrono::seconds(15)), 0) << Log();
  daemon_.Signal(SIGTERM);
  EXPECT_EQ(daemon_.Wait(std::chrono::seconds(15)), 0) << Log();
}

}  // namespace
}  // namespace castor
