// DevFuseSession: serves one FUSE mount over /dev/fuse. It mounts (mount(2)
// as root, fusermount3 otherwise), runs N worker threads that each read
// requests from their own clone of the device fd (FUSE_DEV_IOC_CLONE) and
// hand them to a fuse::RequestHandler, and unmounts on Stop(). A stale mount
// left on the mount point by a killed daemon ("transport endpoint is not
// connected") is detected and lazily unmounted first.
// Thread-safe: Stop() and finished() may be called from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "fs/fuse/request_handler.h"
#include "fs/fuse/session.h"

namespace castor::fs::transport {

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
};

class DevFuseSession {
 public:
  // Clears a stale mount on the mount point, mounts, and starts the
  // workers. `handler` and `session` must outlive the returned object; the
  // session's options decide the buffer sizes. Errors name the mount point:
  // NotFound / FailedPrecondition (not a directory, stale mount that cannot
  // be cleared, with the command that clears it), PermissionDenied,
  // Unavailable (mount or fusermount3 failing).
  static absl::StatusOr<std::unique_ptr<DevFuseSession>> Start(fuse::RequestHandler& handler,
                                                               fuse::Session& session,
                                                               MountOptions options);

  // Stop()s.
  ~DevFuseSession();

  // Unmounts (lazily) if still mounted and joins the workers; aborts the
  // connection if they are still busy after a grace period. Idempotent.
  absl::Status Stop();

  // Whether every worker has exited (the mount went away).
  bool finished() const { return live_workers_.load() == 0; }
  const std::string& mountpoint() const { return options_.mountpoint; }
  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  DevFuseSession(fuse::RequestHandler& handler, fuse::Session& session, MountOptions options,
                 int fd, bool via_fusermount);
  void Worker(int fd);
  absl::Status Unmount();
  void AbortConnection();

  fuse::RequestHandler& handler_;
  fuse::Session& session_;
  const MountOptions options_;
  const int fd_;
  const bool via_fusermount_;
  dev_t device_ = 0;  // st_dev of the mount (names the fusectl connection)
  std::vector<int> clone_fds_;
  std::vector<std::thread> workers_;
  std::atomic<int> live_workers_{0};
  castor::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

// Waits until SIGINT/SIGTERM arrives (returns the signal number) or the
// session finishes because the file system was unmounted (returns 0). The
// caller blocks both signals in every thread, from before the first one
// starts (`castor mount` does in cli/commands.h).
int WaitForSignalOrUnmount(const DevFuseSession& session);

// Whether `path` is a dead FUSE mount (statfs fails with ENOTCONN).
bool IsStaleMount(const std::string& path);

}  // namespace castor::fs::transport
