// `castor mount MOUNTPOINT`: serves the store as a read-only FUSE file
// system in the foreground until unmounted or signalled (SIGINT/SIGTERM
// unmount cleanly and exit 0, without waiting for calls to a daemon).
// With --background it returns once the mount is live and a child process
// serves it (the mount(8) helper mount.fuse.castor uses that). Under
// systemd it sends READY=1 once the mount is live, STOPPING=1 when it
// unmounts, and pings the watchdog (docs/operations.md).
// With --takeover-listen SOCKET another `castor mount --takeover SOCKET`
// can take the live mount over (fs/transport/takeover.h): this process then
// exits 0 without unmounting, and open files, working directories and inode
// numbers carry on in the successor (docs/mount.md).
// --record-access FILE records what the mount serves (fs/access_record.h);
// --prefetch FILE replays such a record in the background once the mount is
// live (fs/prefetcher.h), logging one line when it is done.
// --passthrough hands local blob files to the kernel (FUSE passthrough,
// docs/mount.md); it cannot be combined with a takeover, and such a mount
// is not kept in systemd's fd store (backing ids do not survive a restart).
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/unique_fd.h"
#include "cli/commands.h"
#include "cli/observability.h"
#include "cli/store_flags.h"
#include "cli/systemd.h"
#include "fs/access_record.h"
#include "fs/castore_fs.h"
#include "fs/fuse/dispatcher.h"
#include "fs/fuse/session.h"
#include "fs/prefetcher.h"
#include "fs/takeover_state.h"
#include "fs/transport/dev_backing_files.h"
#include "fs/transport/dev_fuse.h"
#include "fs/transport/takeover.h"
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
  std::string takeover_listen;
  std::string takeover;
  std::string record_access;
  std::string prefetch;
  int prefetch_jobs = 2;
  bool passthrough = false;
  std::string transport = "auto";
};

// The max_stack_depth FUSE passthrough asks for: 2 when the blob files
// (the --cache, else the --store directory) sit on an overlayfs, whose
// files the kernel accepts as backing files only then; else 1, which keeps
// the mount usable as a layer of an overlayfs.
uint32_t PassthroughStackDepth(const StoreFlags& store) {
  constexpr uint64_t kOverlayfsMagic = 0x794c7630;
  std::string dir = !store.cache.empty()
                        ? store.cache
                        : (store.store.empty() ? castore::DefaultStoreDir() : store.store);
  struct statfs st;
  if (::statfs(dir.c_str(), &st) == 0 && static_cast<uint64_t>(st.f_type) == kOverlayfsMagic) {
    return 2;
  }
  return 1;
}

// The mount point as both sides of a takeover compare it: the real path of
// its parent and its own name (not realpath(3) of the mount point itself,
// which would ask the paused mount).
std::string CanonicalMountpoint(const std::string& mountpoint) {
  std::string path = mountpoint;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t slash = path.rfind('/');
  std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  char buf[PATH_MAX];
  if (::realpath(parent.c_str(), buf) == nullptr) return mountpoint;
  std::string real = buf;
  if (real != "/") real += "/";
  return real + name;
}

// The state this mount hands to a successor; called while its workers are
// paused.
std::string SaveTakeoverState(const fs::CastoreFs& filesystem, const fs::fuse::Session& session,
                              const std::string& mountpoint) {
  fs::TakeoverState state;
  state.fuse_minor = session.minor();
  state.fuse_flags = session.flags();
  state.max_write = std::max<uint32_t>(session.options().max_write, 4096);
  state.max_pages = session.max_pages();
  state.mountpoint = mountpoint;
  filesystem.SaveState(&state);
  return fs::SerializeTakeoverState(state);
}

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

// Under systemd: keeps the /dev/fuse descriptor ("fuse") and a memfd with
// the session state ("fuse-session") in the service manager's fd store, and
// refreshes the memfd's copy every second when something changed, so a
// restarted `castor mount` re-attaches after a crash. Thread-safe; its
// thread ends with it.
class SessionKeeper {
 public:
  SessionKeeper(const systemd::Notifier& notifier, castor::UniqueFd memfd,
                std::function<std::string()> save, std::function<uint64_t()> changes)
      : notifier_(notifier),
        memfd_(std::move(memfd)),
        save_(std::move(save)),
        changes_(std::move(changes)) {
    Refresh();
    thread_ = std::thread([this] {
      for (;;) {
        {
          castor::MutexLock lock(&mu_);
          if (mu_.AwaitUntil([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; },
                             std::chrono::steady_clock::now() + std::chrono::seconds(1))) {
            return;
          }
        }
        Refresh();
      }
    });
  }
  ~SessionKeeper() {
    {
      castor::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  SessionKeeper(const SessionKeeper&) = delete;
  SessionKeeper& operator=(const SessionKeeper&) = delete;

  int memfd() const { return memfd_.get(); }
  // Takes both out of the fd store (a clean unmount or a handover).
  void Forget() {
    (void)notifier_.Send("FDSTOREREMOVE=1\nFDNAME=fuse");
    (void)notifier_.Send("FDSTOREREMOVE=1\nFDNAME=fuse-session");
  }

 private:
  void Refresh() {
    uint64_t now = changes_();
    if (refreshed_ && now == last_) return;
    absl::Status s = fs::WriteStateCopy(memfd_.get(), save_());
    if (!s.ok()) {
      spdlog::warn("keeping the session state for systemd: {}", std::string(s.message()));
      return;
    }
    refreshed_ = true;
    last_ = now;
  }

  const systemd::Notifier& notifier_;
  const castor::UniqueFd memfd_;
  const std::function<std::string()> save_;
  const std::function<uint64_t()> changes_;
  bool refreshed_ = false;  // only the thread (and the constructor before it) touch these
  uint64_t last_ = 0;
  castor::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The first inode and handle number after re-attaching to a connection a
// crashed process served: beyond any the crashed process can have handed
// out after its last state copy (fewer than 2^32 a second), and below the
// synthetic-inode bit for the next 68 years.
uint64_t LostBelow() {
  constexpr int64_t kEpoch = 1'600'000'000;  // 2020-09-13
  int64_t now = static_cast<int64_t>(::time(nullptr)) - kEpoch;
  return static_cast<uint64_t>(now > 1 ? now : 1) << 32;
}

int RunMount(const MountFlags& f) {
  if (f.passthrough && (!f.takeover.empty() || !f.takeover_listen.empty())) {
    // The kernel ties backing ids to the files it opened with them; a
    // successor could not give the inodes open now the same backing file,
    // and the kernel refuses an open with another (EIO).
    std::fprintf(stderr,
                 "castor: --passthrough cannot be combined with --takeover or "
                 "--takeover-listen (FUSE backing ids do not survive a handover)\n");
    return 1;
  }
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
  auto metrics_server = f.observability.Start(f.background);
  if (!metrics_server.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(metrics_server.status().message()).c_str());
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
  const std::string canonical_mountpoint = CanonicalMountpoint(f.mountpoint);
  // A restart under systemd after a crash: the connection and the state
  // copy come back from the fd store.
  castor::UniqueFd kept_fuse, kept_session;
  {
    auto listen = systemd::TakeListenFds(::getpid());
    if (!listen.ok()) {
      std::fprintf(stderr, "castor: %s\n", std::string(listen.status().message()).c_str());
      return 1;
    }
    for (const systemd::ListenFd& l : *listen) {
      if (l.name == "fuse") {
        kept_fuse.Reset(l.fd);
      } else if (l.name == "fuse-session") {
        kept_session.Reset(l.fd);
      } else {
        ::close(l.fd);
      }
    }
  }
  // --takeover: the running mount's state and /dev/fuse descriptor.
  std::optional<fs::transport::TakenOver> taken;
  std::optional<fs::TakeoverState> state;
  auto fail_takeover = [&](const std::string& why) {
    fs::transport::RefuseTakeover(*taken, why);
    std::fprintf(stderr, "castor: takeover refused (the running mount keeps serving): %s\n",
                 why.c_str());
    return 1;
  };
  if (kept_fuse) {
    absl::StatusOr<std::string> copy =
        kept_session ? fs::ReadStateCopy(kept_session.get())
                     : absl::StatusOr<std::string>(absl::NotFoundError("no fuse-session kept"));
    absl::StatusOr<fs::TakeoverState> parsed =
        copy.ok() ? fs::ParseTakeoverState(*copy) : copy.status();
    if (parsed.ok() && parsed->mountpoint != canonical_mountpoint) {
      parsed = absl::FailedPreconditionError("it is of the mount on " + parsed->mountpoint);
    }
    if (!parsed.ok()) {
      // Without the INIT agreement the connection cannot be served: let it
      // go, so the next start finds a dead mount and mounts afresh.
      (void)notifier->Send("FDSTOREREMOVE=1\nFDNAME=fuse");
      (void)notifier->Send("FDSTOREREMOVE=1\nFDNAME=fuse-session");
      std::fprintf(stderr,
                   "castor: cannot re-attach to the kept FUSE connection of %s: %s (dropped it; "
                   "the next start mounts afresh)\n",
                   f.mountpoint.c_str(), std::string(parsed.status().message()).c_str());
      return 1;
    }
    state = std::move(*parsed);
  } else if (!f.takeover.empty()) {
    auto requested = fs::transport::RequestTakeover(f.takeover, std::chrono::seconds(60));
    if (!requested.ok()) {
      std::fprintf(stderr, "castor: %s\n", std::string(requested.status().message()).c_str());
      return 1;
    }
    taken = std::move(*requested);
    auto parsed = fs::ParseTakeoverState(taken->state);
    if (!parsed.ok()) return fail_takeover(std::string(parsed.status().message()));
    if (parsed->mountpoint != canonical_mountpoint) {
      return fail_takeover("the running mount is on " + parsed->mountpoint + ", not on " +
                           canonical_mountpoint);
    }
    state = std::move(*parsed);
  }
  fs::fuse::SessionOptions session_options;
  std::shared_ptr<fs::transport::DevBackingFiles> backing_files;
  if (f.passthrough) {
    backing_files = std::make_shared<fs::transport::DevBackingFiles>();
    session_options.passthrough = true;
    session_options.max_stack_depth = PassthroughStackDepth(f.store);
  }
  if (state) {
    // The kernel keeps what it agreed with the predecessor.
    session_options.max_write = state->max_write;
    session_options.max_pages = state->max_pages;
  }
  fs::CastoreFs filesystem(*services, fs::FsOptions{.list_root = f.list_root,
                                                    .show_xattr = f.show_xattr,
                                                    .access_observer = recorder,
                                                    .backing_files = backing_files});
  fs::fuse::Session session(session_options);
  fs::fuse::Dispatcher dispatcher(filesystem, session);
  // io_uring queues belong to the process that registered them: a mount
  // that may be handed to another process is served through /dev/fuse.
  fs::transport::Transport transport = f.transport == "uring" ? fs::transport::Transport::kUring
                                       : f.transport == "dev" ? fs::transport::Transport::kDev
                                                              : fs::transport::Transport::kAuto;
  const bool handover = state.has_value() || !f.takeover_listen.empty();
  if (handover && transport == fs::transport::Transport::kUring) {
    std::fprintf(stderr,
                 "castor: --transport=uring: a mount that is taken over or can be taken over "
                 "(--takeover, --takeover-listen, a re-attach under systemd) is served through "
                 "/dev/fuse; use --transport=dev or auto\n");
    if (taken) return fail_takeover("the successor was asked for --transport=uring");
    return 1;
  }
  // Under systemd, auto keeps the connection re-attachable after a crash
  // (the fd store); an explicit uring gives that up.
  if (handover || (notifier->enabled() && transport == fs::transport::Transport::kAuto)) {
    transport = fs::transport::Transport::kDev;
  }
  fs::transport::MountOptions mount_options{.mountpoint = f.mountpoint,
                                            .threads = f.threads,
                                            .allow_other = f.allow_other,
                                            .transport = transport};
  if (backing_files) {
    mount_options.on_connection = [backing_files](int fuse_fd) {
      if (absl::Status s = backing_files->Attach(fuse_fd); !s.ok()) {
        spdlog::warn("FUSE passthrough is off: {}", std::string(s.message()));
      }
    };
  }
  absl::StatusOr<std::unique_ptr<fs::transport::DevFuseSession>> mounted;
  if (state) {
    session.Restore(state->fuse_minor, state->fuse_flags, state->max_pages);
    filesystem.Initialized(state->fuse_flags);
    if (kept_fuse) {
      if (absl::Status s = filesystem.RestoreState(*state, LostBelow()); !s.ok()) {
        std::fprintf(stderr, "castor: %s\n", std::string(s.message()).c_str());
        return 1;
      }
      mounted = fs::transport::DevFuseSession::Adopt(dispatcher, session, mount_options,
                                                     kept_fuse.Release());
      spdlog::info("re-attached to {} kept by systemd ({} inodes, {} open handles restored)",
                   f.mountpoint, state->inodes.size(), state->files.size() + state->dirs.size());
    } else {
      if (absl::Status s = filesystem.RestoreState(*state); !s.ok()) {
        return fail_takeover(std::string(s.message()));
      }
      if (absl::Status s = fs::transport::CompleteTakeover(*taken, std::chrono::seconds(30));
          !s.ok()) {
        std::fprintf(stderr, "castor: %s\n", std::string(s.message()).c_str());
        return 1;
      }
      mounted = fs::transport::DevFuseSession::Adopt(dispatcher, session, mount_options,
                                                     taken->fuse_fd.Release());
      spdlog::info("took over {} ({} inodes, {} open handles)", f.mountpoint, state->inodes.size(),
                   state->files.size() + state->dirs.size());
    }
    state.reset();
  } else {
    mounted = fs::transport::DevFuseSession::Start(dispatcher, session, mount_options);
  }
  if (!mounted.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(mounted.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<fs::transport::TakeoverListener> listener;
  if (!f.takeover_listen.empty()) {
    auto started = fs::transport::TakeoverListener::Start(f.takeover_listen, **mounted, [&] {
      return SaveTakeoverState(filesystem, session, canonical_mountpoint);
    });
    if (!started.ok()) {
      std::fprintf(stderr, "castor: %s\n", std::string(started.status().message()).c_str());
      // A mount taken over stays up (ending it now would break it);
      // a new one is given up.
      if (f.takeover.empty()) {
        (void)(*mounted)->Stop();
        return 1;
      }
    } else {
      listener = std::move(*started);
    }
  }
  if (absl::Status s = notifier->Send("READY=1\nSTATUS=mounted " + f.mountpoint); !s.ok()) {
    spdlog::warn("{}", std::string(s.message()));
  }
  // Under systemd: the connection and a copy of the session go to the fd
  // store (a re-attached process keeps using the copy it got back).
  std::optional<SessionKeeper> keeper;
  if (notifier->enabled() && (*mounted)->transport() == fs::transport::Transport::kUring) {
    spdlog::info(
        "{} is served through io_uring: not kept in systemd's fd store (a crash ends "
        "the mount)",
        f.mountpoint);
  } else if (notifier->enabled() && f.passthrough) {
    spdlog::warn(
        "--passthrough: the mount is not kept in systemd's fd store (FUSE backing ids do not "
        "survive a restart); a crash ends the mount");
  } else if (notifier->enabled()) {
    castor::UniqueFd memfd = std::move(kept_session);
    bool fresh = !memfd;
    if (fresh) memfd.Reset(::memfd_create("fuse-session", MFD_CLOEXEC));
    if (!memfd) {
      spdlog::warn("memfd_create: {}; a crash will end the mount", std::strerror(errno));
    } else {
      keeper.emplace(
          *notifier, std::move(memfd),
          [&] { return SaveTakeoverState(filesystem, session, canonical_mountpoint); },
          [&] { return filesystem.changes(); });
      int fuse_fd[] = {(*mounted)->fd()};
      int session_fd[] = {keeper->memfd()};
      // Re-attached: both are still in the store.
      if (fresh) {
        absl::Status stored = notifier->SendFds("FDSTORE=1\nFDNAME=fuse", fuse_fd);
        if (stored.ok()) {
          stored = notifier->SendFds("FDSTORE=1\nFDNAME=fuse-session", session_fd);
        }
        if (!stored.ok()) spdlog::warn("systemd fd store: {}", std::string(stored.message()));
      }
    }
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
  // Waits for a takeover in progress to end (handed over, or resumed).
  listener.reset();
  if (keeper) {
    // Handed over, or unmounting: a restart must not re-attach to this.
    keeper->Forget();
    keeper.reset();
  }
  if ((*mounted)->handed_over()) {
    (void)notifier->Send("STATUS=handed over to a successor");
    // Nothing reads through this process any more: a prefetch ends now (the
    // successor's own --prefetch warms what it needs), and the record keeps
    // what was read until the handover.
    if (prefetcher) {
      if (!prefetch_done) rpc::CancelAllCalls();
      prefetcher->Stop();
    }
    (void)(*mounted)->Stop();
    if (recorder) {
      if (absl::Status s = recorder->Stop(); !s.ok()) {
        std::fprintf(stderr, "castor: --record-access: %s\n", std::string(s.message()).c_str());
      }
    }
    return 0;
  }
  (void)notifier->Send("STOPPING=1");
  if (sig != 0) {
    spdlog::info("signal {}: unmounting {}", sig, f.mountpoint);
    // A worker waiting for a daemon that does not answer would hold the
    // unmount up until its call timed out: end every call now (the reads
    // get EIO), and any call a worker starts from now on.
    rpc::CancelAllCalls();
  } else {
    spdlog::info("unmounted {}", f.mountpoint);
  }
  if (sig == 0 && prefetcher && !prefetch_done) {
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
  cmd->add_option("--transport", f->transport,
                  "How requests reach castor: uring (FUSE over io_uring, one queue per CPU; an "
                  "error when the kernel does not offer it), dev (read/write on /dev/fuse) or "
                  "auto (uring when the kernel offers it, else dev; the default). Mounts that "
                  "can be taken over use dev")
      ->check(CLI::IsMember({"auto", "uring", "dev"}))
      ->envname("CASTOR_MOUNT_TRANSPORT");
  cmd->add_flag(
      "--background", f->background,
      "Return once the mount is live, serving it from a process of its own (its "
      "log then goes to --log-file, else to syslog); a failure before that is reported and gives a "
      "non-zero exit. The mount(8) helper mount.fuse.castor uses this");
  cmd->add_option("--takeover-listen", f->takeover_listen,
                  "Listen on this unix socket for a `castor mount --takeover` of this mount "
                  "(upgrade or restart without unmounting; created 0600)");
  cmd->add_option("--takeover", f->takeover,
                  "Take over the live mount on MOUNTPOINT whose process listens on this socket "
                  "(its --takeover-listen) instead of mounting: open files and inode numbers "
                  "carry on; that process exits 0 once this one serves");
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
  cmd->add_flag("--passthrough", f->passthrough,
                "FUSE passthrough: hand blobs kept in local files to the kernel, which then reads "
                "them without asking castor (needs root and Linux 6.9+). Each such file is hashed "
                "whole at its first open in the mount; bytes that rot later are served "
                "unchecked. Not with --takeover/--takeover-listen (see docs/mount.md)");
  f->store.AddTo(*cmd);
  f->observability.AddTo(*cmd);
  SetRunner(cmd, Signals::kAwaited, [f] { return RunMount(*f); });
}

}  // namespace castor::cli
