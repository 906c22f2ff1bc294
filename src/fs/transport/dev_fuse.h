// DevFuseSession: serves one FUSE mount over /dev/fuse. It mounts (mount(2)
// as root, fusermount3 otherwise), runs N worker threads that each read
// requests from their own clone of the device fd (FUSE_DEV_IOC_CLONE) and
// hand them to a fuse::RequestHandler, and unmounts on Stop(). A stale mount
// left on the mount point by a killed daemon ("transport endpoint is not
// connected") is detected and lazily unmounted first.
// With FUSE over io_uring (transport kAuto or kUring, and a kernel that
// agrees at INIT) the requests go through a FuseUring (fs/transport/
// fuse_uring.h) instead, and the workers only see FORGET and INTERRUPT,
// which the kernel keeps sending through /dev/fuse.
// For a live takeover (fs/transport/takeover.h) the workers can be paused
// between requests (requests arriving meanwhile stay queued in the kernel)
// and resumed, the connection handed to another process (Stop() then
// closes its descriptors without unmounting), and Adopt() serves a
// connection handed over by another process.
// Thread-safe: Stop(), Pause(), Resume(), MarkHandedOver() and the
// observers may be called from any thread; Pause/Resume/Stop serialize on
// one mutex.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "fs/fuse/request_handler.h"
#include "fs/fuse/session.h"
#include "fs/transport/fuse_uring.h"

namespace castor::fs::transport {

// How the requests of a mount reach castor.
enum class Transport {
  // FUSE over io_uring when the kernel offers it, read()/write() otherwise.
  kAuto,
  // FUSE over io_uring, or no mount.
  kUring,
  // read() and write() on /dev/fuse.
  kDev,
};

// "auto", "uring", "dev".
std::string_view TransportName(Transport t);

struct MountOptions {
  std::string mountpoint;
  // Worker threads; 0 = number of cores.
  int threads = 0;
  // Let users other than the mounting one in (fusermount3 needs
  // user_allow_other in /etc/fuse.conf for that).
  bool allow_other = false;
  // Mount through fusermount3 even when running as root (tests the
  // unprivileged path).
  bool force_fusermount = false;
  std::string fsname = "castor";
  // Called with the connection's /dev/fuse descriptor (owned by the
  // session) once it exists, before any request is read: FUSE passthrough
  // registers backing files on it (DevBackingFiles::Attach).
  std::function<void(int fuse_fd)> on_connection;
  Transport transport = Transport::kDev;
  // Entries per io_uring queue (one queue per CPU).
  int uring_queue_depth = 4;
};

class DevFuseSession {
 public:
  // Clears a stale mount on the mount point, mounts, and starts the
  // workers. `handler` and `session` must outlive the returned object; the
  // session's options decide the buffer sizes. Errors name the mount point:
  // NotFound / FailedPrecondition (not a directory, stale mount that cannot
  // be cleared, with the command that clears it), PermissionDenied,
  // Unavailable (mount or fusermount3 failing). With Transport::kUring:
  // FailedPrecondition / Unimplemented when the kernel does not serve FUSE
  // over io_uring (saying how to turn it on); with kUring or kAuto: the
  // error of a queue that could not register (the mount is undone).
  static absl::StatusOr<std::unique_ptr<DevFuseSession>> Start(fuse::RequestHandler& handler,
                                                               fuse::Session& session,
                                                               MountOptions options);

  // Serves the connection of `fd`, a /dev/fuse descriptor another process
  // handed over (its INIT is done; `session` must have been Restore()d):
  // no mount, no INIT. `options.mountpoint` is the mount's path (for Stop's
  // unmount). Served through /dev/fuse whatever options.transport says; a
  // connection whose agreement includes FUSE over io_uring is refused
  // (FailedPrecondition: its requests would wait for queues nobody serves).
  static absl::StatusOr<std::unique_ptr<DevFuseSession>> Adopt(fuse::RequestHandler& handler,
                                                               fuse::Session& session,
                                                               MountOptions options, int fd);

  // Stop()s.
  ~DevFuseSession();

  // Stops reading requests: each worker finishes the request it handles
  // and exits; requests the kernel gets meanwhile stay queued on the
  // connection. Returns once no worker runs (false, doing nothing, after
  // Stop() or when serving through io_uring, whose queues cannot be handed
  // over). While paused, finished() is false.
  bool Pause() ABSL_LOCKS_EXCLUDED(stop_mu_);
  // Starts the workers again after Pause() (no-op otherwise).
  void Resume() ABSL_LOCKS_EXCLUDED(stop_mu_);
  // After Pause(): another process serves the connection now. Stop() only
  // closes this process's descriptors; handed_over() turns true.
  void MarkHandedOver() ABSL_LOCKS_EXCLUDED(stop_mu_);
  bool handed_over() const { return phase_.load() == kHandedOver; }
  // The connection's /dev/fuse descriptor (owned by the session).
  int fd() const { return fd_; }

  // Unmounts (lazily) if still mounted and joins the workers; aborts the
  // connection if they are still busy after a grace period. Idempotent.
  absl::Status Stop();

  // Whether every worker has exited because the mount went away (not
  // while paused or after a handover).
  bool finished() const {
    return live_workers_.load() == 0 && phase_.load() == kServing &&
           (uring_ == nullptr || uring_->finished());
  }
  const std::string& mountpoint() const { return options_.mountpoint; }
  int threads() const { return static_cast<int>(workers_.size()); }
  // Transport::kUring when the requests go through io_uring, else kDev.
  Transport transport() const { return uring_ ? Transport::kUring : Transport::kDev; }
  // The io_uring queues, or null.
  const FuseUring* uring() const { return uring_.get(); }

 private:
  DevFuseSession(fuse::RequestHandler& handler, fuse::Session& session, MountOptions options,
                 int fd, bool via_fusermount);
  enum Phase : int { kServing, kPaused, kHandedOver };
  // Opens the worker descriptors (clones of fd_) and starts the workers.
  void StartWorkers();
  void SpawnWorkers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stop_mu_);
  void Worker(int fd);
  // After INIT: registers the io_uring queues if the kernel agreed to them.
  absl::Status StartUring();
  absl::Status Unmount();
  void AbortConnection();

  fuse::RequestHandler& handler_;
  fuse::Session& session_;
  const MountOptions options_;
  const int fd_;
  const bool via_fusermount_;
  dev_t device_ = 0;  // st_dev of the mount (names the fusectl connection)
  std::vector<int> clone_fds_;
  std::vector<int> worker_fds_;  // fd_ and the clones, one per worker
  // Readable while the workers are asked to pause (an eventfd).
  int pause_fd_ = -1;
  std::atomic<bool> pausing_{false};
  // A worker has written the reply to INIT.
  std::atomic<bool> init_replied_{false};
  std::atomic<int> phase_{kServing};
  std::vector<std::thread> workers_;
  std::atomic<int> live_workers_{0};
  // Set in Start() before the session is handed out; never reset.
  std::unique_ptr<FuseUring> uring_;
  castor::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

// Waits until SIGINT/SIGTERM arrives (returns the signal number), the
// session finishes because the file system was unmounted, or it was handed
// over to another process (both return 0). The
// caller blocks both signals in every thread, from before the first one
// starts (`castor mount` does in cli/commands.h).
int WaitForSignalOrUnmount(const DevFuseSession& session);

// Whether `path` is a dead FUSE mount (statfs fails with ENOTCONN, or
// ECONNABORTED for one that was served through io_uring).
bool IsStaleMount(const std::string& path);

}  // namespace castor::fs::transport
