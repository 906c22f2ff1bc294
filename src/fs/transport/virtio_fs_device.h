// The virtio-fs device (virtio spec 5.11) on top of the vhost-user backend:
// queue 0 is the hiprio queue (FORGET, BATCH_FORGET), queues 1.. carry
// requests. Each descriptor chain is one FUSE request: its device-readable
// part is gathered into a private buffer (the guest cannot change it under
// the handler), the reply is written into a private buffer and scattered
// into the device-writable part on Complete(). A malformed chain fails only
// that request (returned with nothing written).
//
// Requests are handled inline on the queue threads (threads <= 1) or on a
// pool of `threads` workers. With workers, each queue may have at most
// kBacklogPerWorker * threads chains waiting for one: beyond that its queue
// thread blocks in HandleChain and pops nothing more, so the rest of a
// flood stays in the guest's ring (the guest cannot queue more than the
// queue size there, see Virtqueue) and costs the device no memory.
//
// Every chain is counted by queue in castor_virtiofs_requests_total{queue}
// (docs/operations.md), which shows whether a guest spreads its requests.
//
// Thread-safety: HandleChain runs on the queue threads; responders may be
// completed from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "fs/fuse/request_handler.h"
#include "fs/transport/vhost_user_backend.h"

namespace castor::fs::transport {

// Reply buffers of one size class, reused across requests: a READ reply is
// up to 1 MiB, and a fresh allocation of that size costs page faults and
// zeroing on every request. Thread-safe.
class ReplyBufferPool {
 public:
  static constexpr size_t kBufferSize = (size_t{1} << 20) + 4096;
  static constexpr size_t kMaxFree = 64;
  std::unique_ptr<uint8_t[]> Get();
  void Put(std::unique_ptr<uint8_t[]> buffer);

 private:
  Mutex mu_;
  std::vector<std::unique_ptr<uint8_t[]>> free_ ABSL_GUARDED_BY(mu_);
};

class VirtioFsDevice : public VirtioDevice {
 public:
  static constexpr size_t kTagSize = 36;
  // Largest reply buffer handed to the handler (a 1 MiB READ plus headers
  // fits; a larger writable part is simply not filled).
  static constexpr size_t kMaxReply = size_t{4} << 20;
  // Largest request accepted from the guest. The largest a kernel sends is
  // a WRITE of max_write (we negotiate 128 KiB) plus headers; anything
  // bigger is refused before it is copied, so a guest cannot make the
  // device hold up to kMaxChainBytes per queued chain.
  static constexpr size_t kMaxRequest = size_t{1} << 20;
  static constexpr size_t kInHeaderSize = 40;   // struct fuse_in_header
  static constexpr size_t kOutHeaderSize = 16;  // struct fuse_out_header
  // Chains a queue may have waiting for a worker, per worker thread.
  static constexpr size_t kBacklogPerWorker = 2;

  // `tag` is what the guest mounts (at most 36 bytes); `handler` must outlive
  // the device.
  VirtioFsDevice(fuse::RequestHandler& handler, std::string tag, uint32_t request_queues,
                 int threads);
  ~VirtioFsDevice() override;

  uint64_t DeviceFeatures() const override { return 0; }
  uint32_t NumQueues() const override { return 1 + request_queues_; }
  std::vector<uint8_t> Config() const override;
  void HandleChain(uint32_t queue, Virtqueue& vq, DescChain chain) override;

  // Chains failed by the transport (malformed, no reply room), for tests.
  uint64_t failed_chains() const;
  // Chains of `queue` waiting for a worker now, for tests.
  size_t backlog(uint32_t queue) const;

 private:
  struct Job {
    uint32_t queue;
    Virtqueue* vq;
    DescChain chain;
  };
  void Worker();

  fuse::RequestHandler& handler_;
  ReplyBufferPool pool_;
  const std::string tag_;
  const uint32_t request_queues_;

  const size_t max_backlog_;

  mutable Mutex mu_;
  CondVar work_;
  CondVar room_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> backlog_ ABSL_GUARDED_BY(mu_);  // per queue: jobs in queue_
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> workers_;
  // castor_virtiofs_requests_total, one child per queue (index = queue).
  std::vector<metrics::Counter*> chains_per_queue_;
};

}  // namespace castor::fs::transport
