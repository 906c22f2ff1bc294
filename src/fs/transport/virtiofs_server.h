// `castor virtiofs`: serves a FUSE filesystem (behind the FUSE Dispatcher)
// to a VM over vhost-user virtio-fs. Listens on a unix socket, serves one
// frontend connection at a time with a fresh FUSE session and filesystem
// (from the caller's factory: castor's CLI builds a CastoreFs) per
// connection.
//
// Thread-safety: ServeVirtiofs blocks its caller; it may run on any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "base/mutex.h"
#include "fs/fuse/filesystem.h"
#include "fs/fuse/request_handler.h"

namespace castor::fs::transport {

// Makes the filesystem of one guest driver instance: each FUSE session gets
// a new one, since the node ids of an earlier session mean nothing to a
// restarted driver. Must not return null. Called on the serving thread or
// a request thread, one call at a time.
using FilesystemFactory = std::function<std::unique_ptr<fuse::Filesystem>()>;

// The FUSE side of one virtio-fs device: a Filesystem (from the factory) +
// Session + Dispatcher per guest driver instance. The kernel sends INIT once
// per connection, so an INIT on an initialized session means the guest's
// driver started over (reboot, kexec, module reload) without the vhost-user
// connection closing: it gets a fresh session and filesystem instead of EIO.
//
// Thread-safe. Relies on the Dispatcher completing each request before
// Handle returns (it owns no threads), so an old instance is only dropped
// once no request runs on it.
class GuestSessionHandler : public fuse::RequestHandler {
 public:
  explicit GuestSessionHandler(FilesystemFactory new_filesystem);
  ~GuestSessionHandler() override;
  void Handle(std::span<const uint8_t> request, fuse::Responder& responder) override;
  // How many sessions were started (1 + re-initializations).
  uint64_t sessions() const;

 private:
  struct Instance;
  std::shared_ptr<Instance> NewInstance() const;

  const FilesystemFactory new_filesystem_;
  mutable Mutex mu_;
  std::shared_ptr<Instance> current_ ABSL_GUARDED_BY(mu_);
  uint64_t sessions_ ABSL_GUARDED_BY(mu_) = 1;
};

struct VirtiofsOptions {
  std::string socket_path;
  // The socket's mode (set before it appears, whatever the umask).
  mode_t socket_mode = 0600;
  // Threads handling requests; 1 handles them on the queue threads.
  int threads = 1;
  // Request queues offered (GET_QUEUE_NUM is a maximum: QEMU's
  // vhost-user-fs-pci num-request-queues may use up to this many).
  uint32_t request_queues = 4;
  // Wait for the next connection after a disconnect instead of returning.
  bool persistent = false;
  // Called once the socket listens (tests use it to start the VM).
  std::function<void()> on_listening;
};

// Serves the filesystems `new_filesystem` makes until the frontend
// disconnects (OK; with `persistent`, keeps accepting), a connection fails
// (its error), or `stop_fd` (-1: none) becomes readable (OK). Removes the
// socket file before returning.
absl::Status ServeVirtiofs(const FilesystemFactory& new_filesystem, const VirtiofsOptions& options,
                           int stop_fd);

}  // namespace castor::fs::transport
