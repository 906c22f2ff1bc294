// The device side of a vhost-user connection: negotiates features with the
// frontend (QEMU, cloud-hypervisor, ...), maps guest memory, runs one poll
// thread per started and enabled virtqueue, and hands every descriptor chain
// to a VirtioDevice. Device-independent; virtio_fs_device.h is the device.
//
// Thread-safety: ServeConnection runs on the caller's thread and serves one
// connection at a time; the device's HandleChain runs on the queue threads.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fs/transport/guest_memory.h"
#include "fs/transport/vhost_user_protocol.h"
#include "fs/transport/virtqueue.h"

namespace castor::fs::transport {

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  // Virtio feature bits the device offers (the transport adds the ring
  // features and VHOST_USER_F_PROTOCOL_FEATURES).
  virtual uint64_t DeviceFeatures() const = 0;
  virtual uint32_t NumQueues() const = 0;
  // The device configuration space (GET_CONFIG).
  virtual std::vector<uint8_t> Config() const = 0;
  // Called on queue `queue`'s thread for every chain popped from `vq`. The
  // device must eventually call vq.PushUsed(chain.head, written), from any
  // thread; queues are stopped only once all their chains came back.
  virtual void HandleChain(uint32_t queue, Virtqueue& vq, DescChain chain) = 0;
};

class VhostUserBackend {
 public:
  explicit VhostUserBackend(VirtioDevice& device);
  ~VhostUserBackend();

  // Serves the connection `sock` until the frontend disconnects (OK), sends
  // a malformed message (InvalidArgument) or the socket fails (Unavailable),
  // or `stop_fd` (-1: none) becomes readable (Cancelled). Every queue is
  // stopped and every in-flight request completed before it returns.
  absl::Status ServeConnection(int sock, int stop_fd);

 private:
  struct Vring {
    Virtqueue vq;
    Virtqueue::Layout layout;
    bool addr_set = false;
    uint16_t base = 0;
    bool enabled = false;
    UniqueFd kick;
    UniqueFd err;
    bool running = false;
    // Set before stop_event fires: the queue thread checks it between
    // chains, since a busy guest may never let the ring run empty.
    std::atomic<bool> stopping{false};
    UniqueFd stop_event;
    std::thread thread;
  };
  struct Reply {
    std::vector<uint8_t> payload;
  };

  // Handles one message; returns the reply payload for requests that have a
  // reply. InvalidArgument = malformed (the connection closes); any other
  // error = the request failed (reported through REPLY_ACK).
  absl::StatusOr<std::optional<Reply>> Dispatch(VhostMessage& msg);
  absl::Status SetMemTable(VhostMessage& msg);
  absl::StatusOr<Vring*> VringFor(uint64_t index);
  absl::Status UpdateQueue(uint32_t index);
  void StopQueue(uint32_t index);
  void StopAll();
  void ResetState();
  void QueueLoop(uint32_t index);

  VirtioDevice& device_;
  const uint64_t offered_features_;
  const uint64_t offered_protocol_;
  uint64_t acked_features_ = 0;
  uint64_t acked_protocol_ = 0;
  bool features_set_ = false;
  std::unique_ptr<GuestMemory> memory_;
  std::vector<std::unique_ptr<Vring>> vrings_;
};

// Creates a listening unix stream socket at `path` with `mode` (an existing
// socket file there is replaced; anything else is AlreadyExists). The
// socket appears atomically with its mode, independent of the umask: it is
// bound in a private directory beside `path`, chmod'ed, then renamed.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, mode_t mode = 0600);

}  // namespace castor::fs::transport
