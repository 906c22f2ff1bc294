// A split virtqueue (virtio 1.x, section 2.7) as seen by the device side:
// pops descriptor chains the driver made available, validating every index,
// flag and buffer against guest memory, and pushes used elements back with
// event-idx aware notification through the call eventfd. It tracks which
// descriptor heads the device holds: a head made available again before it
// was returned breaks the queue (the driver broke the ring protocol), so a
// guest can never have more chains in flight than the queue size, nor get
// one chain completed twice.
//
// Thread-safety: Start/Pop/EnableNotifyAndCheck/last_avail are called from
// one thread at a time (the queue's poll thread, or the control thread while
// the queue is stopped). PushUsed, SetCallFd and WaitIdle may be called from
// any thread concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "fs/transport/guest_memory.h"

namespace castor::fs::transport {

// One descriptor chain, translated to host memory. When `status` is not OK
// the chain is malformed: it carries no buffers and must be returned to the
// driver with PushUsed(head, 0) (it still counts as in flight).
struct DescChain {
  uint16_t head = 0;
  absl::Status status;
  std::vector<std::span<uint8_t>> readable;  // device-readable part, in order
  std::vector<std::span<uint8_t>> writable;  // device-writable part, in order
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

class Virtqueue {
 public:
  static constexpr uint16_t kMaxSize = 32768;
  // Upper bound on the bytes one chain may describe (readable + writable).
  static constexpr uint64_t kMaxChainBytes = uint64_t{64} << 20;

  struct Layout {
    uint16_t size = 0;       // number of descriptors: a power of 2, 1..32768
    uint64_t desc_addr = 0;  // frontend virtual addresses (SET_VRING_ADDR)
    uint64_t avail_addr = 0;
    uint64_t used_addr = 0;
  };

  Virtqueue() = default;
  ~Virtqueue();
  Virtqueue(const Virtqueue&) = delete;
  Virtqueue& operator=(const Virtqueue&) = delete;

  // Binds the rings in `mem` (which must outlive the started queue) and
  // resumes at `last_avail` (SET_VRING_BASE); the used index is read from the
  // ring. InvalidArgument when the size is not a power of 2 or a ring is
  // misaligned or outside guest memory.
  absl::Status Start(const GuestMemory& mem, const Layout& layout, uint16_t last_avail,
                     bool event_idx, bool indirect);
  bool started() const { return desc_ != nullptr; }
  // Forgets the ring addresses (after WaitIdle); the queue can be started again.
  void Stop();

  // The next available chain; nullopt when the ring is empty. DataLoss means
  // the ring itself is broken (the available index moved by more than the
  // queue size, or the next entry names a head the device still holds): the
  // entry is not consumed and the queue must stop until the frontend resets
  // it. A malformed chain is returned with its
  // `status` set; a chain whose head index is out of range cannot be
  // returned to the driver and comes back as InvalidArgument too, after the
  // entry has been consumed (the caller logs it and goes on).
  absl::StatusOr<std::optional<DescChain>> Pop();
  // Re-arms guest notifications after Pop() found the ring empty (publishes
  // avail_event with event-idx); true when new chains arrived meanwhile.
  bool EnableNotifyAndCheck();

  // Returns a popped chain to the driver with `len` bytes written, and
  // signals the call eventfd when the driver asked for it. Each popped head
  // exactly once (a head not in flight is a device bug: CHECK).
  void PushUsed(uint16_t head, uint32_t len);
  // Takes ownership of `fd` (-1: no notifications); closes the previous one.
  void SetCallFd(int fd);
  // Blocks until every popped chain has been pushed back.
  void WaitIdle();
  // Chains popped and not pushed back yet (at most size()).
  uint64_t inflight() const;

  uint16_t last_avail() const { return last_avail_; }
  uint16_t size() const { return size_; }

 private:
  struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
  };
  static constexpr uint16_t kDescNext = 1, kDescWrite = 2, kDescIndirect = 4;
  static constexpr uint16_t kAvailNoInterrupt = 1;

  uint16_t LoadAvailIdx() const;
  void WalkChain(DescChain& chain) const;

  const GuestMemory* mem_ = nullptr;
  uint16_t size_ = 0;
  bool event_idx_ = false;
  bool indirect_ = false;
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  uint16_t last_avail_ = 0;

  mutable Mutex mu_;
  CondVar idle_;
  uint16_t used_idx_ ABSL_GUARDED_BY(mu_) = 0;
  int call_fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t inflight_ ABSL_GUARDED_BY(mu_) = 0;
  // Per descriptor index: the device holds the chain with this head.
  std::vector<bool> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::fs::transport
