// `castor mount --record-access` and `--prefetch` end to end, through a real
// `castor daemon` on a unix socket: a workload through a mount is recorded
// (in first-access order, ranges merged), and a mount with --cache that
// replays a record has the recorded blobs in its cache when it logs
// "prefetch done": reads of them are the exact bytes even once the daemon
// is gone, while a file not in the record is not there. A malformed record
// is refused before anything is mounted, naming the line.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "fs/access_record.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/grpc_root_service.h"

namespace castor {
namespace {

using castore::testing::RandomBytes;
using castore::testing::SlurpFile;
using fs::AccessEntry;

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

class PrefetchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = castore::testing::CastorBinary();
    root_ = dir_.path();
    sock_ = root_ + "/castor.sock";
    addr_ = "grpc+unix://" + sock_;
    src_ = root_ + "/src";
    mnt_ = root_ + "/mnt";
    record_ = root_ + "/record";
    for (const std::string& d : {src_, src_ + "/sub", src_ + "/sub/deeper", mnt_}) {
      ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
    }
    WriteFile(src_ + "/a", "hello\n");
    WriteFile(src_ + "/with space\nand newline", "odd\n");
    WriteFile(src_ + "/sub/deeper/big1", RandomBytes(5 << 20, 1));
    WriteFile(src_ + "/sub/deeper/big2", RandomBytes(6 << 20, 2));
    WriteFile(src_ + "/sub/deeper/small", RandomBytes(1000, 3));
  }

  void TearDown() override {
    procs_.KillAll();
    // Unconditionally: the mount of a killed castor is not a FUSE file
    // system to statfs (ENOTCONN), yet stays mounted until detached.
    for (int i = 0; i < 3 && ::umount2(mnt_.c_str(), MNT_DETACH) == 0; ++i) {
    }
  }

  pid_t Spawn(std::vector<std::string> args) {
    args.insert(args.begin(), bin_);
    pid_t pid = procs_.Spawn(args, root_ + "/log", root_ + "/log");
    EXPECT_GT(pid, 0);
    return pid;
  }

  int WaitExit(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    return procs_.WaitStatus(pid, timeout);
  }
  static bool Ok(int status) { return castore::testing::ExitedWith(status, 0); }

  std::vector<std::string> WithDaemon(std::vector<std::string> args) {
    return castore::testing::WithServiceAddr(std::move(args), addr_);
  }

  std::string Log() { return SlurpFile(root_ + "/log"); }

  pid_t StartDaemonAndImport() {
    pid_t pid = Spawn({"daemon", "--store", root_ + "/store", "--listen", "unix://" + sock_});
    auto channel = *rpc::OpenChannel(*castore::ServiceAddress::Parse(addr_));
    rpc::GrpcRootService roots(channel, addr_);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    bool up = false;
    while (!up && std::chrono::steady_clock::now() < until) {
      up = roots.List([](const castore::Entry&) { return absl::OkStatus(); }).ok();
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(up) << "daemon did not come up; log:\n" << Log();
    EXPECT_TRUE(Ok(WaitExit(Spawn(WithDaemon({"import", "--name", "t", src_}))))) << Log();
    return pid;
  }

  bool WaitMounted() { return castore::testing::WaitForFuseMount(mnt_); }
  bool WaitForLog(const std::string& text) {
    for (int i = 0; i < 3000; ++i) {
      if (Log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  castore::testing::TempDir dir_{"prefetch-e2e"};
  std::string bin_, root_, sock_, addr_, src_, mnt_, record_;
  castore::testing::Processes procs_;
};

// Bytes of the blob files under `dir` (a cache's store).
uint64_t BlobBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/blobs/b3")) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

size_t IndexOf(const std::vector<AccessEntry>& entries, AccessEntry::Kind kind,
               const std::string& path) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].kind == kind && entries[i].path == path) return i;
  }
  ADD_FAILURE() << "no entry for " << path;
  return entries.size();
}

TEST_F(PrefetchE2eTest, AWorkloadThroughAMountIsRecordedInOrderAtUnmount) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  StartDaemonAndImport();
  pid_t m = Spawn(WithDaemon({"mount", mnt_, "--record-access", record_}));
  ASSERT_TRUE(WaitMounted()) << Log();
  EXPECT_EQ(SlurpFile(mnt_ + "/t/a"), "hello\n");
  EXPECT_EQ(SlurpFile(mnt_ + "/t/with space\nand newline"), "odd\n");
  DIR* d = ::opendir((mnt_ + "/t/sub").c_str());
  ASSERT_NE(d, nullptr);
  while (::readdir(d) != nullptr) {
  }
  ::closedir(d);
  // One page in the middle of big1 (the kernel may read around it).
  int fd = ::open((mnt_ + "/t/sub/deeper/big1").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string page(4096, '\0');
  ASSERT_EQ(::pread(fd, page.data(), page.size(), 3 << 20), 4096);
  ::close(fd);
  EXPECT_EQ(SlurpFile(mnt_ + "/t/sub/deeper/small"), RandomBytes(1000, 3));
  EXPECT_EQ(::access(record_.c_str(), F_OK), -1) << "written before the first interval";
  ASSERT_EQ(::kill(m, SIGTERM), 0);
  ASSERT_TRUE(Ok(WaitExit(m))) << Log();

  std::string text = SlurpFile(record_);
  EXPECT_EQ(text.substr(0, text.find('\n')), "castor-access-record 1");
  EXPECT_NE(text.find("\nf t/with\\x20space\\x0aand\\x20newline 0 4\n"), std::string::npos) << text;
  auto entries = fs::AccessRecord::Parse(text, record_);
  ASSERT_TRUE(entries.ok()) << entries.status();
  using Kind = AccessEntry::Kind;
  size_t dir_t = IndexOf(*entries, Kind::kDirectory, "t");
  size_t file_a = IndexOf(*entries, Kind::kFile, "t/a");
  size_t dir_sub = IndexOf(*entries, Kind::kDirectory, "t/sub");
  size_t big1 = IndexOf(*entries, Kind::kFile, "t/sub/deeper/big1");
  size_t small = IndexOf(*entries, Kind::kFile, "t/sub/deeper/small");
  ASSERT_LT(small, entries->size());
  EXPECT_LT(dir_t, file_a);
  EXPECT_LT(file_a, dir_sub);
  EXPECT_LT(dir_sub, big1);
  EXPECT_LT(big1, small);
  EXPECT_EQ((*entries)[file_a].offset, 0u);
  EXPECT_EQ((*entries)[file_a].length, 6u);
  EXPECT_EQ((*entries)[small].length, 1000u);
  // big1's page is in its range, and not all of the file was read.
  const AccessEntry& b = (*entries)[big1];
  EXPECT_LE(b.offset, uint64_t{3} << 20);
  EXPECT_GE(b.offset + b.length, (uint64_t{3} << 20) + 4096);
  EXPECT_LT(b.length, uint64_t{5} << 20);
  // big2 was listed, never read.
  for (const AccessEntry& e : *entries) EXPECT_NE(e.path, "t/sub/deeper/big2");
}

TEST_F(PrefetchE2eTest, APrefetchedCacheServesTheRecordedBlobsWithoutTheDaemon) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  pid_t daemon = StartDaemonAndImport();
  WriteFile(record_,
            "castor-access-record 1\n"
            "d t\n"
            "d t/sub/deeper\n"
            "f t/sub/deeper/big1 0 5242880\n"
            "f t/sub/deeper/small 0 1000\n"
            "f t/with\\x20space\\x0aand\\x20newline 0 4\n"
            "f t/missing 0 10\n"
            "d t/a\n");
  const std::string cache = root_ + "/cache";
  Spawn(
      WithDaemon({"mount", mnt_, "--cache", cache, "--prefetch", record_, "--prefetch-jobs", "3"}));
  ASSERT_TRUE(WaitMounted()) << Log();
  ASSERT_TRUE(WaitForLog("prefetch done:")) << Log();
  EXPECT_NE(Log().find("prefetch done: 2 directories, 3 files, 5243884 bytes in "),
            std::string::npos)
      << Log();
  EXPECT_NE(Log().find(" s (2 skipped)"), std::string::npos) << Log();
  // Nothing was read through the mount yet: what the cache holds is what
  // the prefetch put there, the recorded blobs and no more (big1 twice: its
  // chunks, and the whole blob assembled from them; big2 would add 6 MiB).
  EXPECT_GE(BlobBytes(cache), uint64_t{5243884});
  EXPECT_LT(BlobBytes(cache), uint64_t{5243884} + (6 << 20));

  // Open them (looking the names up needs the daemon for the root), then
  // the daemon goes: the bytes come from the cache alone.
  std::vector<std::string> names = {"big1", "small", "big2"};
  std::vector<int> fds;
  for (const std::string& n : names) {
    fds.push_back(::open((mnt_ + "/t/sub/deeper/" + n).c_str(), O_RDONLY));
    ASSERT_GE(fds.back(), 0) << n << ": " << Log();
  }
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  WaitExit(daemon);
  auto read_all = [](int fd, size_t size) {
    std::string got(size, '\0');
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd, got.data() + done, size - done, static_cast<off_t>(done));
      if (n <= 0) return std::string("read failed: ") + std::strerror(errno);
      done += static_cast<size_t>(n);
    }
    return got;
  };
  EXPECT_TRUE(read_all(fds[0], 5 << 20) == RandomBytes(5 << 20, 1));
  EXPECT_TRUE(read_all(fds[1], 1000) == RandomBytes(1000, 3));
  // Not in the record, so not in the cache (6 MiB: opening it fetched no
  // chunk): without the daemon, EIO.
  std::string big2 = read_all(fds[2], 6 << 20);
  EXPECT_EQ(big2.rfind("read failed", 0), 0u) << "big2 was served without the daemon";
  for (int fd : fds) ::close(fd);
}

TEST_F(PrefetchE2eTest, AMalformedRecordIsRefusedNamingTheLineAndNothingIsMounted) {
  WriteFile(record_, "castor-access-record 1\nd t\nq t/a\n");
  pid_t m = Spawn(WithDaemon({"mount", mnt_, "--prefetch", record_}));
  int status = WaitExit(m);
  EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1) << Log();
  EXPECT_NE(Log().find("access record " + record_ + " line 3: unknown entry kind \"q\""),
            std::string::npos)
      << Log();
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));

  WriteFile(record_, "castor-access-record 7\n");
  m = Spawn(WithDaemon({"mount", mnt_, "--prefetch", record_}));
  status = WaitExit(m);
  EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1) << Log();
  EXPECT_NE(Log().find("line 1: unsupported version \"7\""), std::string::npos) << Log();
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));
}

}  // namespace
}  // namespace castor
