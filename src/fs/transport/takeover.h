// Live takeover of a /dev/fuse mount by another castor process (`castor
// mount --takeover-listen SOCKET` / `--takeover SOCKET`), so a restart or
// an upgrade keeps the mount, its open files and the inode numbers the
// kernel holds.
//
// The exchange over the unix stream socket, in frames of a 4-byte tag, a
// little-endian u32 payload length and the payload:
//   successor                          running mount (TakeoverListener)
//   HELO "castor-takeover 1"   ->
//                                      pauses its workers (requests stay
//                                      queued in the kernel), saves its state
//                              <-      STAT state (the /dev/fuse fd attached)
//   restores its tables
//   REDY                       ->      (or NACK reason: it resumes)
//                                      stops listening (frees SOCKET)
//                              <-      CMIT, then exits 0 without unmounting
//   starts serving the fd
// Anything else — garbage, a refused or dead successor, no REDY within
// ready_timeout — and the running mount resumes serving; the successor only
// serves once it got CMIT, so exactly one process serves at any time. Only
// the same user (or root) may connect; the socket is created 0600.
// Thread-safe: TakeoverListener runs one thread of its own; its
// destructor waits for it (a takeover in progress is abandoned and the mount
// resumes). The successor-side functions are plain calls.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "fs/transport/dev_fuse.h"

namespace castor::fs::transport {

// Payloads other than the state are short messages.
inline constexpr size_t kMaxTakeoverMessage = 4096;

struct TakeoverTimeouts {
  // For the successor's HELO after it connects.
  std::chrono::milliseconds hello{5000};
  // For the successor to restore the state and say REDY (or NACK).
  std::chrono::milliseconds ready{60000};
  // For writing the state.
  std::chrono::milliseconds send{30000};
};

class TakeoverListener {
 public:
  // Called while the workers are paused: the serialized TakeoverState.
  using SaveState = std::function<std::string()>;

  // Listens on `path` (a stale socket nobody listens on is replaced; one a
  // live process listens on is FailedPrecondition) for successors of
  // `session`. `session` must outlive the listener.
  static absl::StatusOr<std::unique_ptr<TakeoverListener>> Start(const std::string& path,
                                                                 DevFuseSession& session,
                                                                 SaveState save_state,
                                                                 TakeoverTimeouts timeouts = {});
  // Stops listening and removes the socket (unless handed over: then the
  // successor owns the path).
  ~TakeoverListener();
  TakeoverListener(const TakeoverListener&) = delete;
  TakeoverListener& operator=(const TakeoverListener&) = delete;

  // Takeovers refused or failed so far (tests, logs).
  int failed() const { return failed_.load(); }

 private:
  TakeoverListener(std::string path, DevFuseSession& session, SaveState save_state,
                   TakeoverTimeouts timeouts, UniqueFd listen_fd, UniqueFd stop_fd);
  void Run();
  // One successor on `conn`; true when the mount was handed over.
  bool Serve(int conn);
  // Makes the ongoing takeover fail: the mount resumes serving.
  void Abandon(std::string_view why);

  const std::string path_;
  DevFuseSession& session_;
  const SaveState save_state_;
  const TakeoverTimeouts timeouts_;
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;  // eventfd, readable once the destructor runs
  std::atomic<int> failed_{0};
  std::thread thread_;
};

// The successor's side. RequestTakeover connects to `path`, asks for the
// mount and receives its state and /dev/fuse descriptor (Unavailable: no
// mount listening; FailedPrecondition: it refused, with its reason).
struct TakenOver {
  UniqueFd conn;
  UniqueFd fuse_fd;
  std::string state;
};
absl::StatusOr<TakenOver> RequestTakeover(const std::string& path,
                                          std::chrono::milliseconds timeout);
// Tells the predecessor the state was not usable (it resumes serving).
void RefuseTakeover(TakenOver& taken, std::string_view why);
// Tells the predecessor this process is ready and waits for its commit:
// OK means serve the descriptor now (the predecessor has stopped for good
// and freed its socket path); an error means it did not commit and keeps
// serving, so this process must not serve.
absl::Status CompleteTakeover(TakenOver& taken, std::chrono::milliseconds timeout);

}  // namespace castor::fs::transport
