#include "rpc/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_posix.h"
#include "rpc/channel.h"
#include "rpc/rpc_metrics.h"
#include "rpc/servers.h"
#include "spdlog/spdlog.h"

namespace castor::rpc {
namespace {

// What is at `path`: nothing (OK), a stale socket (OK, to be replaced), or
// something we must not touch.
absl::Status CheckSocketPath(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  int err = errno;
  ::close(fd);
  if (rc == 0) {
    return absl::FailedPreconditionError(absl::StrCat("another process is listening on ", path));
  }
  if (err != ECONNREFUSED) return ErrnoStatus(err, absl::StrCat("connect ", path));
  return absl::OkStatus();  // stale: nobody listens
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The client address of a listening socket handed to us, after checking
// that it is one.
absl::StatusOr<std::string> PassedSocketAddress(int fd, bool tls) {
  int accepting = 0, type = 0;
  socklen_t len1 = sizeof(int), len2 = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len1) != 0 ||
      ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len2) != 0 || !accepting ||
      type != SOCK_STREAM) {
    return absl::InvalidArgumentError(
        absl::StrCat("passed fd ", fd, " is not a listening stream socket"));
  }
  sockaddr_storage ss{};
  socklen_t sslen = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sslen) != 0) {
    return ErrnoStatus(errno, absl::StrCat("getsockname of passed fd ", fd));
  }
  if (ss.ss_family == AF_UNIX) {
    const auto* sa = reinterpret_cast<const sockaddr_un*>(&ss);
    const size_t n = sslen - offsetof(sockaddr_un, sun_path);
    if (n == 0 || sa->sun_path[0] == '\0') {
      // Unnamed or abstract: no grpc+unix:// address names it; this is
      // only for the log.
      std::string name = n > 1 ? std::string(sa->sun_path + 1, n - 1) : "";
      return absl::StrCat("unix-abstract:", name);
    }
    return absl::StrCat("grpc+unix://", std::string(sa->sun_path, strnlen(sa->sun_path, n)));
  }
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
    return absl::InvalidArgumentError(
        absl::StrCat("passed fd ", fd, " is neither a unix nor a TCP socket"));
  }
  if (tls) {
    return absl::InvalidArgumentError(
        absl::StrCat("passed fd ", fd,
                     " is a TCP socket: passed sockets are served without TLS, so with "
                     "--tls-cert give TCP listeners with --listen instead"));
  }
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* sa = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sa->sin_addr, host, sizeof(host));
    port = ntohs(sa->sin_port);
    return absl::StrCat("grpc+http://", host, ":", port);
  }
  const auto* sa = reinterpret_cast<const sockaddr_in6*>(&ss);
  ::inet_ntop(AF_INET6, &sa->sin6_addr, host, sizeof(host));
  port = ntohs(sa->sin6_port);
  return absl::StrCat("grpc+http://[", host, "]:", port);
}

struct PendingSocket {
  std::string final_path;
  std::string temp_dir;
  std::string temp_path;
};

}  // namespace

absl::StatusOr<ListenAddress> ListenAddress::Parse(std::string_view text) {
  ListenAddress out;
  if (absl::StartsWith(ToAbslView(text), "unix://")) {
    out.kind = Kind::kUnix;
    out.target = std::string(text.substr(7));
    if (out.target.size() < 2 || out.target[0] != '/' || out.target.back() == '/') {
      return absl::InvalidArgumentError(absl::StrCat("invalid listen address '", ToAbslView(text),
                                                     "': expected unix:///absolute/path.sock"));
    }
    if (out.target.size() >= sizeof(sockaddr_un::sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("socket path too long (", out.target.size(), " bytes): ", out.target));
    }
    return out;
  }
  size_t colon = text.rfind(':');
  if (text.find("://") != std::string_view::npos || text.find('/') != std::string_view::npos ||
      colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid listen address '", ToAbslView(text),
                     "': expected unix:///absolute/path.sock or host:port"));
  }
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(absl::StrCat("invalid listen address '", ToAbslView(text),
                                                     "': the port is not a number"));
    }
  }
  out.kind = Kind::kTcp;
  out.target = std::string(text);
  return out;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(castore::Services services,
                                                      const std::vector<ListenAddress>& listen,
                                                      const DaemonOptions& options) {
  std::unique_ptr<Daemon> d(new Daemon);
  for (int fd : options.listen_fds) d->listen_fds_.emplace_back(fd);
  if (listen.empty() && options.listen_fds.empty()) {
    return absl::InvalidArgumentError("no listen address");
  }
  HandlerOptions handler_options = options.handlers;
  if (!options.listen_fds.empty()) {
    d->accepted_peers_ = std::make_shared<AcceptedPeers>();
    handler_options.accepted_peers = d->accepted_peers_;
  }
  d->handlers_ = std::make_unique<CastoreHandlers>(std::move(services), handler_options);
  if (options.add_services) options.add_services(*d->handlers_);

  KeepGrpcInitialized();
  static bool plugins = [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    return true;
  }();
  (void)plugins;

  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageSize);
  builder.SetMaxSendMessageSize(kMaxMessageSize);
  // Clients ping every 10 s to notice a hung daemon; accept that.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Idle sync-server threads poll with this timeout, and destroying the
  // server waits for them: the default (10 s) would stall every shutdown.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 200);
  d->handlers_->RegisterOn(builder);
  builder.experimental().SetInterceptorCreators(ServerMetricsInterceptors());

  std::vector<PendingSocket> pending;
  auto cleanup = [&] {
    for (const PendingSocket& p : pending) {
      ::unlink(p.temp_path.c_str());
      ::rmdir(p.temp_dir.c_str());
    }
  };
  const bool tls = !options.tls_cert_pem.empty() || !options.tls_key_pem.empty();
  if (tls && (options.tls_cert_pem.empty() || options.tls_key_pem.empty())) {
    return absl::InvalidArgumentError("TLS needs both a certificate and its private key");
  }
  std::shared_ptr<grpc::ServerCredentials> tcp_credentials = grpc::InsecureServerCredentials();
  if (tls) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
    tcp_credentials = grpc::SslServerCredentials(ssl);
  }
  std::vector<std::string> passed_addresses;
  for (const UniqueFd& fd : d->listen_fds_) {
    ASSIGN_OR_RETURN(std::string address, PassedSocketAddress(fd.get(), tls));
    d->listen_fd_is_unix_.push_back(!absl::StartsWith(address, "grpc+http"));
    passed_addresses.push_back(std::move(address));
    // A connection gone between poll and accept must not block the accept
    // loop (and with it the shutdown).
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
      return ErrnoStatus(errno, absl::StrCat("making passed fd ", fd.get(), " non-blocking"));
    }
  }
  if (!d->listen_fds_.empty()) {
    d->wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (d->wake_.get() < 0) return ErrnoStatus(errno, "eventfd");
  }
  std::vector<std::unique_ptr<int>> ports;
  for (const ListenAddress& a : listen) {
    if (a.kind == ListenAddress::Kind::kUnix) {
      absl::Status s = CheckSocketPath(a.target);
      if (!s.ok()) {
        cleanup();
        return s;
      }
      std::string tmpl = absl::StrCat(DirName(a.target), "/.castor-XXXXXX");
      if (::mkdtemp(tmpl.data()) == nullptr) {
        absl::Status err = ErrnoStatus(errno, absl::StrCat("mkdtemp ", tmpl));
        cleanup();
        return err;
      }
      PendingSocket p{a.target, tmpl, tmpl + "/s"};
      if (p.temp_path.size() >= sizeof(sockaddr_un::sun_path)) {
        ::rmdir(p.temp_dir.c_str());
        cleanup();
        return absl::InvalidArgumentError(
            absl::StrCat("socket directory path too long: ", DirName(a.target)));
      }
      builder.AddListeningPort(absl::StrCat("unix://", p.temp_path),
                               grpc::InsecureServerCredentials());
      pending.push_back(std::move(p));
      d->client_addresses_.push_back(absl::StrCat("grpc+unix://", a.target));
      ports.push_back(nullptr);
    } else {
      ports.push_back(std::make_unique<int>(0));
      builder.AddListeningPort(a.target, tcp_credentials, ports.back().get());
      d->client_addresses_.push_back("");
    }
  }
  d->server_ = builder.BuildAndStart();
  if (d->server_ == nullptr) {
    cleanup();
    return absl::UnavailableError("could not start the gRPC server (see the log above)");
  }
  for (size_t i = 0; i < listen.size(); ++i) {
    if (listen[i].kind != ListenAddress::Kind::kTcp) continue;
    if (*ports[i] == 0) {
      d->server_->Shutdown();
      cleanup();
      return absl::UnavailableError(absl::StrCat("could not listen on ", listen[i].target));
    }
    std::string host = listen[i].target.substr(0, listen[i].target.rfind(':'));
    d->client_addresses_[i] =
        absl::StrCat(tls ? "grpc+https://" : "grpc+http://", host, ":", *ports[i]);
  }
  for (PendingSocket& p : pending) {
    struct stat st;
    if (::chmod(p.temp_path.c_str(), options.socket_mode) != 0 ||
        ::rename(p.temp_path.c_str(), p.final_path.c_str()) != 0 ||
        ::stat(p.final_path.c_str(), &st) != 0) {
      absl::Status err = ErrnoStatus(errno, absl::StrCat("publishing socket ", p.final_path));
      d->server_->Shutdown();
      cleanup();
      return err;
    }
    ::rmdir(p.temp_dir.c_str());
    d->sockets_.emplace_back(p.final_path, st.st_ino);
  }
  for (std::string& a : passed_addresses) d->client_addresses_.push_back(std::move(a));
  if (!d->listen_fds_.empty()) {
    Daemon* self = d.get();
    d->acceptor_ = std::thread([self] { self->AcceptLoop(); });
  }
  return d;
}

void Daemon::AcceptLoop() {
  std::vector<pollfd> polled;
  polled.push_back({wake_.get(), POLLIN, 0});
  for (const UniqueFd& fd : listen_fds_) polled.push_back({fd.get(), POLLIN, 0});
  for (;;) {
    for (pollfd& p : polled) p.revents = 0;
    if (::poll(polled.data(), polled.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("accept loop: poll: {}", strerrordesc_np(errno));
      return;
    }
    if (polled[0].revents != 0) return;
    for (size_t i = 1; i < polled.size(); ++i) {
      if (polled[i].revents == 0) continue;
      int conn = ::accept4(polled[i].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn >= 0) {
        // Recorded before gRPC can read a call from it: the admin service
        // tells unix peers from TCP ones by it.
        accepted_peers_->Accepted(conn, listen_fd_is_unix_[i - 1]);
        // The server owns the connection from here on.
        grpc::AddInsecureChannelFromFd(server_.get(), conn);
        continue;
      }
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      // Out of fds or memory: wait a little (or for the shutdown) instead
      // of spinning on a socket that stays readable.
      spdlog::warn("accepting on passed socket fd {}: {}", polled[i].fd, strerrordesc_np(errno));
      pollfd wake{wake_.get(), POLLIN, 0};
      if (::poll(&wake, 1, 100) > 0) return;
    }
  }
}

void Daemon::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  if (acceptor_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof(one));
    acceptor_.join();
  }
  listen_fds_.clear();
  if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  for (const auto& [path, ino] : sockets_) {
    struct stat st;
    // Only our socket: a newer daemon may have replaced it meanwhile.
    if (::lstat(path.c_str(), &st) == 0 && st.st_ino == ino) ::unlink(path.c_str());
  }
}

Daemon::~Daemon() { Shutdown(std::chrono::seconds(5)); }

}  // namespace castor::rpc
