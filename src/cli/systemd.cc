#include "cli/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/fd_passing.h"
#include "base/status.h"

namespace castor::cli::systemd {
namespace {

constexpr int kListenFdsStart = 3;

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

}  // namespace

absl::StatusOr<Notifier> Notifier::FromEnvironment() {
  Notifier n;
  const char* value = Env("NOTIFY_SOCKET");
  if (value == nullptr) return n;
  std::string path = value;
  if ((path[0] != '/' && path[0] != '@') || path.size() < 2 ||
      path.size() > sizeof(sockaddr_un::sun_path) - (path[0] == '/' ? 1 : 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NOTIFY_SOCKET='", path, "': expected an absolute socket path or @abstract-name"));
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  // An abstract name is the rest after a leading NUL, not NUL-terminated.
  if (path[0] == '@') sa.sun_path[0] = '\0';
  const size_t len = offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '/' ? 1 : 0);
  n.address_.assign(reinterpret_cast<const char*>(&sa), len);
  n.fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (n.fd_.get() < 0) return ErrnoStatus(errno, "socket for NOTIFY_SOCKET");
  return n;
}

absl::Status Notifier::SendFds(std::string_view state, std::span<const int> fds) const {
  if (!enabled()) return absl::OkStatus();
  if (fds.size() > kMaxPassedFds) {
    return absl::InvalidArgumentError(
        absl::StrCat("more than ", kMaxPassedFds, " descriptors to store"));
  }
  iovec iov{const_cast<char*>(state.data()), state.size()};
  FdControlBuffer control;
  msghdr msg{};
  msg.msg_name = const_cast<char*>(address_.data());
  msg.msg_namelen = static_cast<socklen_t>(address_.size());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  AttachFds(msg, fds, control);
  ssize_t n;
  do {
    n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return ErrnoStatus(errno, absl::StrCat("sending '", ToAbslView(state), "' to NOTIFY_SOCKET"));
  }
  return absl::OkStatus();
}

absl::Status Notifier::Send(std::string_view state) const {
  if (!enabled()) return absl::OkStatus();
  ssize_t n;
  do {
    n = ::sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(address_.data()),
                 static_cast<socklen_t>(address_.size()));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return ErrnoStatus(errno, absl::StrCat("sending '", ToAbslView(state), "' to NOTIFY_SOCKET"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::chrono::microseconds>> WatchdogInterval(pid_t pid) {
  const char* usec = Env("WATCHDOG_USEC");
  if (usec == nullptr) return std::nullopt;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(usec, &value) || value == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("WATCHDOG_USEC='", usec, "': expected a positive number of microseconds"));
  }
  if (const char* wpid = Env("WATCHDOG_PID")) {
    int64_t p = 0;
    if (!absl::SimpleAtoi(wpid, &p) || p <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("WATCHDOG_PID='", wpid, "': expected a process id"));
    }
    if (p != pid) return std::nullopt;  // meant for another process
  }
  return std::chrono::microseconds(value);
}

Watchdog::Watchdog(const Notifier& notifier, std::chrono::microseconds interval) {
  const auto period = interval / 2;
  thread_ = std::thread([this, &notifier, period] {
    for (;;) {
      (void)notifier.Send("WATCHDOG=1");
      MutexLock lock(&mu_);
      if (mu_.AwaitUntil([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; },
                         std::chrono::steady_clock::now() + period)) {
        return;
      }
    }
  });
}

Watchdog::~Watchdog() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

absl::StatusOr<std::vector<ListenFd>> TakeListenFds(pid_t pid) {
  const char* fds_text = Env("LISTEN_FDS");
  const char* pid_text = Env("LISTEN_PID");
  const char* names_text = Env("LISTEN_FDNAMES");
  std::string fds_value = fds_text ? fds_text : "";
  std::string pid_value = pid_text ? pid_text : "";
  std::string names_value = names_text ? names_text : "";
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDNAMES");
  std::vector<ListenFd> out;
  if (fds_value.empty()) return out;
  int64_t p = 0;
  if (pid_value.empty()) return out;
  if (!absl::SimpleAtoi(pid_value, &p) || p <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LISTEN_PID='", pid_value, "': expected a process id"));
  }
  if (p != pid) return out;
  int count = 0;
  if (!absl::SimpleAtoi(fds_value, &count) || count < 0 || count > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("LISTEN_FDS='", fds_value, "': expected a number of file descriptors"));
  }
  std::vector<std::string> names;
  if (!names_value.empty()) {
    names = absl::StrSplit(names_value, ':');
    if (names.size() != static_cast<size_t>(count)) {
      return absl::InvalidArgumentError(absl::StrCat("LISTEN_FDNAMES names ", names.size(),
                                                     " sockets but LISTEN_FDS is ", count));
    }
  }
  for (int i = 0; i < count; ++i) {
    const int fd = kListenFdsStart + i;
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
      return ErrnoStatus(errno, absl::StrCat("passed socket fd ", fd, " (LISTEN_FDS=", count, ")"));
    }
    out.push_back({fd, names.empty() ? "unknown" : names[i]});
  }
  return out;
}

}  // namespace castor::cli::systemd
