// `castor mount MOUNTPOINT`: serves the store as a read-only FUSE file
// system in the foreground until unmounted or signalled (SIGINT/SIGTERM
// unmount cleanly and exit 0, without waiting for calls to a daemon).
// With --background it returns once the mount is live and a child process
// serves it (the mount(8) helper mount.fuse.castor uses that). Under
// systemd it sends READY=1 once the mount is live, STOPPING=1 when it
// unmounts, and pings the watchdog (docs/operations.md).
// --record-access FILE records what the mount serves (fs/access_record.h);
// --prefetch FILE replays such a record in the background once the mount is
// live (fs/prefetcher.h), logging one line when it is done.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/store_flags.h"
#include "cli/systemd.h"
#include "fs/access_record.h"
#include "fs/castore_fs.h"
#include "fs/fuse/dispatcher.h"
#include "fs/fuse/session.h"
#include "fs/prefetcher.h"
#include "fs/transport/dev_fuse.h"
#include "rpc/call_watchdog.h"
#include "spdlog/spdlog.h"

namespace castor::cli {
namespace {

struct MountFlags {
  StoreFlags store;
  std::string mountpoint;
  bool list_root = false;
  bool show_xattr = false;
  bool allow_other = false;
  int threads = 0;
  bool background = false;
  std::string record_access;
  std::string prefetch;
  int prefetch_jobs = 2;
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
  auto services = f.store.Open();
  if (!services.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(services.status().message()).c_str());
    return 1;
  }
  // A record to replay is read whole now: a bad one is refused before
  // anything is mounted.
  std::vector<fs::AccessEntry> replay;
  if (!f.prefetch.empty()) {
    auto entries = fs::AccessRecord::ReadFile(f.prefetch);
    if (!entries.ok()) {
      std::fprintf(stderr, "castor: --prefetch: %s\n",
                   std::string(entries.status().message()).c_str());
      return 1;
    }
    replay = *std::move(entries);
  }
  std::shared_ptr<fs::AccessRecorder> recorder;
  if (!f.record_access.empty()) {
    auto started = fs::AccessRecorder::Start({.path = f.record_access});
    if (!started.ok()) {
      std::fprintf(stderr, "castor: --record-access: %s\n",
                   std::string(started.status().message()).c_str());
      return 1;
    }
    recorder = *std::move(started);
  }
  fs::CastoreFs filesystem(*services, fs::FsOptions{.list_root = f.list_root,
                                                    .show_xattr = f.show_xattr,
                                                    .access_observer = recorder});
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
  // Started once the mount is live, so it never holds the mount up.
  std::unique_ptr<fs::Prefetcher> prefetcher;
  std::atomic<bool> prefetch_done{false};
  if (!f.prefetch.empty()) {
    prefetcher = std::make_unique<fs::Prefetcher>(*services, std::move(replay),
                                                  fs::PrefetchOptions{.jobs = f.prefetch_jobs});
    prefetcher->Start([&prefetch_done](const fs::PrefetchStats& s) {
      spdlog::info("prefetch {}: {} directories, {} files, {} bytes in {:.2f} s ({} skipped)",
                   s.stopped ? "stopped" : "done", s.directories, s.files, s.bytes, s.seconds,
                   s.skipped);
      prefetch_done = true;
    });
  }
  int sig = fs::transport::WaitForSignalOrUnmount(**mounted);
  (void)notifier->Send("STOPPING=1");
  if (sig != 0) {
    spdlog::info("signal {}: unmounting {}", sig, f.mountpoint);
    // A worker waiting for a daemon that does not answer would hold the
    // unmount up until its call timed out: end every call now (the reads
    // get EIO), and any call a worker starts from now on.
    rpc::CancelAllCalls();
  } else if (prefetcher && !prefetch_done) {
    // Unmounted: nothing reads through this process any more, and a
    // prefetch call waiting for a daemon would hold the exit up.
    rpc::CancelAllCalls();
  }
  if (prefetcher) prefetcher->Stop();
  absl::Status stopped = (*mounted)->Stop();
  int code = 0;
  if (!stopped.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(stopped.message()).c_str());
    code = 1;
  }
  if (recorder) {
    // After the last request was served: the record is complete.
    if (absl::Status s = recorder->Stop(); !s.ok()) {
      std::fprintf(stderr, "castor: --record-access: %s\n", std::string(s.message()).c_str());
      code = 1;
    }
  }
  return code;
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
  cmd->add_option("--record-access", f->record_access,
                  "Record which directories are listed or looked up in and which byte ranges of "
                  "which files are read, in order of first access, to FILE (a text file, written "
                  "every 30 s and at unmount, atomically; see docs/mount.md)")
      ->type_name("FILE");
  cmd->add_option("--prefetch", f->prefetch,
                  "Once mounted, replay the access record FILE in the background at the lowest "
                  "CPU and I/O priority: fetch its directories and file ranges through the store "
                  "(with --cache they land in the cache). Logs \"prefetch done: ...\" at the end")
      ->type_name("FILE");
  cmd->add_option("--prefetch-jobs", f->prefetch_jobs,
                  "Entries of the --prefetch record fetched at once (default 2)")
      ->check(CLI::Range(1, 64));
  f->store.AddTo(*cmd);
  SetRunner(cmd, Signals::kAwaited, [f] { return RunMount(*f); });
}

}  // namespace castor::cli
