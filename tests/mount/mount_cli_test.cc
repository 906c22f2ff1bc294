// The `castor mount` binary: runs in the foreground, unmounts cleanly and
// exits 0 on SIGINT/SIGTERM, and replaces a stale mount left by a killed
// daemon. Uses memory:// services (an empty store), so it needs no import.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/paths.h"
#include "mount_fixture.h"

extern char** environ;

namespace castor::testing {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;

class MountCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
    bin_ = castor::castore::testing::CastorBinary();
    char tmpl[] = "/tmp/castor-cli-mount-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    mnt_ = dir_ + "/mnt";
    ASSERT_EQ(mkdir(mnt_.c_str(), 0755), 0);
  }
  void TearDown() override {
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    // Whatever happened, leave no mount behind.
    for (int i = 0; i < 3 && IsFuse(); ++i) umount2(mnt_.c_str(), MNT_DETACH);
    if (!mnt_.empty()) {
      struct statfs s;
      if (statfs(mnt_.c_str(), &s) != 0 && errno == ENOTCONN) umount2(mnt_.c_str(), MNT_DETACH);
      rmdir(mnt_.c_str());
      rmdir(dir_.c_str());
    }
  }

  pid_t Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {bin_,        "mount",
                                     mnt_,        "--blob-service-addr",
                                     "memory://", "--directory-service-addr",
                                     "memory://", "--root-service-addr",
                                     "memory://"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    EXPECT_EQ(posix_spawn(&pid, bin_.c_str(), nullptr, nullptr, argv.data(), environ), 0);
    children_.push_back(pid);
    return pid;
  }

  // Runs castor with `args` to completion; its exit status.
  int Run(std::vector<std::string> args) {
    args.insert(args.begin(), bin_);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    if (posix_spawn(&pid, bin_.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
    children_.push_back(pid);
    return WaitExit(pid);
  }

  bool IsFuse() {
    struct statfs s;
    return statfs(mnt_.c_str(), &s) == 0 && s.f_type == kFuseSuperMagic;
  }
  bool WaitMounted() {
    for (int i = 0; i < 500; ++i) {
      if (IsFuse()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // The exit status, or -1 after a timeout.
  int WaitExit(pid_t pid) {
    for (int i = 0; i < 1000; ++i) {
      int status;
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        std::erase(children_, pid);
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  std::string bin_, dir_, mnt_;
  std::vector<pid_t> children_;
};

TEST_F(MountCliTest, SigtermUnmountsAndExitsZero) {
  pid_t pid = Start();
  ASSERT_TRUE(WaitMounted());
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(IsFuse());
}

TEST_F(MountCliTest, SigintUnmountsAndExitsZero) {
  pid_t pid = Start({"--list-root", "--threads", "3"});
  ASSERT_TRUE(WaitMounted());
  // An empty store lists nothing, but listing is allowed.
  DIR* d = opendir(mnt_.c_str());
  ASSERT_NE(d, nullptr);
  errno = 0;
  EXPECT_EQ(readdir(d), nullptr);
  EXPECT_EQ(errno, 0);
  closedir(d);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(IsFuse());
}

TEST_F(MountCliTest, ExternalUnmountEndsTheDaemonWithZero) {
  pid_t pid = Start();
  ASSERT_TRUE(WaitMounted());
  ASSERT_EQ(umount2(mnt_.c_str(), MNT_DETACH), 0);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(MountCliTest, StaleMountOfAKilledDaemonIsReplaced) {
  pid_t first = Start();
  ASSERT_TRUE(WaitMounted());
  ASSERT_EQ(kill(first, SIGKILL), 0);
  WaitExit(first);
  struct statfs s;
  errno = 0;
  EXPECT_EQ(statfs(mnt_.c_str(), &s), -1);
  // ECONNABORTED: a connection that was served through io_uring.
  EXPECT_TRUE(errno == ENOTCONN || errno == ECONNABORTED) << strerror(errno);
  pid_t second = Start();
  ASSERT_TRUE(WaitMounted());
  // The new daemon answers: listing the root is EPERM (not ENOTCONN).
  DIR* d = opendir(mnt_.c_str());
  ASSERT_NE(d, nullptr) << strerror(errno);
  errno = 0;
  EXPECT_EQ(readdir(d), nullptr);
  EXPECT_EQ(errno, EPERM);
  closedir(d);
  ASSERT_EQ(kill(second, SIGTERM), 0);
  int status = WaitExit(second);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Nothing stacked: the mount point is a plain directory again.
  EXPECT_EQ(statfs(mnt_.c_str(), &s), 0);
  EXPECT_NE(s.f_type, kFuseSuperMagic);
}

void WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(fd);
  chmod(path.c_str(), mode);
}

TEST_F(MountCliTest, ImportedTreeReadsBackIdenticallyFromAnEmbeddedStore) {
  std::string src = dir_ + "/src", store = dir_ + "/store";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((src + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((src + "/sub/deeper").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((src + "/empty").c_str(), 0755), 0);
  WriteFile(src + "/a", "hello\n");
  WriteFile(src + "/sub/run.sh", "#!/bin/sh\necho hi\n", 0755);
  std::string big;
  for (int i = 0; i < 300000; ++i) big.push_back(static_cast<char>(i * 7 + i / 251));
  WriteFile(src + "/sub/deeper/big", big);
  WriteFile(src + "/sub/deeper/copy_of_a", "hello\n");
  ASSERT_EQ(symlink("../a", (src + "/sub/link").c_str()), 0);
  int status = Run({"import", "--store", store, "--name", "t", src});
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  std::vector<std::string> args = {bin_, "mount", mnt_, "--store", store, "--show-xattr"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, bin_.c_str(), nullptr, nullptr, argv.data(), environ), 0);
  children_.push_back(pid);
  ASSERT_TRUE(WaitMounted());
  std::string diff = "diff -r --no-dereference '" + src + "' '" + mnt_ + "/t'";
  EXPECT_EQ(std::system(diff.c_str()), 0) << diff;
  struct stat st, st2;
  ASSERT_EQ(stat((mnt_ + "/t/sub/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0555);
  ASSERT_EQ(stat((mnt_ + "/t/sub/deeper/copy_of_a").c_str(), &st2), 0);
  ASSERT_EQ(stat((mnt_ + "/t/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, st2.st_ino);
  char value[128];
  EXPECT_GT(
      getxattr((mnt_ + "/t/a").c_str(), "user.tvix.castore.blob.digest", value, sizeof(value)), 3);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_FALSE(IsFuse());
  std::system(("rm -rf '" + src + "' '" + store + "'").c_str());
}

// Whether /proc/self/mountinfo lists a mount at `path`.
bool InMountinfo(const std::string& path) {
  FILE* f = std::fopen("/proc/self/mountinfo", "r");
  if (f == nullptr) return false;
  char line[4096];
  bool found = false;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::string(line).find(" " + path + " ") != std::string::npos) found = true;
  }
  std::fclose(f);
  return found;
}

// The super-block options /proc/self/mountinfo lists for the mount at
// `path` (after the " - fuse <source> " part), or "" when there is none.
std::string SuperOptions(const std::string& path) {
  FILE* f = std::fopen("/proc/self/mountinfo", "r");
  if (f == nullptr) return "";
  char line[4096];
  std::string found;
  while (std::fgets(line, sizeof(line), f)) {
    std::string l(line);
    if (l.find(" " + path + " ") == std::string::npos) continue;
    size_t dash = l.find(" - ");
    if (dash == std::string::npos) continue;
    // " - fstype source super_options"
    size_t type_end = l.find(' ', dash + 3);
    size_t source_end = type_end == std::string::npos ? type_end : l.find(' ', type_end + 1);
    if (source_end != std::string::npos) found = l.substr(source_end + 1);
  }
  std::fclose(f);
  while (!found.empty() && (found.back() == '\n' || found.back() == ' ')) found.pop_back();
  return found;
}

bool HasOption(const std::string& options, const std::string& opt) {
  return ("," + options + ",").find("," + opt + ",") != std::string::npos;
}

TEST_F(MountCliTest, AllowOtherIsOffUnlessAskedFor) {
  pid_t pid = Start();
  ASSERT_TRUE(WaitMounted());
  std::string opts = SuperOptions(mnt_);
  EXPECT_TRUE(HasOption(opts, "user_id=0")) << opts;
  EXPECT_FALSE(HasOption(opts, "allow_other")) << opts;
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_EQ(WaitExit(pid), 0);
  ASSERT_FALSE(IsFuse());

  pid = Start({"--allow-other"});
  ASSERT_TRUE(WaitMounted());
  opts = SuperOptions(mnt_);
  EXPECT_TRUE(HasOption(opts, "allow_other")) << opts;
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_EQ(WaitExit(pid), 0);
}

TEST_F(MountCliTest, UnprivilegedUserMountsThroughFusermount) {
  if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
    GTEST_SKIP() << "needs root and setpriv to become another user";
  }
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chown(mnt_.c_str(), 65534, 65534), 0);
  std::vector<std::string> args = {"/usr/bin/setpriv",
                                   "--reuid=65534",
                                   "--regid=65534",
                                   "--clear-groups",
                                   "--",
                                   bin_,
                                   "mount",
                                   mnt_,
                                   "--blob-service-addr",
                                   "memory://",
                                   "--directory-service-addr",
                                   "memory://",
                                   "--root-service-addr",
                                   "memory://"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  children_.push_back(pid);
  bool mounted = false;
  for (int i = 0; i < 500 && !mounted; ++i) {
    mounted = InMountinfo(mnt_);
    if (!mounted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(mounted);
  // Without allow_other even root may not enter a user's FUSE mount.
  struct stat st;
  errno = 0;
  EXPECT_EQ(stat((mnt_ + "/x").c_str(), &st), -1);
  EXPECT_EQ(errno, EACCES);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(InMountinfo(mnt_));
}

TEST_F(MountCliTest, MissingMountPointIsAClearError) {
  std::string gone = mnt_ + "/does-not-exist";
  std::vector<std::string> args = {bin_,        "mount",
                                   gone,        "--blob-service-addr",
                                   "memory://", "--directory-service-addr",
                                   "memory://", "--root-service-addr",
                                   "memory://"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, bin_.c_str(), nullptr, nullptr, argv.data(), environ), 0);
  children_.push_back(pid);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

}  // namespace
}  // namespace castor::testing
