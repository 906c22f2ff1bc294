// Passing file descriptors over a unix socket (SCM_RIGHTS): the /dev/fuse
// handover between two castor processes uses it. SendWithFds writes a whole
// message (the descriptors ride on its first byte); ReceiveWithFds reads up
// to a buffer's worth and takes ownership of any descriptors that came with
// it, closing those beyond what the caller accepts.
// Thread-safe: plain functions over the caller's socket.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace castor {

// At most this many descriptors travel with one message.
inline constexpr size_t kMaxPassedFds = 16;

// Room for the control message that carries up to kMaxPassedFds descriptors.
struct FdControlBuffer {
  alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
};

// Points `msg`'s control message at `control`, filled with an SCM_RIGHTS
// message carrying `fds` (at most kMaxPassedFds; none leaves `msg` without
// a control message). For senders that build their own msghdr (a datagram
// with an address); SendWithFds uses it too.
void AttachFds(msghdr& msg, std::span<const int> fds, FdControlBuffer& control);

// Writes all of `data` (not empty) to stream socket `sock`, `fds` (at most
// kMaxPassedFds) attached to its first byte. Never raises SIGPIPE: a closed
// peer is Unavailable. `what` names the exchange in errors.
absl::Status SendWithFds(int sock, std::span<const uint8_t> data, std::span<const int> fds,
                         std::string_view what);

// One recvmsg on `sock` into `buf`: returns the bytes read (0 at end of
// stream) and appends the descriptors received (close-on-exec) to `fds`.
// More than `max_fds` descriptors, or a truncated control message, is
// InvalidArgument (every descriptor that came is closed).
absl::StatusOr<size_t> ReceiveWithFds(int sock, std::span<uint8_t> buf, size_t max_fds,
                                      std::vector<UniqueFd>* fds, std::string_view what);

}  // namespace castor
