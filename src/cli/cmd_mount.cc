// `castor mount MOUNTPOINT`: serves the store as a read-only FUSE file
// system in the foreground until unmounted or signalled (SIGINT/SIGTERM
// unmount cleanly and exit 0, without waiting for calls to a daemon).
// With --background it returns once the mount is live and a child process
// serves it (the mount(8) helper mount.fuse.castor uses that). Under
// systemd it sends READY=1 once the mount is live, STOPPING=1 when it
// unmounts, and pings the watchdog (docs/operations.md).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/observability.h"
#include "cli/store_flags.h"
#include "cli/systemd.h"
#include "fs/castore_fs.h"
#include "fs/fuse/dispatcher.h"
#include "fs/fuse/session.h"
#include "fs/transport/dev_fuse.h"
#include "rpc/call_watchdog.h"
#include "spdlog/spdlog.h"

namespace castor::cli {
namespace {

struct MountFlags {
  StoreFlags store;
  ObservabilityFlags observability;
  std::string mountpoint;
  bool list_root = false;
  bool show_xattr = false;
  bool allow_other = false;
  int threads = 0;
  bool background = false;
};

// --background: forks (before any thread exists). The parent waits until
// the child reports the mount live through a pipe, then exits 0; when the
// child ends first, the parent exits with its code (the child's messages
// went to the same stderr). Returns the write end of the pipe in the
// child, or sets `exit_code` in the parent.
int Background(int& exit_code) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    std::perror("castor: pipe");
    exit_code = 1;
    return -1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("castor: fork");
    exit_code = 1;
    return -1;
  }
  if (pid == 0) {
    ::close(p[0]);
    ::setsid();  // not in the caller's session: a hang-up there does not end the mount
    return p[1];
  }
  ::close(p[1]);
  char c;
  ssize_t n;
  do {
    n = ::read(p[0], &c, 1);
  } while (n < 0 && errno == EINTR);
  ::close(p[0]);
  if (n == 1) {
    exit_code = 0;
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  exit_code = WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1;
  return -1;
}

// The background child is live: tells the parent, and lets go of the
// caller's terminal or pipes (the parent has exited; a write to a pipe
// nobody reads would kill us).
void DetachFromCaller(int ready_fd) {
  char c = 1;
  (void)!::write(ready_fd, &c, 1);
  ::close(ready_fd);
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::close(null);
  }
}

int RunMount(const MountFlags& f) {
  int ready_fd = -1;
  if (f.background) {
    int exit_code = 0;
    ready_fd = Background(exit_code);
    if (ready_fd < 0) return exit_code;
  }
  auto notifier = systemd::Notifier::FromEnvironment();
  if (!notifier.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(notifier.status().message()).c_str());
    return 1;
  }
  auto watchdog_interval = systemd::WatchdogInterval(::getpid());
  if (!watchdog_interval.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(watchdog_interval.status().message()).c_str());
    return 1;
  }
  // In the process that serves (after the fork): the server has a thread.
  auto metrics_server = f.observability.Start();
  if (!metrics_server.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(metrics_server.status().message()).c_str());
    return 1;
  }
  auto services = f.store.Open();
  if (!services.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(services.status().message()).c_str());
    return 1;
  }
  fs::CastoreFs filesystem(*services,
                           fs::FsOptions{.list_root = f.list_root, .show_xattr = f.show_xattr});
  fs::fuse::Session session;
  fs::fuse::Dispatcher dispatcher(filesystem, session);
  auto mounted = fs::transport::DevFuseSession::Start(
      dispatcher, session,
      fs::transport::MountOptions{
          .mountpoint = f.mountpoint, .threads = f.threads, .allow_other = f.allow_other});
  if (!mounted.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(mounted.status().message()).c_str());
    return 1;
  }
  if (absl::Status s = notifier->Send("READY=1\nSTATUS=mounted " + f.mountpoint); !s.ok()) {
    spdlog::warn("{}", std::string(s.message()));
  }
  std::optional<systemd::Watchdog> watchdog;
  if (watchdog_interval->has_value()) watchdog.emplace(*notifier, **watchdog_interval);
  if (ready_fd >= 0) DetachFromCaller(ready_fd);
  int sig = fs::transport::WaitForSignalOrUnmount(**mounted);
  (void)notifier->Send("STOPPING=1");
  if (sig != 0) {
    spdlog::info("signal {}: unmounting {}", sig, f.mountpoint);
    // A worker waiting for a daemon that does not answer would hold the
    // unmount up until its call timed out: end every call now (the reads
    // get EIO), and any call a worker starts from now on.
    rpc::CancelAllCalls();
  }
  absl::Status stopped = (*mounted)->Stop();
  if (!stopped.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(stopped.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void AddMountCommand(CLI::App& app) {
  auto f = std::make_shared<MountFlags>();
  CLI::App* cmd =
      app.add_subcommand("mount",
                         "Mount the store read-only at MOUNTPOINT (every named root is an entry); "
                         "runs until unmounted, SIGINT or SIGTERM");
  cmd->add_option("mountpoint", f->mountpoint, "Directory to mount on")->required();
  cmd->add_flag("--list-root", f->list_root,
                "Allow listing the mount's top directory (the named roots)");
  cmd->add_flag("--show-xattr", f->show_xattr,
                "Expose user.tvix.castore.{blob,directory}.digest xattrs");
  cmd->add_option("--threads", f->threads, "Worker threads (default: number of cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--allow-other", f->allow_other, "Let other users access the mount");
  cmd->add_flag("--background", f->background,
                "Return once the mount is live, serving it from a process of its own (its "
                "output then goes to /dev/null); a failure before that is reported and gives a "
                "non-zero exit. The mount(8) helper mount.fuse.castor uses this");
  f->store.AddTo(*cmd);
  f->observability.AddTo(*cmd);
  SetRunner(cmd, Signals::kAwaited, [f] { return RunMount(*f); });
}

}  // namespace castor::cli
