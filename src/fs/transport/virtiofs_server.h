// `castor virtiofs`: serves a castore filesystem (CastoreFs behind the FUSE
// Dispatcher) to a VM over vhost-user virtio-fs. Listens on a unix socket,
// serves one frontend connection at a time with a fresh FUSE session and
// inode table per connection.
//
// Thread-safety: ServeVirtiofs blocks its caller; it may run on any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "castore/composition.h"
#include "fs/castore_fs.h"

namespace castor::fs::transport {

struct VirtiofsOptions {
  std::string socket_path;
  FsOptions fs;
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

// Serves until the frontend disconnects (OK; with `persistent`, keeps
// accepting), a connection fails (its error), or `stop_fd` (-1: none)
// becomes readable (OK). Removes the socket file before returning.
absl::Status ServeVirtiofs(const castore::Services& services, const VirtiofsOptions& options,
                           int stop_fd);

}  // namespace castor::fs::transport
