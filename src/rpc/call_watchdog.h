// Bounds on the client calls to a daemon. Keepalive pings notice a dead
// connection, not a daemon that accepted a call and never answers it; so
// every stream (a blob download, a Directory Get, a Put) is cancelled after
// `idle` without a message either way, every unary call has a deadline, and
// CancelAllCalls ends every call at once when the process shuts down. One
// watchdog thread serves every call of the process (started with the first
// one). Thread-safe; a CallWatch belongs to the thread making its call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace castor::rpc {

struct CallTimeouts {
  // A stream with no message sent or received for this long is cancelled
  // (DeadlineExceeded). A steady stream may take as long as it needs.
  std::chrono::milliseconds idle = std::chrono::seconds(15);
  // The deadline of a unary call, and of the answer to a Put stream after
  // its last message.
  std::chrono::milliseconds unary = std::chrono::seconds(30);
};

// The timeouts of the clients opened from addresses (rpc/register.h). The
// CLI sets them from --rpc-idle-timeout and --rpc-timeout before it opens
// services.
void SetDefaultCallTimeouts(const CallTimeouts& timeouts);
CallTimeouts DefaultCallTimeouts();

// Cancels every call in flight, and every call started later, with
// Cancelled: for a process that shuts down, so that no thread (a FUSE
// worker) waits for a daemon that does not answer. There is no way back.
void CancelAllCalls();

// Watches one call made with `ctx`. Construct it before the call starts and
// destroy it after the call finished (before `ctx`).
class CallWatch {
 public:
  enum class Kind { kUnary, kStream };
  // kUnary: sets the deadline `limit` from now on `ctx`. kStream: the call is
  // cancelled once `limit` passes without Progress().
  CallWatch(grpc::ClientContext& ctx, Kind kind, std::chrono::milliseconds limit);
  ~CallWatch();
  CallWatch(const CallWatch&) = delete;
  CallWatch& operator=(const CallWatch&) = delete;

  // A stream's message arrived or was sent.
  void Progress();
  // A client stream sent its last message: it now waits for one answer,
  // which gets `timeout` (the daemon stores what it received first).
  void AwaitAnswer(std::chrono::milliseconds timeout);

  // The outcome of the finished call, `what` (the call and the address) in
  // front: FromGrpcStatus, except that a stream cancelled as idle is
  // DeadlineExceeded, a unary call past its deadline says so, and a call
  // ended by CancelAllCalls is Cancelled, each saying which limit ended it.
  absl::Status Result(const grpc::Status& status, std::string_view what) const;

 private:
  friend class Watchdog;
  enum Outcome : int { kRunning, kIdle, kShutDown };

  grpc::ClientContext& ctx_;
  const Kind kind_;
  // Read by the watchdog thread under its mutex, written by the caller.
  std::atomic<int64_t> limit_ns_;
  std::atomic<int64_t> last_progress_ns_;
  std::atomic<bool> awaiting_answer_{false};
  std::atomic<int> outcome_{kRunning};
};

}  // namespace castor::rpc
