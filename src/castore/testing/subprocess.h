// Test helpers for tests that run programs (the castor binary, mount,
// daemons): Child, a spawned process that is killed and reaped when the
// object goes; Processes, a set of them kept by pid; Run, which spawns a command and waits for it
// with a timeout, capturing stdout and stderr through files; and RAII guards that detach a FUSE
// mount or a tmpfs whatever happened in the test. Header-only, for tests; thread-compatible.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace castor::castore::testing {

inline constexpr long kFuseSuperMagic = 0x65735546;

inline std::string SlurpFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Exit code of a wait status: the code, 128 + signal, or -1 (no status).
inline int ExitCode(int status) {
  if (status < 0) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

class Child {
 public:
  Child() = default;
  // Starts argv[0] (searched in PATH unless it contains a '/') with stdin
  // from /dev/null and stdout / stderr appended to the given files ("" for
  // /dev/null). pid() is -1 when spawning failed.
  static Child Spawn(const std::vector<std::string>& argv, const std::string& out = "",
                     const std::string& err = "") {
    Child c;
    c.pid_ = SpawnProcess(argv, out, err);
    return c;
  }

  // What Spawn does, returning the pid (-1 when spawning failed) for callers
  // that keep processes by pid (Processes).
  static pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& out,
                            const std::string& err) {
    std::vector<char*> cargv;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.empty() ? "/dev/null" : out.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.empty() ? "/dev/null" : err.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = -1;
    if (posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
  }

  Child(Child&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept {
    if (this != &o) {
      Kill();
      pid_ = o.pid_;
      status_ = o.status_;
      o.pid_ = -1;
    }
    return *this;
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Kill(); }

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  // Whether it still runs (reaps it when it ended).
  bool Running() {
    if (pid_ <= 0) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }

  // Waits up to `timeout`: the exit code (128 + signal when killed), or -1
  // when it is still running (it is left running).
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (Running()) {
      if (std::chrono::steady_clock::now() >= until) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return ExitCode(status_);
  }

  // Sends `sig`; for SIGKILL also reaps it.
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    if (::waitpid(pid_, &status, 0) == pid_) status_ = status;
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// The processes a test started, by pid: each still running is killed
// (SIGKILL) and reaped when the set goes, so a test that fails midway leaves
// no daemon or mount process behind.
class Processes {
 public:
  Processes() = default;
  Processes(const Processes&) = delete;
  Processes& operator=(const Processes&) = delete;
  ~Processes() { KillAll(); }

  // Child::Spawn's process, kept in the set; -1 when spawning failed.
  pid_t Spawn(const std::vector<std::string>& argv, const std::string& out,
              const std::string& err) {
    pid_t pid = Child::SpawnProcess(argv, out, err);
    if (pid > 0) pids_.push_back(pid);
    return pid;
  }

  // Waits up to `timeout` for `pid` to end: its wait status (as waitpid
  // gives it), or -1 when it still runs (it is left running).
  int WaitStatus(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        std::erase(pids_, pid);
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  void KillAll() {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    pids_.clear();
  }

 private:
  std::vector<pid_t> pids_;
};

// Whether wait status `status` says the process exited with `code`.
inline bool ExitedWith(int status, int code) {
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

// `args` with every castore service (blob, directory, root) at `addr`.
inline std::vector<std::string> WithServiceAddr(std::vector<std::string> args,
                                                const std::string& addr) {
  for (const char* flag :
       {"--blob-service-addr", "--directory-service-addr", "--root-service-addr"}) {
    args.push_back(flag);
    args.push_back(addr);
  }
  return args;
}

struct RunResult {
  int code = -1;  // exit code, 128 + signal, -1 on timeout (the child is killed)
  std::string out, err;
};

// Runs argv to completion (at most `timeout`), output through files named
// `scratch`.out / .err (overwritten).
inline RunResult Run(const std::vector<std::string>& argv, const std::string& scratch,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::string out = scratch + ".out", err = scratch + ".err";
  ::unlink(out.c_str());
  ::unlink(err.c_str());
  Child c = Child::Spawn(argv, out, err);
  RunResult r;
  if (!c.started()) {
    r.err = "spawn failed: " + argv[0];
    return r;
  }
  r.code = c.Wait(timeout);
  c.Kill();
  r.out = SlurpFile(out);
  r.err = SlurpFile(err);
  return r;
}

inline bool IsFuseMount(const std::string& path) {
  struct statfs s;
  return ::statfs(path.c_str(), &s) == 0 && s.f_type == kFuseSuperMagic;
}

// Waits up to `timeout` for `path` to become a FUSE mount.
inline bool WaitForFuseMount(const std::string& path,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!IsFuseMount(path)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Detaches whatever FUSE mount (live or dead) is left on `path` when it goes.
class FuseMountGuard {
 public:
  explicit FuseMountGuard(std::string path) : path_(std::move(path)) {}
  FuseMountGuard(const FuseMountGuard&) = delete;
  FuseMountGuard& operator=(const FuseMountGuard&) = delete;
  ~FuseMountGuard() {
    for (int i = 0; i < 3 && IsFuseMount(path_); ++i) ::umount2(path_.c_str(), MNT_DETACH);
    struct statfs s;
    if (::statfs(path_.c_str(), &s) != 0 && errno == ENOTCONN) {
      ::umount2(path_.c_str(), MNT_DETACH);
    }
  }

 private:
  std::string path_;
};

// A tmpfs of `size_bytes` mounted on the existing directory `path` (needs
// CAP_SYS_ADMIN), detached when the guard goes.
class TmpfsMount {
 public:
  TmpfsMount(std::string path, uint64_t size_bytes) : path_(std::move(path)) {
    std::string opts = "size=" + std::to_string(size_bytes) + ",mode=0755";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = errno;
    }
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  ~TmpfsMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  int error() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
  int error_ = 0;
};

}  // namespace castor::castore::testing
