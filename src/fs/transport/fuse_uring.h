// FuseUring: serves the requests of a FUSE connection through io_uring
// (FUSE over io_uring, Linux 6.14+, fs/fuse/dev_uring.c). The kernel keeps
// one request queue per possible CPU and puts a request on the queue of the
// CPU its caller runs on; every queue must have registered entries before
// the kernel switches the connection over. FuseUring runs one thread per
// queue, pinned to that CPU, with an io_uring of its own and a few entries
// (a header and a payload buffer each): the thread takes the request an
// entry received, hands it to the RequestHandler with the entry's payload
// buffer as the reply buffer, and commits the reply and fetches the next
// request in one IORING_OP_URING_CMD. FORGET and INTERRUPT still arrive on
// /dev/fuse (the kernel sends them there), so the read()/write() workers of
// DevFuseSession keep running beside it.
// The threads end when the connection ends (unmount or abort: the kernel
// completes every entry with an error) or on Cancel().
// Thread-safe: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "fs/fuse/request_handler.h"

namespace castor::fs::transport {

struct UringOptions {
  // Entries per queue: requests the kernel can hand a queue at once.
  int queue_depth = 4;
  // Size of each entry's payload buffer; at least the kernel's largest
  // request or reply payload (max(max_write, max_pages * 4096)).
  size_t payload_size = 1 << 20;
};

class FuseUring {
 public:
  // Whether this kernel and process could serve FUSE over io_uring: the
  // fuse module's enable_uring parameter is on and an io_uring with
  // 128-byte SQEs can be set up. FailedPrecondition says what is missing
  // (and how to turn it on); Unimplemented: the kernel has no such support.
  static absl::Status Available();

  // Starts one thread per possible CPU, each registering
  // options.queue_depth entries on `fd` (the connection's /dev/fuse
  // descriptor, whose INIT agreed kInitOverUring). Returns once every
  // queue has registered its entries or failed to (see registered()).
  // `handler` must outlive this object.
  static std::unique_ptr<FuseUring> Start(fuse::RequestHandler& handler, int fd,
                                          UringOptions options);

  // Cancel()s and joins the threads.
  ~FuseUring();

  // OK once every queue registered its entries (the kernel then sends the
  // connection's requests through them); otherwise the first queue's error,
  // naming the queue. After an error the kernel serves the connection
  // through /dev/fuse again.
  absl::Status registered() const;
  // Whether every queue thread has ended (the connection is gone).
  bool finished() const { return live_.load() == 0; }
  int queues() const { return static_cast<int>(threads_.size()); }
  // Requests served through the ring so far.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

  // Ends the queue threads even if the connection lives on (their rings'
  // entries are cancelled; a connection left so hangs new requests: only
  // for a connection that ends anyway). Joins them.
  void Cancel();

 private:
  class Queue;
  FuseUring(fuse::RequestHandler& handler, int fd, UringOptions options);
  void Run(int qid);
  void Registered(int qid, absl::Status status);

  fuse::RequestHandler& handler_;
  const int fd_;
  const UringOptions options_;
  // Readable once Cancel() was called (an eventfd each queue polls).
  int cancel_fd_ = -1;
  std::vector<std::thread> threads_;
  std::atomic<int> live_{0};
  std::atomic<uint64_t> requests_{0};
  mutable castor::Mutex mu_;
  int pending_registrations_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status registered_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> joined_{false};
};

// castor_fuse_transport_requests_total{transport}: "dev" or "uring".
metrics::Counter& FuseRequestsCounter(std::string_view transport);

// The number of CPUs the kernel counts as possible (its number of FUSE
// io_uring queues), from /sys/devices/system/cpu/possible.
int PossibleCpus();

}  // namespace castor::fs::transport
