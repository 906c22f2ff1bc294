#include "rpc/daemon.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "rpc/channel.h"
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
  if (listen.empty()) return absl::InvalidArgumentError("no listen address");
  std::unique_ptr<Daemon> d(new Daemon);
  d->handlers_ = std::make_unique<CastoreHandlers>(std::move(services), options.handlers);
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
  return d;
}

void Daemon::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
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
