// Live takeover of a real mount by another `castor mount` process
// (--takeover-listen / --takeover): files held open, a working directory
// inside the mount and directory fds survive the handover with the same
// bytes and inode numbers, the predecessor exits 0 without unmounting, a
// second takeover works, and a successor that refuses or dies — or garbage
// on the socket — leaves the running mount serving.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "castore/testing/files.h"
#include "castore/testing/notify_socket.h"
#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

using castore::testing::Child;
using castore::testing::FuseMountGuard;
using castore::testing::RandomBytes;
using castore::testing::RunResult;
using castore::testing::SlurpFile;
using castore::testing::TempDir;
using castore::testing::WriteFile;

bool CanMount() { return ::access("/dev/fuse", R_OK | W_OK) == 0; }

std::string PreadAll(int fd, size_t size) {
  std::string out(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(done));
    if (n <= 0) return "read failed: " + std::string(n < 0 ? std::strerror(errno) : "EOF");
    done += static_cast<size_t>(n);
  }
  return out;
}

class TakeoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanMount() || geteuid() != 0) GTEST_SKIP() << "needs /dev/fuse and root";
    bin_ = castore::testing::CastorBinary();
    root_ = dir_.path();
    store_ = root_ + "/store";
    mnt_ = root_ + "/mnt";
    sock_ = root_ + "/takeover.sock";
    std::string src = root_ + "/src";
    big_ = RandomBytes(3 << 20, 7);
    deep_ = RandomBytes(70000, 8);
    ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((src + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((src + "/sub/deep").c_str(), 0755), 0);
    WriteFile(src + "/big", big_);
    WriteFile(src + "/sub/small", "small bytes");
    WriteFile(src + "/sub/fresh", "looked up only after the takeover");
    WriteFile(src + "/sub/fresh2", "looked up from the held cwd");
    WriteFile(src + "/sub/deep/f", deep_);
    ASSERT_EQ(::symlink("sub/small", (src + "/link").c_str()), 0);
    RunResult r = castore::testing::Run({bin_, "import", "--store", store_, "--name", "t", src},
                                        root_ + "/import");
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
    guard_.emplace(mnt_);
  }

  // `castor mount` of the store on mnt_ with `extra` flags, output to `log`.
  Child StartMount(std::vector<std::string> extra, const std::string& log) {
    std::vector<std::string> argv = {bin_, "mount", mnt_, "--store", store_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Child::Spawn(argv, root_ + "/" + log, root_ + "/" + log);
  }

  // The file read with `cat` within 15 s (so a hung mount fails the test
  // instead of hanging it); "<timeout>" or "<exit N>" otherwise.
  std::string Cat(const std::string& path) {
    RunResult r = castore::testing::Run({"cat", path}, root_ + "/cat", std::chrono::seconds(15));
    if (r.code == -1) return "<timeout>";
    if (r.code != 0) return "<exit " + std::to_string(r.code) + ": " + r.err + ">";
    return r.out;
  }

  static ino_t Ino(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  }

  // Connects to the takeover socket; -1 on failure.
  int Connect() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock_.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return -1;
    }
    timeval tv{15, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }

  // What the listener answers to `bytes`: everything until it closes.
  std::string Exchange(const std::string& bytes) {
    int fd = Connect();
    if (fd < 0) return "<connect failed>";
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return reply;
  }

  static std::string Frame(std::string_view tag, std::string_view payload) {
    std::string f(tag);
    auto n = static_cast<uint32_t>(payload.size());
    for (int i = 0; i < 4; ++i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    f.append(payload);
    return f;
  }

  TempDir dir_{"takeover"};
  std::string bin_, root_, store_, mnt_, sock_, big_, deep_;
  std::optional<FuseMountGuard> guard_;
};

TEST_F(TakeoverTest, HandoverKeepsOpenFilesWorkingDirectoriesAndInodeNumbers) {
  Child first = StartMount({"--takeover-listen", sock_}, "first.log");
  ASSERT_TRUE(castore::testing::WaitForFuseMount(mnt_)) << SlurpFile(root_ + "/first.log");
  const std::string t = mnt_ + "/t";

  // Held across the takeover: an open file, an O_DIRECTORY fd, and a child
  // whose working directory is t/sub.
  int file = ::open((t + "/big").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  char head[1000];
  ASSERT_EQ(::read(file, head, sizeof(head)), 1000);
  int dir = ::open((t + "/sub").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  ino_t big_ino = Ino(t + "/big"), sub_ino = Ino(t + "/sub"), t_ino = Ino(t);
  ino_t link_ino = 0;
  {
    struct stat st;
    ASSERT_EQ(::lstat((t + "/link").c_str(), &st), 0);
    link_ino = st.st_ino;
  }
  ASSERT_NE(big_ino, 0u);
  int go[2], result[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(result), 0);
  pid_t cwd_child = ::fork();
  ASSERT_GE(cwd_child, 0);
  if (cwd_child == 0) {
    ::close(go[1]);
    ::close(result[0]);
    if (::chdir((t + "/sub").c_str()) != 0) ::_exit(2);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(3);
    // Relative lookups through the held cwd, after the takeover.
    int fd = ::open("fresh2", O_RDONLY);
    if (fd < 0) {
      std::string err = std::string("open: ") + std::strerror(errno);
      (void)!::write(result[1], err.data(), err.size());
      ::_exit(4);
    }
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) (void)!::write(result[1], buf, static_cast<size_t>(n));
    ::_exit(0);
  }
  ::close(go[0]);
  ::close(result[1]);

  Child second = StartMount({"--takeover", sock_, "--takeover-listen", sock_}, "second.log");
  EXPECT_EQ(first.Wait(std::chrono::seconds(30)), 0) << SlurpFile(root_ + "/first.log");
  ASSERT_TRUE(second.Running()) << SlurpFile(root_ + "/second.log");
  EXPECT_TRUE(castore::testing::IsFuseMount(mnt_));

  // The held file: bytes not read before, and (page cache dropped) the
  // whole file again, through the handle the first process opened.
  ::posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED);
  EXPECT_TRUE(PreadAll(file, big_.size()) == big_) << "held fd reads other bytes";
  // The held directory fd: lookups below the inode the first process gave.
  struct stat st;
  ASSERT_EQ(::fstatat(dir, "fresh", &st, 0), 0) << std::strerror(errno);
  int fresh = ::openat(dir, "deep/f", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fresh, 0) << std::strerror(errno);
  EXPECT_TRUE(PreadAll(fresh, deep_.size()) == deep_);
  ::close(fresh);
  // The held working directory.
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  std::string from_cwd;
  char buf[256];
  ssize_t n;
  while ((n = ::read(result[0], buf, sizeof(buf))) > 0)
    from_cwd.append(buf, static_cast<size_t>(n));
  int status = 0;
  ASSERT_EQ(::waitpid(cwd_child, &status, 0), cwd_child);
  EXPECT_EQ(castore::testing::ExitCode(status), 0) << from_cwd;
  EXPECT_EQ(from_cwd, "looked up from the held cwd");
  // New path lookups, and the same inode numbers.
  EXPECT_EQ(Cat(t + "/sub/fresh"), "looked up only after the takeover");
  EXPECT_EQ(Cat(t + "/link"), "small bytes");
  EXPECT_EQ(Ino(t + "/big"), big_ino);
  EXPECT_EQ(Ino(t + "/sub"), sub_ino);
  EXPECT_EQ(Ino(t), t_ino);
  ASSERT_EQ(::lstat((t + "/link").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, link_ino);

  // A second takeover, of the successor.
  Child third = StartMount({"--takeover", sock_}, "third.log");
  EXPECT_EQ(second.Wait(std::chrono::seconds(30)), 0) << SlurpFile(root_ + "/second.log");
  ASSERT_TRUE(third.Running()) << SlurpFile(root_ + "/third.log");
  ::posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED);
  EXPECT_TRUE(PreadAll(file, big_.size()) == big_);
  EXPECT_EQ(Cat(t + "/sub/deep/f"), deep_);
  EXPECT_EQ(Ino(t + "/big"), big_ino);
  ASSERT_EQ(::fstatat(dir, "small", &st, 0), 0) << std::strerror(errno);

  ::close(file);
  ::close(dir);
  ::close(go[1]);
  ::close(result[0]);
  // The last one unmounts on SIGTERM as usual.
  third.Signal(SIGTERM);
  EXPECT_EQ(third.Wait(), 0) << SlurpFile(root_ + "/third.log");
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));
}

TEST_F(TakeoverTest, RefusingOrDyingSuccessorLeavesTheMountServing) {
  Child first = StartMount({"--takeover-listen", sock_}, "first.log");
  ASSERT_TRUE(castore::testing::WaitForFuseMount(mnt_)) << SlurpFile(root_ + "/first.log");
  const std::string t = mnt_ + "/t";
  int file = ::open((t + "/big").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  ino_t big_ino = Ino(t + "/big");

  // A successor for another mount point refuses the state.
  std::string other = root_ + "/other";
  ASSERT_EQ(::mkdir(other.c_str(), 0755), 0);
  RunResult refused = castore::testing::Run(
      {bin_, "mount", other, "--store", store_, "--takeover", sock_}, root_ + "/refused");
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.err.find("not on"), std::string::npos) << refused.err;
  EXPECT_TRUE(first.Running());
  EXPECT_EQ(Cat(t + "/sub/small"), "small bytes");

  // A successor that dies after receiving the state and the fd, before
  // it says it is ready.
  {
    int fd = Connect();
    ASSERT_GE(fd, 0);
    std::string hello = Frame("HELO", "castor-takeover 1");
    ASSERT_EQ(::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(hello.size()));
    char header[8];
    ASSERT_EQ(::recv(fd, header, sizeof(header), MSG_WAITALL), 8);
    EXPECT_EQ(std::string(header, 4), "STAT");
    ::close(fd);  // the received descriptor, if any, went with the socket buffer
  }
  EXPECT_EQ(Cat(t + "/sub/deep/f"), deep_);
  ::posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED);
  EXPECT_TRUE(PreadAll(file, big_.size()) == big_);
  EXPECT_TRUE(first.Running());

  // A successor killed while restoring: spawn one and SIGKILL it at once.
  Child doomed = StartMount({"--takeover", sock_}, "doomed.log");
  doomed.Kill();
  EXPECT_EQ(Cat(t + "/sub/fresh"), "looked up only after the takeover");
  // Whoever serves now (the first process, or the doomed one if it
  // committed before it died: then the mount is gone) — the first must.
  EXPECT_TRUE(first.Running()) << SlurpFile(root_ + "/first.log");
  EXPECT_EQ(Ino(t + "/big"), big_ino);

  // After all that a real takeover still works.
  Child second = StartMount({"--takeover", sock_}, "second.log");
  EXPECT_EQ(first.Wait(std::chrono::seconds(30)), 0) << SlurpFile(root_ + "/first.log");
  ::posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED);
  EXPECT_TRUE(PreadAll(file, big_.size()) == big_);
  ::close(file);
  second.Signal(SIGTERM);
  EXPECT_EQ(second.Wait(), 0) << SlurpFile(root_ + "/second.log");
}

TEST_F(TakeoverTest, GarbageOnTheSocketIsRefusedAndTheMountKeepsServing) {
  Child first = StartMount({"--takeover-listen", sock_}, "first.log");
  ASSERT_TRUE(castore::testing::WaitForFuseMount(mnt_)) << SlurpFile(root_ + "/first.log");
  const std::string t = mnt_ + "/t";
  EXPECT_EQ(Cat(t + "/sub/small"), "small bytes");

  std::string reply = Exchange("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 4), "FAIL") << reply;
  // A right tag with an absurd length, a wrong greeting, the wrong frame.
  std::string huge = "HELO";
  huge.append("\xff\xff\xff\x7f", 4);
  EXPECT_EQ(Exchange(huge).substr(0, 4), "FAIL");
  EXPECT_EQ(Exchange(Frame("HELO", "castor-takeover 99")).substr(0, 4), "FAIL");
  EXPECT_EQ(Exchange(Frame("REDY", "")).substr(0, 4), "FAIL");
  // A truncated greeting, the connection closed half way.
  EXPECT_EQ(Exchange(Frame("HELO", "castor-takeover 1").substr(0, 12)).substr(0, 4), "FAIL");

  EXPECT_TRUE(first.Running());
  EXPECT_EQ(Cat(t + "/sub/deep/f"), deep_);
  EXPECT_EQ(Cat(t + "/big"), big_);
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait(), 0) << SlurpFile(root_ + "/first.log");
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));
  // The socket goes with the mount.
  EXPECT_NE(::access(sock_.c_str(), F_OK), 0);
}

// Stage 2: under a service manager (a fake NOTIFY_SOCKET receiver here) the
// mount keeps its /dev/fuse fd and a memfd with its state in the fd store;
// after kill -9 a new process started with them as LISTEN_FDS re-attaches:
// the file held open reads on, new lookups work, inode numbers stay.
TEST_F(TakeoverTest, KilledMountReattachesThroughTheFdStore) {
  const std::string notify = root_ + "/notify";
  castore::testing::ManagerSocket manager(notify);
  ASSERT_TRUE(manager.bound());
  ::setenv("NOTIFY_SOCKET", notify.c_str(), 1);
  Child first = StartMount({}, "first.log");
  ::unsetenv("NOTIFY_SOCKET");
  // Owned here, so a failing test ends the connection (and its mount
  // guard does not wait on a connection nobody serves).
  UniqueFd kept_fuse, kept_session;
  int fuse_fd = -1, session_fd = -1;
  bool ready = false;
  for (int i = 0; i < 6 && (fuse_fd < 0 || session_fd < 0 || !ready); ++i) {
    std::vector<int> fds;
    std::string msg = manager.Receive(20000, &fds);
    if (msg.rfind("READY=1", 0) == 0) ready = true;
    if (msg == "FDSTORE=1\nFDNAME=fuse" && fds.size() == 1) fuse_fd = fds[0];
    if (msg == "FDSTORE=1\nFDNAME=fuse-session" && fds.size() == 1) session_fd = fds[0];
  }
  ASSERT_TRUE(ready) << SlurpFile(root_ + "/first.log");
  kept_fuse.Reset(fuse_fd);
  kept_session.Reset(session_fd);
  ASSERT_GE(fuse_fd, 0);
  ASSERT_GE(session_fd, 0);
  const std::string t = mnt_ + "/t";
  int file = ::open((t + "/big").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file, 0);
  ino_t big_ino = Ino(t + "/big"), sub_ino = Ino(t + "/sub");
  // The copy is refreshed every second when something changed.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  first.Kill();
  // (No statfs here: nobody serves the live connection until the restart.)

  // What systemd does on restart: the kept fds as 3 and 4, LISTEN_* set.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int a = ::fcntl(fuse_fd, F_DUPFD_CLOEXEC, 10), b = ::fcntl(session_fd, F_DUPFD_CLOEXEC, 10);
    if (a < 0 || b < 0 || ::dup2(a, 3) != 3 || ::dup2(b, 4) != 4) ::_exit(120);
    int log = ::open((root_ + "/second.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::setenv("LISTEN_FDS", "2", 1);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDNAMES", "fuse:fuse-session", 1);
    ::setenv("NOTIFY_SOCKET", notify.c_str(), 1);
    ::execl(bin_.c_str(), bin_.c_str(), "mount", mnt_.c_str(), "--store", store_.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(121);
  }
  struct KillOnExit {
    pid_t pid;
    ~KillOnExit() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  // Like systemd, the test keeps its copies while the new process runs.
  std::string msg;
  for (int i = 0; i < 4 && msg.rfind("READY=1", 0) != 0; ++i) msg = manager.Receive(20000);
  ASSERT_EQ(msg.rfind("READY=1", 0), 0u) << SlurpFile(root_ + "/second.log");
  EXPECT_NE(SlurpFile(root_ + "/second.log").find("re-attached"), std::string::npos);

  ::posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED);
  EXPECT_TRUE(PreadAll(file, big_.size()) == big_) << SlurpFile(root_ + "/second.log");
  EXPECT_EQ(Cat(t + "/sub/fresh"), "looked up only after the takeover");
  EXPECT_EQ(Ino(t + "/big"), big_ino);
  EXPECT_EQ(Ino(t + "/sub"), sub_ino);
  ::close(file);
  kept_fuse.Reset();
  kept_session.Reset();
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  reaper.pid = -1;
  EXPECT_EQ(castore::testing::ExitCode(status), 0) << SlurpFile(root_ + "/second.log");
  EXPECT_FALSE(castore::testing::IsFuseMount(mnt_));
}

}  // namespace
}  // namespace castor
