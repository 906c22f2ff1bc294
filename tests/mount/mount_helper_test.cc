// castor in fstab: mount(8) runs /sbin/mount.fuse.castor (the build tree's,
// put there for the test under a lock and removed after), which returns once
// the mount is live; umount ends it. A bad store or `rw` fails with a message
// and leaves no mount. Also `castor mount` tells a NOTIFY_SOCKET READY=1
// once the mount is live and STOPPING=1 when it unmounts.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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
using castore::testing::FuseMountGuard;
using castore::testing::IsFuseMount;
using castore::testing::SlurpFile;
using castore::testing::TempDir;

constexpr char kInstalledHelper[] = "/sbin/mount.fuse.castor";

// Whether a process whose command line contains `needle` runs.
bool ProcessWithArgRuns(const std::string& needle) {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmdline = SlurpFile(std::string("/proc/") + e->d_name + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find("mount --background") != std::string::npos &&
        cmdline.find(needle) != std::string::npos) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

bool WaitUntilGone(const std::string& mountpoint) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (ProcessWithArgRuns(mountpoint)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class MountHelperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "needs root and /dev/fuse";
    }
    // Tests of this binary run in parallel processes: one at a time owns
    // /sbin/mount.fuse.castor.
    lock_fd_ = ::open("/tmp/castor-mount-helper-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(lock_fd_, 0);
    ASSERT_EQ(::flock(lock_fd_, LOCK_EX), 0);
    struct stat st;
    // A copy of ours left by a test that crashed is replaced; anything else
    // is not touched.
    if (::lstat(kInstalledHelper, &st) == 0 &&
        SlurpFile(kInstalledHelper) != SlurpFile(CASTOR_MOUNT_HELPER)) {
      GTEST_SKIP() << kInstalledHelper << " is installed; not replacing it for the test";
    }
    ::unlink(kInstalledHelper);
    std::error_code ec;
    std::filesystem::copy_file(CASTOR_MOUNT_HELPER, kInstalledHelper, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(::chmod(kInstalledHelper, 0755), 0);
    installed_ = true;

    ASSERT_EQ(::mkdir((dir_ / "data").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
    std::FILE* f = std::fopen((dir_ / "data/hello.txt").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("hello from fstab\n", f);
    std::fclose(f);
    auto r = castore::testing::Run(
        {CastorBinary(), "import", "--store", store_, "--name", "demo", dir_ / "data"},
        dir_ / "import");
    ASSERT_EQ(r.code, 0) << r.err;
  }

  void TearDown() override {
    if (IsFuseMount(mnt_)) castore::testing::Run({"umount", mnt_}, dir_ / "umount");
    if (installed_) ::unlink(kInstalledHelper);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  TempDir dir_{"mount-helper"};
  std::string store_ = dir_ / "store";
  std::string mnt_ = dir_ / "mnt";
  int lock_fd_ = -1;
  bool installed_ = false;
  FuseMountGuard guard_{mnt_};
};

TEST_F(MountHelperTest, MountTypeFuseCastorMountsTheStoreAndUmountEndsIt) {
  auto r = castore::testing::Run(
      {"mount", "-t", "fuse.castor", store_, mnt_, "-o", "ro,nodev,nosuid,list-root"},
      dir_ / "mount");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // Live when mount returns: no waiting.
  ASSERT_TRUE(IsFuseMount(mnt_));
  EXPECT_EQ(SlurpFile(mnt_ + "/demo/hello.txt"), "hello from fstab\n");
  EXPECT_TRUE(std::filesystem::exists(mnt_ + "/demo"));
  EXPECT_TRUE(ProcessWithArgRuns(mnt_));

  r = castore::testing::Run({"umount", mnt_}, dir_ / "umount");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(IsFuseMount(mnt_));
  EXPECT_TRUE(WaitUntilGone(mnt_)) << "castor mount still runs after umount";
}

TEST_F(MountHelperTest, AnFstabLineMounts) {
  const std::string fstab = dir_ / "fstab";
  std::FILE* f = std::fopen(fstab.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fprintf(f, "%s %s fuse.castor ro,noauto,noatime,list-root 0 0\n", store_.c_str(),
               mnt_.c_str());
  std::fclose(f);
  auto r = castore::testing::Run({"mount", "-T", fstab, mnt_}, dir_ / "mount");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_TRUE(IsFuseMount(mnt_));
  EXPECT_EQ(SlurpFile(mnt_ + "/demo/hello.txt"), "hello from fstab\n");
  r = castore::testing::Run({"umount", mnt_}, dir_ / "umount");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(WaitUntilGone(mnt_));
}

TEST_F(MountHelperTest, ABadStoreFailsWithAMessageAndLeavesNoMount) {
  // A file where the store's directory should be.
  const std::string bad = dir_ / "not-a-store";
  std::FILE* f = std::fopen(bad.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  auto r =
      castore::testing::Run({"mount", "-t", "fuse.castor", bad, mnt_, "-o", "ro"}, dir_ / "mount");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("castor: "), std::string::npos) << r.out << r.err;
  EXPECT_FALSE(IsFuseMount(mnt_));
  EXPECT_TRUE(WaitUntilGone(mnt_));
}

TEST_F(MountHelperTest, RwAndUnknownOptionsAreRefused) {
  auto r = castore::testing::Run({"mount", "-t", "fuse.castor", store_, mnt_, "-o", "rw"},
                                 dir_ / "mount");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("read-only"), std::string::npos) << r.err;
  EXPECT_FALSE(IsFuseMount(mnt_));
  r = castore::testing::Run({"mount", "-t", "fuse.castor", store_, mnt_, "-o", "ro,frobnicate"},
                            dir_ / "mount");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("unknown option 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_FALSE(IsFuseMount(mnt_));
}

TEST_F(MountHelperTest, LogFileOptionKeepsTheBackgroundMountsLog) {
  const std::string log = dir_ / "mount.log";
  auto r = castore::testing::Run(
      {"mount", "-t", "fuse.castor", store_, mnt_, "-o", "ro,log-file=" + log}, dir_ / "mount");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_TRUE(IsFuseMount(mnt_));
  // Written as logged: there while the mount runs.
  EXPECT_NE(SlurpFile(log).find("mounted castor on " + mnt_), std::string::npos) << SlurpFile(log);
  r = castore::testing::Run({"umount", mnt_}, dir_ / "umount");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(WaitUntilGone(mnt_));
  EXPECT_NE(SlurpFile(log).find("unmounted " + mnt_), std::string::npos) << SlurpFile(log);
}

TEST_F(MountHelperTest, AnUnwritableLogFileFailsTheMountWithAMessage) {
  // Under a regular file: no one can create it, root included.
  const std::string log = dir_ / "a-file/mount.log";
  std::FILE* f = std::fopen((dir_ / "a-file").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  auto r = castore::testing::Run(
      {"mount", "-t", "fuse.castor", store_, mnt_, "-o", "ro,log-file=" + log}, dir_ / "mount");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("cannot open log file " + log), std::string::npos) << r.out << r.err;
  EXPECT_FALSE(IsFuseMount(mnt_));
  EXPECT_TRUE(WaitUntilGone(mnt_));
}

TEST_F(MountHelperTest, WithoutALogFileTheBackgroundMountLogsToSyslog) {
  // Stands in for syslog at /dev/log, where there is none (a machine with a
  // syslog daemon keeps it; the test does not take its socket).
  struct stat st;
  if (::lstat("/dev/log", &st) == 0) GTEST_SKIP() << "/dev/log exists (a syslog daemon runs)";
  castore::testing::ManagerSocket syslog("/dev/log");
  ASSERT_TRUE(syslog.bound());
  struct Unlink {
    ~Unlink() { ::unlink("/dev/log"); }
  } unlink_dev_log;
  auto r = castore::testing::Run({"mount", "-t", "fuse.castor", store_, mnt_, "-o", "ro"},
                                 dir_ / "mount");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_TRUE(IsFuseMount(mnt_));
  // Other processes may log meanwhile: look for ours.
  std::string line;
  for (int i = 0; i < 100 && line.find("mounted castor on " + mnt_) == std::string::npos; ++i) {
    line = syslog.Receive(10000);
    if (line.empty()) break;
  }
  EXPECT_NE(line.find("mounted castor on " + mnt_), std::string::npos) << line;
  EXPECT_NE(line.find("castor["), std::string::npos) << "ident and pid: " << line;
  r = castore::testing::Run({"umount", mnt_}, dir_ / "umount");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(WaitUntilGone(mnt_));
}

using castore::testing::ManagerSocket;

TEST(MountNotifyTest, ReadyOnceMountedThenStoppingOnSigterm) {
  if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "needs root and /dev/fuse";
  }
  TempDir dir("mount-notify");
  const std::string mnt = dir / "mnt";
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
  FuseMountGuard guard(mnt);
  ManagerSocket manager(dir / "notify");
  ASSERT_TRUE(manager.bound());
  ::setenv("NOTIFY_SOCKET", (dir / "notify").c_str(), 1);
  Child mount = Child::Spawn({CastorBinary(), "mount", "--store", dir / "store", mnt}, dir / "log",
                             dir / "log");
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(mount.started());
  std::string ready = manager.Receive();
  EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << ready << SlurpFile(dir / "log");
  EXPECT_TRUE(IsFuseMount(mnt)) << "READY=1 before the mount was live";
  mount.Signal(SIGTERM);
  // The mount keeps its connection in the fd store (FDSTORE=1 after
  // READY=1, FDSTOREREMOVE=1 before it unmounts): skip those.
  std::string next;
  do {
    next = manager.Receive();
  } while (next.rfind("FDSTORE", 0) == 0);
  EXPECT_EQ(next, "STOPPING=1");
  EXPECT_EQ(mount.Wait(std::chrono::seconds(20)), 0) << SlurpFile(dir / "log");
  EXPECT_FALSE(IsFuseMount(mnt));
}

}  // namespace
}  // namespace castor
