// A real FUSE mount over a real daemon (in this process, on a unix socket)
// that accepts some calls and never answers them
// (castore/testing/stalling_services.h):
//   - in-process mounts with a 1 s idle timeout: a read whose blob the
//     daemon never sends, or stops sending, a file whose Stat never returns
//     and a directory whose Get never returns are EIO within a bound, while
//     other files are served meanwhile;
//   - `castor mount` processes: SIGTERM during a stuck read unmounts and
//     exits 0 at once, without waiting for the stuck call;
// and termination signals of `castor mount` and `castor daemon` processes
// whose services talk gRPC (so gRPC's threads exist before the signal
// arrives): a second SIGTERM during the shutdown is not fatal, the process
// still exits 0 and leaves nothing mounted, also when a file in the mount
// stays open.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/stalling_services.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "mount_fixture.h"
#include "rpc/testing.h"
#include "spdlog/spdlog.h"
#include "tvix/castore/protos/rpc_blobstore.grpc.pb.h"

namespace castor::testing {
namespace {

using castore::testing::Child;
using castore::testing::FuseMountGuard;
using castore::testing::RandomBytes;
using castore::testing::Staller;
using Clock = std::chrono::steady_clock;

constexpr size_t kMiB = 1 << 20;
// "Promptly": far above the 1-2 s timeouts used here, far below the test timeout.
constexpr auto kBound = std::chrono::seconds(20);

bool LogSays(const std::string& log, const std::string& what,
             std::chrono::seconds timeout = std::chrono::seconds(10)) {
  auto until = Clock::now() + timeout;
  while (castore::testing::SlurpFile(log).find(what) == std::string::npos) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Root "r": big (5 MiB, its Stat never returns), fine, half (3 MiB, the
// daemon sends 1 MiB of it and then nothing), slow/ (its Get never
// returns), stuck (3 MiB, the daemon sends nothing).
class StalledDaemonMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
    spdlog::set_level(spdlog::level::off);  // every EIO logs a line
    castore::Services inner = MemoryServices();
    castore::FileNode big = PutFile(inner, RandomBytes(5 * kMiB, 1));
    castore::FileNode half = PutFile(inner, RandomBytes(3 * kMiB, 2));
    castore::FileNode stuck = PutFile(inner, RandomBytes(3 * kMiB, 3));
    large_ = PutFile(inner, RandomBytes(32 * kMiB, 4)).digest;
    castore::DirectoryNode slow = PutDir(inner, {castore::Entry{Name("g"), PutFile(inner, "g")}});
    PutRoot(inner, "r",
            PutDir(inner, {castore::Entry{Name("big"), big},
                           castore::Entry{Name("fine"), PutFile(inner, fine_)},
                           castore::Entry{Name("half"), half}, castore::Entry{Name("slow"), slow},
                           castore::Entry{Name("stuck"), stuck}}));
    staller_->StallStat(big.digest);
    staller_->StallReadsFrom(half.digest, kMiB);
    staller_->StallDirectory(slow.digest);
    staller_->StallOpen(stuck.digest);
    daemon_ = std::make_unique<rpc::testing::LocalDaemon>(castore::Services{
        castore::testing::StallingBlobService(inner.blobs, staller_),
        castore::testing::StallingDirectoryService(inner.directories, staller_), inner.roots});
  }

  void TearDown() override {
    staller_->Release();
    mount_.reset();
    daemon_.reset();
    spdlog::set_level(spdlog::level::info);
  }

  // An in-process mount through gRPC clients with short timeouts.
  void MountInProcess() {
    rpc::CallTimeouts timeouts{.idle = std::chrono::seconds(1), .unary = std::chrono::seconds(2)};
    auto channel = daemon_->channel();
    std::string addr = daemon_->address();
    castore::Services clients{std::make_shared<rpc::GrpcBlobService>(channel, addr, timeouts),
                              std::make_shared<rpc::GrpcDirectoryService>(channel, addr, timeouts),
                              std::make_shared<rpc::GrpcRootService>(channel, addr, timeouts)};
    mount_ = MountedFs::Mount(clients, {.threads = 4});
    ASSERT_NE(mount_, nullptr);
  }

  // `castor ARGS... --{blob,directory,root}-service-addr DAEMON`, logging to
  // log_.
  Child SpawnCastor(std::vector<std::string> args) {
    args.insert(args.begin(), castore::testing::CastorBinary());
    for (const char* flag :
         {"--blob-service-addr", "--directory-service-addr", "--root-service-addr"}) {
      args.push_back(flag);
      args.push_back(daemon_->address());
    }
    return Child::Spawn(args, log_, log_);
  }

  // `castor mount mnt_ --threads 2 EXTRA...` through the daemon; the mount
  // is detached again whatever happens. Not started() (after a test
  // failure) when it did not come up.
  Child StartMount(std::vector<std::string> extra = {}) {
    if (mkdir(mnt_.c_str(), 0755) != 0) ADD_FAILURE() << "mkdir " << mnt_;
    guard_ = std::make_unique<FuseMountGuard>(mnt_);
    std::vector<std::string> args = {"mount", mnt_, "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    Child mount = SpawnCastor(args);
    if (!mount.started() || !castore::testing::WaitForFuseMount(mnt_)) {
      ADD_FAILURE() << "castor mount did not come up: " << castore::testing::SlurpFile(log_);
      return Child();
    }
    return mount;
  }

  // Reads `rel` in the mount on another thread; fails the test when that
  // takes longer than kBound (the read is freed by TearDown).
  ReadResult BoundedRead(const std::string& rel) {
    auto f = std::async(std::launch::async, [&] { return ReadAll(mount_->Path(rel)); });
    if (f.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "reading " << rel << " still hangs after " << kBound.count() << " s";
      staller_->Release();
    }
    return f.get();
  }

  const std::string fine_ = "fine bytes";
  castore::B3Digest large_;  // 32 MiB, served normally (not in the tree)
  std::shared_ptr<Staller> staller_ = std::make_shared<Staller>();
  std::unique_ptr<rpc::testing::LocalDaemon> daemon_;
  std::unique_ptr<MountedFs> mount_;
  castore::testing::TempDir dir_{"stalled"};
  std::string log_ = dir_.path() + "/log";
  std::string mnt_ = dir_.path() + "/mnt";
  std::unique_ptr<FuseMountGuard> guard_;  // goes before dir_
};

TEST_F(StalledDaemonMountTest, StuckReadIsEioWhileOtherFilesAreServed) {
  MountInProcess();
  auto stuck = std::async(std::launch::async, [&] { return ReadAll(mount_->Path("r/stuck")); });
  ASSERT_TRUE(staller_->AwaitBlocked(1, absl::Seconds(10)));
  // Another worker serves another file while one is stuck.
  ReadResult fine = ReadAll(mount_->Path("r/fine"));
  EXPECT_EQ(fine.error, 0);
  EXPECT_EQ(fine.data, fine_);
  bool done = stuck.wait_for(kBound) == std::future_status::ready;
  EXPECT_TRUE(done) << "the stuck read still hangs after " << kBound.count() << " s";
  if (!done) staller_->Release();
  EXPECT_EQ(stuck.get().error, EIO);
}

TEST_F(StalledDaemonMountTest, ReadThatStopsAfterTheFirstMessageIsEio) {
  MountInProcess();
  ReadResult r = BoundedRead("r/half");
  EXPECT_EQ(r.error, EIO);
  EXPECT_TRUE(r.data.empty());  // nothing unverified is served
}

TEST_F(StalledDaemonMountTest, FileWhoseStatNeverReturnsIsEio) {
  MountInProcess();
  struct stat st;
  ASSERT_EQ(stat(mount_->Path("r/big").c_str(), &st), 0);  // from the parent's entry
  EXPECT_EQ(st.st_size, static_cast<off_t>(5 * kMiB));
  EXPECT_EQ(BoundedRead("r/big").error, EIO);
}

TEST_F(StalledDaemonMountTest, DirectoryWhoseGetNeverReturnsIsEio) {
  MountInProcess();
  auto f = std::async(std::launch::async, [&] {
    struct stat st;
    return stat(mount_->Path("r/slow/g").c_str(), &st) == 0 ? 0 : errno;
  });
  bool done = f.wait_for(kBound) == std::future_status::ready;
  EXPECT_TRUE(done) << "lookup below a stalled directory still hangs";
  if (!done) staller_->Release();
  EXPECT_EQ(f.get(), EIO);
  EXPECT_EQ(ReadAll(mount_->Path("r/fine")).data, fine_);
}

TEST_F(StalledDaemonMountTest, SigtermDuringAStuckReadUnmountsAndExitsPromptly) {
  // Timeouts far beyond the bound: only the shutdown can end the stuck call.
  Child mount = StartMount({"--rpc-idle-timeout", "600", "--rpc-timeout", "600"});
  ASSERT_TRUE(mount.started());
  auto stuck = std::async(std::launch::async, [&] { return ReadAll(mnt_ + "/r/stuck"); });
  ASSERT_TRUE(staller_->AwaitBlocked(1, absl::Seconds(10)));
  auto start = Clock::now();
  mount.Signal(SIGTERM);
  int code = mount.Wait(kBound);
  EXPECT_EQ(code, 0) << castore::testing::SlurpFile(log_);
  EXPECT_LT(Clock::now() - start, kBound);
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));
  if (code != 0) mount.Kill();  // frees the stuck read
  ASSERT_EQ(stuck.wait_for(kBound), std::future_status::ready);
  EXPECT_NE(stuck.get().error, 0);  // EIO, or ENOTCONN once the mount is gone
}

using DaemonSignalTest = StalledDaemonMountTest;

TEST_F(DaemonSignalTest, SecondSigtermWhileAMountShutsDownIsNotFatal) {
  Child mount = StartMount();
  ASSERT_TRUE(mount.started());
  // An open file keeps the lazily unmounted connection alive: the shutdown
  // waits for it to be closed.
  int fd = open((mnt_ + "/r/fine").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  mount.Signal(SIGTERM);
  ASSERT_TRUE(LogSays(log_, "unmounting")) << castore::testing::SlurpFile(log_);
  mount.Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  close(fd);
  EXPECT_EQ(mount.Wait(kBound), 0) << castore::testing::SlurpFile(log_);
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));
}

TEST_F(DaemonSignalTest, SigtermWhileAFileStaysOpenUnmountsAndExitsAfterTheGracePeriod) {
  Child mount = StartMount();
  ASSERT_TRUE(mount.started());
  // A file that stays open (a shell's working directory would do the same):
  // after the grace period the connection is aborted, also where fusectl is
  // not mounted.
  int fd = open((mnt_ + "/r/fine").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  mount.Signal(SIGTERM);
  int code = mount.Wait(kBound);
  EXPECT_EQ(code, 0) << castore::testing::SlurpFile(log_);
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));
  char c;
  EXPECT_LT(read(fd, &c, 1), 0);  // the connection is gone
  close(fd);
}

TEST_F(DaemonSignalTest, SecondSigtermWhileAProxyDaemonDrainsIsNotFatal) {
  // A daemon serving another daemon's store: its clients are gRPC clients.
  std::string sock = dir_.path() + "/proxy.sock";
  Child proxy = SpawnCastor({"daemon", "--listen", "unix://" + sock, "--grace", "3"});
  ASSERT_TRUE(proxy.started());
  ASSERT_TRUE(LogSays(log_, "serving")) << castore::testing::SlurpFile(log_);
  // A Read left unread after its first message (the proxy's handler then
  // waits on flow control): the shutdown waits its grace period for it.
  auto channel = *rpc::OpenChannel(*castore::ServiceAddress::Parse("grpc+unix://" + sock));
  auto stub = tvix::castore::v1::BlobService::NewStub(channel);
  grpc::ClientContext ctx;
  tvix::castore::v1::ReadBlobRequest req;
  req.set_digest(std::string(large_.raw()));
  auto read = stub->Read(&ctx, req);
  tvix::castore::v1::BlobChunk chunk;
  ASSERT_TRUE(read->Read(&chunk));
  proxy.Signal(SIGTERM);
  ASSERT_TRUE(LogSays(log_, "shutting down")) << castore::testing::SlurpFile(log_);
  proxy.Signal(SIGTERM);
  EXPECT_EQ(proxy.Wait(kBound), 0) << castore::testing::SlurpFile(log_);
  ctx.TryCancel();
  read->Finish().IgnoreError();
}

}  // namespace
}  // namespace castor::testing
