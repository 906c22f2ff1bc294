#include "base/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::metrics {
namespace {

using Clock = std::chrono::steady_clock;

// After accept fails for lack of descriptors or memory.
constexpr std::chrono::milliseconds kAcceptBackoff{200};

std::string Response(std::string_view status, std::string_view content_type, std::string_view body,
                     std::string_view extra_headers = {}) {
  return absl::StrCat("HTTP/1.1 ", ToAbslView(status),
                      "\r\nContent-Type: ", ToAbslView(content_type),
                      "\r\nContent-Length: ", body.size(), "\r\n", ToAbslView(extra_headers),
                      "Connection: close\r\n\r\n", ToAbslView(body));
}

std::string TextError(std::string_view status, std::string_view extra_headers = {}) {
  return Response(status, "text/plain; charset=utf-8", absl::StrCat(ToAbslView(status), "\n"),
                  extra_headers);
}

// Where the request's header ends (past the blank line), or npos.
size_t HeaderEnd(std::string_view in) {
  size_t crlf = in.find("\r\n\r\n");
  size_t lf = in.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  if (crlf == std::string_view::npos) return lf + 2;
  if (lf == std::string_view::npos) return crlf + 4;
  return std::min(crlf + 4, lf + 2);
}

struct Parsed {
  int family = 0;
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string unix_path;
};

absl::StatusOr<Parsed> ParseAddress(std::string_view text) {
  Parsed p;
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid metrics address '", ToAbslView(text),
                                                   "': ", ToAbslView(why),
                                                   " (expected HOST:PORT, :PORT or unix:PATH)"));
  };
  if (text.starts_with("unix:")) {
    std::string_view path = text.substr(5);
    auto* sun = reinterpret_cast<sockaddr_un*>(&p.addr);
    if (path.empty()) return invalid("empty socket path");
    if (path.size() >= sizeof(sun->sun_path)) return invalid("socket path too long");
    if (path.find('\0') != std::string_view::npos) return invalid("NUL in socket path");
    sun->sun_family = AF_UNIX;
    std::memcpy(sun->sun_path, path.data(), path.size());
    p.family = AF_UNIX;
    p.len = sizeof(sockaddr_un);
    p.unix_path = std::string(path);
    return p;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid("no port");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  uint32_t port = 0;
  if (port_text.empty() ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(ToAbslView(port_text), &port) || port > 65535) {
    return invalid("port must be 0..65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string h(host.substr(1, host.size() - 2));
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&p.addr);
    if (inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) != 1) return invalid("bad IPv6 address");
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    p.family = AF_INET6;
    p.len = sizeof(sockaddr_in6);
    return p;
  }
  std::string h = host.empty() ? "0.0.0.0" : host == "localhost" ? "127.0.0.1" : std::string(host);
  auto* sin = reinterpret_cast<sockaddr_in*>(&p.addr);
  if (inet_pton(AF_INET, h.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    p.family = AF_INET;
    p.len = sizeof(sockaddr_in);
    return p;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&p.addr);
  if (inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    p.family = AF_INET6;
    p.len = sizeof(sockaddr_in6);
    return p;
  }
  return invalid("host must be an IP address or localhost");
}

std::string DescribeBound(int fd, const Parsed& p) {
  if (p.family == AF_UNIX) return "unix:" + p.unix_path;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(sin6->sin6_port));
  }
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
  return absl::StrCat(host, ":", ntohs(sin->sin_port));
}

struct Connection {
  enum class State { kReading, kWriting, kDraining };
  UniqueFd fd;
  Clock::time_point deadline;
  State state = State::kReading;
  std::string in;
  std::string out;
  size_t sent = 0;
};

}  // namespace

std::string HttpResponseFor(std::string_view request, bool oversized, const Registry& registry) {
  if (oversized) return TextError("431 Request Header Fields Too Large");
  size_t eol = request.find('\n');
  std::string_view line = request.substr(0, eol);
  if (line.ends_with('\r')) line.remove_suffix(1);
  // METHOD SP TARGET SP HTTP/1.x, printable ASCII only.
  if (!std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return TextError("400 Bad Request");
  }
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return TextError("400 Bad Request");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!version.starts_with("HTTP/1.") || version.size() != 8 || target.front() != '/') {
    return TextError("400 Bad Request");
  }
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return TextError("404 Not Found");
  if (method != "GET") return TextError("405 Method Not Allowed", "Allow: GET\r\n");
  return Response("200 OK", kTextContentType, registry.Render());
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(std::string_view address,
                                                                    Registry& registry,
                                                                    MetricsServerOptions options) {
  ASSIGN_OR_RETURN(Parsed p, ParseAddress(address));
  std::unique_ptr<MetricsServer> s(new MetricsServer(registry, options));
  s->listen_fd_.Reset(::socket(p.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s->listen_fd_) return ErrnoStatus(errno, "metrics socket");
  if (p.family == AF_UNIX) {
    struct stat st;
    if (::lstat(p.unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
      ::unlink(p.unix_path.c_str());  // stale, from an earlier run
    }
  } else {
    int one = 1;
    ::setsockopt(s->listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (::bind(s->listen_fd_.get(), reinterpret_cast<const sockaddr*>(&p.addr), p.len) != 0) {
    int err = errno;
    return absl::UnavailableError(
        absl::StrCat("metrics: bind ", ToAbslView(address), ": ", std::strerror(err)));
  }
  if (p.family == AF_UNIX) s->unix_path_ = p.unix_path;
  if (::listen(s->listen_fd_.get(), 64) != 0) {
    return ErrnoStatus(errno, absl::StrCat("metrics: listen ", ToAbslView(address)));
  }
  s->address_ = DescribeBound(s->listen_fd_.get(), p);
  s->wake_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s->wake_fd_) return ErrnoStatus(errno, "metrics eventfd");
  s->thread_ = std::thread([raw = s.get()] { raw->Run(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof(one));
    thread_.join();
  }
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

void MetricsServer::Run() {
  std::vector<std::unique_ptr<Connection>> conns;
  Clock::time_point accept_paused_until{};
  std::vector<pollfd> fds;
  for (;;) {
    Clock::time_point now = Clock::now();
    bool accepting = conns.size() < kMaxConnections && now >= accept_paused_until;
    Clock::time_point wake_at = Clock::time_point::max();
    if (conns.size() < kMaxConnections && now < accept_paused_until) wake_at = accept_paused_until;
    fds.clear();
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({accepting ? listen_fd_.get() : -1, POLLIN, 0});
    for (const auto& c : conns) {
      short events = c->state == Connection::State::kWriting ? POLLOUT : POLLIN;
      fds.push_back({c->fd.get(), events, 0});
      wake_at = std::min(wake_at, c->deadline);
    }
    int timeout = -1;
    if (wake_at != Clock::time_point::max()) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count();
      timeout = static_cast<int>(std::clamp<int64_t>(ms, 0, 60000));
    }
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "castor: metrics: poll: %s\n", std::strerror(errno));
      return;
    }
    if (n > 0 && (fds[0].revents & POLLIN) != 0) return;
    now = Clock::now();

    // Service the existing connections first (the indices match fds).
    for (size_t i = 0; i < conns.size(); ++i) {
      Connection& c = *conns[i];
      short rev = n > 0 ? fds[i + 2].revents : static_cast<short>(0);
      bool done = false;
      if ((rev & POLLNVAL) != 0) {
        done = true;
      } else if (c.state != Connection::State::kWriting && (rev & (POLLIN | POLLHUP | POLLERR))) {
        char buf[4096];
        ssize_t r = ::recv(c.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
          // Spurious: try again on the next round.
        } else if (r <= 0) {
          done = true;  // EOF or error: nothing more to say to this client
        } else if (c.state == Connection::State::kReading) {
          c.in.append(buf, static_cast<size_t>(r));
          size_t end = HeaderEnd(c.in);
          bool oversized = end == std::string::npos && c.in.size() > kMaxRequestBytes;
          if (end != std::string::npos || oversized) {
            if (end != std::string::npos && end > kMaxRequestBytes) oversized = true;
            c.out = HttpResponseFor(c.in, oversized, registry_);
            c.in.clear();
            c.in.shrink_to_fit();
            c.state = Connection::State::kWriting;
          }
        }
        // kDraining: discard what the client still sends until it closes.
      } else if (c.state == Connection::State::kWriting && (rev & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t w = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
        } else if (w < 0) {
          done = true;
        } else {
          c.sent += static_cast<size_t>(w);
          if (c.sent == c.out.size()) {
            // Half-close and read until the client closes, so that unread
            // request bytes do not turn our close into a reset that could
            // destroy the response before the client reads it.
            ::shutdown(c.fd.get(), SHUT_WR);
            c.out.clear();
            c.out.shrink_to_fit();
            c.state = Connection::State::kDraining;
          }
        }
      }
      if (!done && now >= c.deadline) done = true;
      if (done) conns[i].reset();
    }
    std::erase_if(conns, [](const auto& c) { return c == nullptr; });

    if (n > 0 && accepting && (fds[1].revents & POLLIN) != 0) {
      while (conns.size() < kMaxConnections) {
        int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          auto c = std::make_unique<Connection>();
          c->fd.Reset(fd);
          c->deadline = now + options_.connection_deadline;
          conns.push_back(std::move(c));
          continue;
        }
        int err = errno;
        if (err == EINTR || err == ECONNABORTED) continue;
        if (err == EAGAIN) break;
        // EMFILE, ENFILE, ENOBUFS, ENOMEM, ...: the pending connection stays
        // in the backlog and the listening socket stays readable, so polling
        // it again at once would spin. Wait a moment (the connections we
        // hold go on meanwhile).
        accept_paused_until = now + kAcceptBackoff;
        break;
      }
    }
  }
}

}  // namespace castor::metrics
