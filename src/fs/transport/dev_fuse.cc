#include "fs/transport/dev_fuse.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "base/fd_passing.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "base/status.h"
#include "fs/fuse/abi.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace castor::fs::transport {
namespace {

constexpr char kFusermount[] = "fusermount3";

// Runs fusermount3 with `args` (after argv[0]); `extra_env` is added to the
// environment. Returns the child's pid.
absl::StatusOr<pid_t> SpawnFusermount(const std::vector<std::string>& args,
                                      const std::string& extra_env,
                                      posix_spawn_file_actions_t* actions) {
  std::vector<char*> argv;
  std::string argv0 = kFusermount;
  argv.push_back(argv0.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  std::string env = extra_env;
  if (!env.empty()) envp.push_back(env.data());
  envp.push_back(nullptr);
  pid_t pid;
  int err = posix_spawnp(&pid, kFusermount, actions, nullptr, argv.data(), envp.data());
  if (err != 0) return ErrnoStatus(err, "spawn fusermount3");
  return pid;
}

absl::Status WaitChild(pid_t pid, std::string_view what) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, what);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(ToAbslView(what), " failed (",
                                             WIFEXITED(status)
                                                 ? absl::StrCat("exit code ", WEXITSTATUS(status))
                                                 : absl::StrCat("signal ", WTERMSIG(status)),
                                             ")"));
}

absl::Status FusermountUnmount(const std::string& mountpoint) {
  ASSIGN_OR_RETURN(pid_t pid, SpawnFusermount({"-u", "-z", "-q", "--", mountpoint}, "", nullptr));
  return WaitChild(pid, absl::StrCat("fusermount3 -u -z ", mountpoint));
}

std::string ClearCommand(const std::string& mountpoint) {
  return absl::StrCat("fusermount3 -u -z '", mountpoint, "' (or, as root, umount -l '", mountpoint,
                      "')");
}

absl::StatusOr<int> MountWithSyscall(const MountOptions& o, mode_t root_mode) {
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open /dev/fuse");
  // rootmode is octal in the kernel's parser.
  char mode[16];
  std::snprintf(mode, sizeof(mode), "%o", root_mode & S_IFMT);
  std::string data = absl::StrCat("fd=", fd, ",rootmode=", mode, ",user_id=", getuid(),
                                  ",group_id=", getgid(), ",default_permissions");
  if (o.allow_other) data += ",allow_other";
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_RDONLY;
  std::string type = "fuse." + o.fsname;
  int rc = mount(o.fsname.c_str(), o.mountpoint.c_str(), type.c_str(), flags, data.c_str());
  if (rc != 0 && errno == ENODEV) {
    // Kernels without subtype support.
    rc = mount(o.fsname.c_str(), o.mountpoint.c_str(), "fuse", flags, data.c_str());
  }
  if (rc != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, absl::StrCat("mount ", o.mountpoint));
  }
  return fd;
}

absl::StatusOr<int> MountWithFusermount(const MountOptions& o) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return ErrnoStatus(errno, "socketpair");
  fcntl(sv[0], F_SETFD, FD_CLOEXEC);
  std::string opts =
      absl::StrCat("ro,nosuid,nodev,default_permissions,fsname=", o.fsname, ",subtype=", o.fsname);
  if (o.allow_other) opts += ",allow_other";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, sv[0]);
  absl::StatusOr<pid_t> pid = SpawnFusermount({"-o", opts, "--", o.mountpoint},
                                              absl::StrCat("_FUSE_COMMFD=", sv[1]), &actions);
  posix_spawn_file_actions_destroy(&actions);
  close(sv[1]);
  if (!pid.ok()) {
    close(sv[0]);
    return pid.status();
  }
  // Receive the device fd (SCM_RIGHTS) from fusermount3.
  uint8_t byte;
  std::vector<UniqueFd> fds;
  absl::StatusOr<size_t> got = ReceiveWithFds(
      sv[0], std::span<uint8_t>(&byte, 1), 1, &fds,
      absl::StrCat("receiving the /dev/fuse descriptor from fusermount3 for ", o.mountpoint));
  close(sv[0]);
  absl::Status waited = WaitChild(*pid, absl::StrCat("fusermount3 ", o.mountpoint));
  if (!waited.ok()) return waited;
  if (!got.ok()) return got.status();
  if (*got == 0 || fds.empty()) {
    return absl::UnavailableError(
        absl::StrCat("fusermount3 did not pass a /dev/fuse descriptor for ", o.mountpoint));
  }
  return fds.front().Release();
}

// Writes to the abort file of the connection of `device` under the fusectl
// mount `connections`.
bool WriteAbort(const std::string& connections, dev_t device) {
  std::string path = absl::StrCat(connections, "/", minor(device), "/abort");
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, "1", 1) == 1;
  close(fd);
  return ok;
}

// Per worker: the reply buffer and completion, reused for every request.
class WorkerResponder : public fuse::Responder {
 public:
  WorkerResponder(int fd, size_t size) : fd_(fd), buffer_(size) {}
  std::span<uint8_t> ReplyBuffer() override { return buffer_; }
  void Complete(size_t length) override {
    if (length > 0) {
      ssize_t n = write(fd_, buffer_.data(), length);
      // ENOENT: the request was interrupted and is gone; nothing to do.
      if (n < 0 && errno != ENOENT && errno != ENODEV) {
        spdlog::warn("writing a FUSE reply: {}", std::strerror(errno));
      }
    }
    // Signalled with the mutex held: once the worker sees done_, it may
    // destroy this responder.
    castor::MutexLock lock(&mu_);
    done_ = true;
    cv_.Signal();
  }
  // Waits for Complete (handlers may complete from another thread).
  void AwaitAndReset() {
    castor::MutexLock lock(&mu_);
    while (!done_) cv_.Wait(&mu_);
    done_ = false;
  }

 private:
  const int fd_;
  std::vector<uint8_t> buffer_;
  castor::Mutex mu_;
  castor::CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// The device of the mount on `mountpoint` from /proc/self/mountinfo (the
// last mount there), or 0.
dev_t MountDevice(const std::string& mountpoint) {
  char real[PATH_MAX];
  std::string want = realpath(mountpoint.c_str(), real) != nullptr ? real : mountpoint;
  FILE* f = fopen("/proc/self/mountinfo", "re");
  if (f == nullptr) return 0;
  dev_t found = 0;
  char* line = nullptr;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    unsigned maj = 0, mnr = 0;
    char path[4096];
    if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &mnr, path) != 3) continue;
    // Spaces and the like are octal escapes in mountinfo.
    std::string unescaped;
    for (size_t i = 0; path[i] != '\0'; ++i) {
      if (path[i] == '\\' && path[i + 1] && path[i + 2] && path[i + 3]) {
        unescaped.push_back(static_cast<char>((path[i + 1] - '0') * 64 + (path[i + 2] - '0') * 8 +
                                              (path[i + 3] - '0')));
        i += 3;
      } else {
        unescaped.push_back(path[i]);
      }
    }
    if (unescaped == want) found = makedev(maj, mnr);
  }
  free(line);
  fclose(f);
  return found;
}

}  // namespace

std::string_view TransportName(Transport t) {
  switch (t) {
    case Transport::kAuto:
      return "auto";
    case Transport::kUring:
      return "uring";
    case Transport::kDev:
      return "dev";
  }
  return "?";
}

bool IsStaleMount(const std::string& path) {
  // Not stat(2): the kernel may answer it from cached attributes without
  // asking the (dead) daemon; STATFS always reaches it.
  // A connection served through io_uring whose daemon died may answer
  // ECONNABORTED (the kernel ends requests queued on its rings so).
  struct statfs st;
  return statfs(path.c_str(), &st) != 0 && (errno == ENOTCONN || errno == ECONNABORTED);
}

absl::StatusOr<std::unique_ptr<DevFuseSession>> DevFuseSession::Start(fuse::RequestHandler& handler,
                                                                      fuse::Session& session,
                                                                      MountOptions options) {
  const std::string& mp = options.mountpoint;
  bool use_fusermount = options.force_fusermount || geteuid() != 0;
  if (IsStaleMount(mp)) {
    spdlog::warn(
        "{} is a stale FUSE mount (transport endpoint is not connected); "
        "unmounting it",
        mp);
    if (use_fusermount) {
      (void)FusermountUnmount(mp);
    } else {
      umount2(mp.c_str(), MNT_DETACH);
    }
    if (IsStaleMount(mp)) {
      return absl::FailedPreconditionError(
          absl::StrCat(mp, " is a stale FUSE mount that could not be unmounted; clear it with ",
                       ClearCommand(mp)));
    }
  }
  struct stat st;
  if (stat(mp.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("mount point ", mp));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("mount point ", mp, " is not a directory"));
  }
  if (options.transport != Transport::kDev) {
    absl::Status available = FuseUring::Available();
    if (!available.ok() && options.transport == Transport::kUring) {
      return absl::Status(
          available.code(),
          absl::StrCat("cannot serve ", mp, " through io_uring: ", available.message()));
    }
    if (available.ok()) {
      session.WantOverUring();
    } else {
      spdlog::info("{}: FUSE over io_uring unavailable ({}); using /dev/fuse", mp,
                   std::string(available.message()));
      options.transport = Transport::kDev;
    }
  }
  absl::StatusOr<int> fd =
      use_fusermount ? MountWithFusermount(options) : MountWithSyscall(options, st.st_mode);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<DevFuseSession> s(
      new DevFuseSession(handler, session, std::move(options), *fd, use_fusermount));
  if (s->options_.on_connection) s->options_.on_connection(s->fd_);
  s->StartWorkers();
  if (s->options_.transport != Transport::kDev) {
    if (absl::Status u = s->StartUring(); !u.ok()) {
      (void)s->Stop();
      return u;
    }
  }
  // The device number names the connection under /sys/fs/fuse/connections;
  // stat makes the kernel finish INIT first.
  struct stat mst;
  if (stat(s->options_.mountpoint.c_str(), &mst) == 0) {
    s->device_ = mst.st_dev;
    // The kernel starts a FUSE mount with 128 KiB of readahead and INIT can
    // only lower it; as root, raise it to the largest read we serve so
    // sequential reads arrive as max_pages requests. Best effort.
    std::string ra = absl::StrCat("/sys/class/bdi/", major(mst.st_dev), ":", minor(mst.st_dev),
                                  "/read_ahead_kb");
    int rfd = open(ra.c_str(), O_WRONLY | O_CLOEXEC);
    // initialized() (acquire) orders the read of max_pages after INIT's
    // write; the kernel's ordering (INIT answered before stat returns) is
    // invisible to the C++ memory model and to ThreadSanitizer.
    if (rfd >= 0 && session.initialized()) {
      std::string kb = absl::StrCat(session.max_pages() * 4);
      (void)!write(rfd, kb.data(), kb.size());
    }
    if (rfd >= 0) close(rfd);
  }
  if (s->uring_) {
    spdlog::info(
        "mounted castor on {} (FUSE over io_uring: {} queues of {} entries; {} /dev/fuse "
        "threads for FORGET and INTERRUPT{})",
        s->options_.mountpoint, s->uring_->queues(), s->options_.uring_queue_depth, s->threads(),
        use_fusermount ? ", via fusermount3" : "");
  } else {
    spdlog::info("mounted castor on {} (/dev/fuse read/write: {} threads{})",
                 s->options_.mountpoint, s->threads(), use_fusermount ? ", via fusermount3" : "");
  }
  return s;
}

absl::Status DevFuseSession::StartUring() {
  const std::string& mp = options_.mountpoint;
  // mount(2) has sent INIT; a worker answers it. A kernel that agrees to
  // io_uring holds every later request back until the queues are
  // registered, so this must not wait for anything but the INIT.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!init_replied_.load(std::memory_order_acquire) && live_workers_.load() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!init_replied_.load(std::memory_order_acquire)) {
    return absl::UnavailableError(absl::StrCat("no FUSE INIT from the kernel for ", mp));
  }
  if ((session_.flags() & fuse::kInitOverUring) == 0) {
    if (options_.transport == Transport::kUring) {
      return absl::FailedPreconditionError(
          absl::StrCat("the kernel did not agree to FUSE over io_uring for ", mp));
    }
    spdlog::info("{}: the kernel did not agree to FUSE over io_uring; using /dev/fuse", mp);
    return absl::OkStatus();
  }
  const fuse::SessionOptions& so = session_.options();
  // The kernel wants room for its largest request and reply payload.
  size_t payload = std::max<size_t>(
      {8192, std::max<uint32_t>(so.max_write, 4096), size_t{session_.max_pages()} * 4096});
  uring_ = FuseUring::Start(handler_, fd_,
                            {.queue_depth = options_.uring_queue_depth, .payload_size = payload});
  if (absl::Status r = uring_->registered(); !r.ok()) {
    return absl::Status(r.code(), absl::StrCat("serving ", mp, " through io_uring: ", r.message(),
                                               " (--transport=dev avoids io_uring)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DevFuseSession>> DevFuseSession::Adopt(fuse::RequestHandler& handler,
                                                                      fuse::Session& session,
                                                                      MountOptions options,
                                                                      int fd) {
  if (fd < 0) return absl::InvalidArgumentError("no /dev/fuse descriptor to serve");
  if (!session.initialized()) {
    return absl::FailedPreconditionError("adopting a FUSE connection without its INIT agreement");
  }
  if (session.flags() & fuse::kInitOverUring) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("the FUSE connection of ", options.mountpoint,
                     " was served through io_uring; it cannot be taken over"));
  }
  struct stat fst;
  if (fstat(fd, &fst) != 0 || !S_ISCHR(fst.st_mode) || fst.st_rdev != makedev(10, 229)) {
    close(fd);
    return absl::InvalidArgumentError("the descriptor to serve is not /dev/fuse");
  }
  bool use_fusermount = options.force_fusermount || geteuid() != 0;
  std::unique_ptr<DevFuseSession> s(
      new DevFuseSession(handler, session, std::move(options), fd, use_fusermount));
  if (s->options_.on_connection) s->options_.on_connection(s->fd_);
  s->StartWorkers();
  // Not stat(2) of the mount point: that could wait on the kernel's
  // connection; the mount table names the device without asking it.
  s->device_ = MountDevice(s->options_.mountpoint);
  spdlog::info("serving castor on {} taken over ({} threads)", s->options_.mountpoint,
               s->threads());
  return s;
}

void DevFuseSession::StartWorkers() {
  pause_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  // Non-blocking, so a worker waits in poll(2), where a pause reaches it
  // (a read(2) blocked on /dev/fuse cannot be woken without a request).
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  int n = options_.threads > 0 ? options_.threads
                               : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  // Every worker on a clone of its own, the first one too: the requests a
  // worker has read are ended (with an error) when its descriptor closes,
  // so a process that dies leaves none of them waiting forever even when
  // the main descriptor lives on (in systemd's fd store, or handed over).
  for (int i = 0; i < n; ++i) {
    int wfd = fd_;
    int c = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    auto master = static_cast<uint32_t>(fd_);
    if (c >= 0 && ioctl(c, FUSE_DEV_IOC_CLONE, &master) == 0) {
      wfd = c;
      clone_fds_.push_back(c);
    } else if (c >= 0) {
      // Older kernels: share the main fd (correct, just more contention).
      close(c);
    }
    worker_fds_.push_back(wfd);
  }
  castor::MutexLock lock(&stop_mu_);
  SpawnWorkers();
}

void DevFuseSession::SpawnWorkers() {
  live_workers_.store(static_cast<int>(worker_fds_.size()));
  for (int wfd : worker_fds_) workers_.emplace_back(&DevFuseSession::Worker, this, wfd);
}

bool DevFuseSession::Pause() {
  castor::MutexLock lock(&stop_mu_);
  if (stopped_ || phase_.load() != kServing) return false;
  if (uring_) {
    spdlog::warn("{} is served through io_uring, which cannot be paused or handed over",
                 options_.mountpoint);
    return false;
  }
  phase_.store(kPaused);
  pausing_.store(true, std::memory_order_release);
  uint64_t one = 1;
  (void)!write(pause_fd_, &one, sizeof(one));
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  return true;
}

void DevFuseSession::Resume() {
  castor::MutexLock lock(&stop_mu_);
  if (stopped_ || phase_.load() != kPaused) return;
  uint64_t count;
  (void)!read(pause_fd_, &count, sizeof(count));
  pausing_.store(false, std::memory_order_release);
  SpawnWorkers();
  phase_.store(kServing);
}

void DevFuseSession::MarkHandedOver() {
  castor::MutexLock lock(&stop_mu_);
  if (phase_.load() == kPaused) phase_.store(kHandedOver);
}

DevFuseSession::DevFuseSession(fuse::RequestHandler& handler, fuse::Session& session,
                               MountOptions options, int fd, bool via_fusermount)
    : handler_(handler),
      session_(session),
      options_(std::move(options)),
      fd_(fd),
      via_fusermount_(via_fusermount) {}

DevFuseSession::~DevFuseSession() { (void)Stop(); }

void DevFuseSession::Worker(int fd) {
  const fuse::SessionOptions& so = session_.options();
  std::vector<uint8_t> request(sizeof(fuse_in_header) + sizeof(fuse_write_in) + so.max_write +
                               4096);
  WorkerResponder responder(fd, sizeof(fuse_out_header) + size_t{so.max_pages} * 4096 + 4096);
  static metrics::Counter& dev_requests = FuseRequestsCounter("dev");
  while (!pausing_.load(std::memory_order_acquire)) {
    ssize_t n = read(fd, request.data(), request.size());
    if (n < 0) {
      if (errno == EAGAIN) {
        // Nothing queued: wait for a request or a pause.
        pollfd p[2] = {{fd, POLLIN, 0}, {pause_fd_, POLLIN, 0}};
        (void)poll(p, 2, -1);
        continue;
      }
      if (errno == EINTR || errno == ENOENT) continue;
      if (errno != ENODEV) spdlog::error("reading /dev/fuse: {}", std::strerror(errno));
      break;
    }
    dev_requests.Inc();
    handler_.Handle(std::span<const uint8_t>(request.data(), static_cast<size_t>(n)), responder);
    responder.AwaitAndReset();
    // The kernel acts on the INIT reply within write(2): once written, the
    // connection is initialized (StartUring waits for that).
    fuse_in_header in;
    if (static_cast<size_t>(n) >= sizeof(in)) {
      std::memcpy(&in, request.data(), sizeof(in));
      if (in.opcode == FUSE_INIT && session_.initialized()) {
        init_replied_.store(true, std::memory_order_release);
      }
    }
  }
  live_workers_.fetch_sub(1);
}

absl::Status DevFuseSession::Unmount() {
  if (via_fusermount_) return FusermountUnmount(options_.mountpoint);
  if (umount2(options_.mountpoint.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    return ErrnoStatus(errno, absl::StrCat("umount ", options_.mountpoint));
  }
  return absl::OkStatus();
}

void DevFuseSession::AbortConnection() {
  if (device_ == 0) return;
  if (WriteAbort("/sys/fs/fuse/connections", device_)) return;
  // fusectl is often not mounted (containers): then, as root, mount it (one
  // instance system-wide, so it shows every connection) on a private
  // directory just for the write. Without it a file kept open in the
  // detached mount would keep the workers, and Stop(), waiting.
  if (geteuid() != 0) return;
  char dir[] = "/tmp/castor-fusectl-XXXXXX";
  if (mkdtemp(dir) == nullptr) return;
  if (mount("fusectl", dir, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) {
    if (!WriteAbort(dir, device_)) spdlog::warn("could not abort the FUSE connection");
    umount2(dir, MNT_DETACH);
  }
  rmdir(dir);
}

absl::Status DevFuseSession::Stop() {
  castor::MutexLock lock(&stop_mu_);
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  absl::Status s = absl::OkStatus();
  if (phase_.load() != kServing) {
    // Paused: the workers are gone. Handed over: the connection is another
    // process's now; only this process's descriptors go.
    bool handed_over = phase_.load() == kHandedOver;
    if (!handed_over) s = Unmount();
    for (int c : clone_fds_) close(c);
    clone_fds_.clear();
    close(fd_);
    if (pause_fd_ >= 0) close(pause_fd_);
    if (handed_over) spdlog::info("{} handed over; not unmounting", options_.mountpoint);
    return s;
  }
  if (!finished()) s = Unmount();
  // Lazy unmount ends the connection once nothing uses the mount any more;
  // after a grace period the connection is aborted so the workers stop.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!finished() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!finished()) {
    spdlog::warn("{} still busy after unmount; aborting the FUSE connection", options_.mountpoint);
    AbortConnection();
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  if (uring_) {
    // The queues end with the connection; a connection that is still up
    // (the abort could not be written) has them cancelled.
    uring_->Cancel();
  }
  for (int c : clone_fds_) close(c);
  clone_fds_.clear();
  close(fd_);
  if (pause_fd_ >= 0) close(pause_fd_);
  if (s.ok()) spdlog::info("unmounted {}", options_.mountpoint);
  return s;
}

int WaitForSignalOrUnmount(const DevFuseSession& session) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec timeout{0, 100 * 1000 * 1000};
  while (!session.finished() && !session.handed_over()) {
    int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig > 0) return sig;
  }
  return 0;
}

}  // namespace castor::fs::transport
