// Test helper: the service manager's end of NOTIFY_SOCKET (systemd's
// readiness protocol), a datagram socket bound where a test points
// $NOTIFY_SOCKET, receiving the messages castor sends (READY=1, ...).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

namespace castor::castore::testing {

class ManagerSocket {
 public:
  // `name` is a path, or '@' and an abstract name.
  explicit ManagerSocket(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (name.empty() || name.size() >= sizeof(sa.sun_path)) return;
    std::memcpy(sa.sun_path, name.data(), name.size());
    if (name[0] == '@') sa.sun_path[0] = '\0';
    socklen_t len = offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '@' ? 0 : 1);
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) == 0;
  }
  ~ManagerSocket() { ::close(fd_); }
  ManagerSocket(const ManagerSocket&) = delete;
  ManagerSocket& operator=(const ManagerSocket&) = delete;

  bool bound() const { return bound_; }
  // The next message, or "" after `timeout_ms`. Descriptors sent with it
  // (FDSTORE=1) are appended to `fds` (close-on-exec, the caller's to
  // close), or closed when `fds` is null.
  std::string Receive(int timeout_ms = 20000, std::vector<int>* fds = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "";
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) return "";
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (fds != nullptr) {
          fds->push_back(fd);
        } else {
          ::close(fd);
        }
      }
    }
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_;
  bool bound_ = false;
};

}  // namespace castor::castore::testing
