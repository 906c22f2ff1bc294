#include "fs/transport/vhost_user_protocol.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::fs::transport {

absl::StatusOr<std::optional<VhostMessage>> ReadVhostMessage(int sock) {
  uint8_t header[vhost::kHeaderSize];
  size_t got = 0;
  VhostMessage msg;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * vhost::kMaxFds)];
  while (got < sizeof(header)) {
    iovec iov{header + got, sizeof(header) - got};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "recvmsg on vhost-user socket");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          msg.fds.emplace_back(fd);
        }
      }
    }
    if (mh.msg_flags & MSG_CTRUNC) {
      return absl::InvalidArgumentError("vhost-user message carries too many file descriptors");
    }
    if (n == 0) {
      if (got == 0) return std::nullopt;
      return absl::UnavailableError("vhost-user connection closed inside a message header");
    }
    got += n;
  }
  uint32_t size;
  std::memcpy(&msg.request, header, 4);
  std::memcpy(&msg.flags, header + 4, 4);
  std::memcpy(&size, header + 8, 4);
  if ((msg.flags & vhost::kVersionMask) != vhost::kVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vhost-user message ", msg.request, " has version ", msg.flags & vhost::kVersionMask));
  }
  if (size > vhost::kMaxPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("vhost-user message ", msg.request, " has a payload of ", size, " bytes"));
  }
  msg.payload.resize(size);
  got = 0;
  while (got < size) {
    ssize_t n = recv(sock, msg.payload.data() + got, size - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "recv on vhost-user socket");
    }
    if (n == 0)
      return absl::UnavailableError("vhost-user connection closed inside a message payload");
    got += n;
  }
  return msg;
}

absl::Status WriteVhostMessage(int sock, uint32_t request, uint32_t flags,
                               std::span<const uint8_t> payload, std::span<const int> fds) {
  if (payload.size() > vhost::kMaxPayload || fds.size() > vhost::kMaxFds) {
    return absl::InvalidArgumentError("vhost-user message too large");
  }
  uint8_t header[vhost::kHeaderSize];
  uint32_t size = payload.size();
  std::memcpy(header, &request, 4);
  std::memcpy(header + 4, &flags, 4);
  std::memcpy(header + 8, &size, 4);
  iovec iov[2] = {{header, sizeof(header)}, {const_cast<uint8_t*>(payload.data()), payload.size()}};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * vhost::kMaxFds)];
  msghdr mh{};
  mh.msg_iov = iov;
  mh.msg_iovlen = payload.empty() ? 1 : 2;
  if (!fds.empty()) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  size_t total = sizeof(header) + payload.size();
  size_t sent = 0;
  while (sent < total) {
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "sendmsg on vhost-user socket");
    }
    sent += n;
    if (sent >= total) break;
    // Short write: advance the iovecs; fds went with the first chunk.
    mh.msg_control = nullptr;
    mh.msg_controllen = 0;
    size_t skip = n;
    while (skip > 0 && mh.msg_iovlen > 0) {
      iovec& v = mh.msg_iov[0];
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        ++mh.msg_iov;
        --mh.msg_iovlen;
      } else {
        v.iov_base = static_cast<uint8_t*>(v.iov_base) + skip;
        v.iov_len -= skip;
        skip = 0;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace castor::fs::transport
