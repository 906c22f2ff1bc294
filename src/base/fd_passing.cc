#include "base/fd_passing.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor {

void AttachFds(msghdr& msg, std::span<const int> fds, FdControlBuffer& control) {
  if (fds.empty()) return;
  std::memset(control.bytes, 0, sizeof(control.bytes));
  msg.msg_control = control.bytes;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
}

absl::Status SendWithFds(int sock, std::span<const uint8_t> data, std::span<const int> fds,
                         std::string_view what) {
  if (data.empty()) return absl::InvalidArgumentError(absl::StrCat(ToAbslView(what), ": no data"));
  if (fds.size() > kMaxPassedFds) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbslView(what), ": ", fds.size(), " descriptors, at most ", kMaxPassedFds));
  }
  FdControlBuffer control;
  size_t done = 0;
  while (done < data.size()) {
    iovec iov{const_cast<uint8_t*>(data.data() + done), data.size() - done};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (done == 0) AttachFds(msg, fds, control);
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        return absl::UnavailableError(
            absl::StrCat(ToAbslView(what), ": the peer closed the socket"));
      }
      return ErrnoStatus(errno, what);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReceiveWithFds(int sock, std::span<uint8_t> buf, size_t max_fds,
                                      std::vector<UniqueFd>* fds, std::string_view what) {
  FdControlBuffer control;
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof(control.bytes);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return absl::DeadlineExceededError(absl::StrCat(ToAbslView(what), ": timed out"));
    }
    return ErrnoStatus(errno, what);
  }
  std::vector<UniqueFd> got;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      got.emplace_back(fd);
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbslView(what), ": too many descriptors (control message truncated)"));
  }
  if (got.size() > max_fds) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbslView(what), ": ", got.size(), " descriptors received, expected at most ", max_fds));
  }
  for (UniqueFd& fd : got) fds->push_back(std::move(fd));
  return static_cast<size_t>(n);
}

}  // namespace castor
