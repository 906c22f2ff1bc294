// Daemon: a gRPC server serving the castore services (servers.h) on unix
// sockets and/or TCP, with health checking (grpc.health.v1), server
// reflection, message size limits and graceful shutdown. No TLS: TCP
// listeners are plaintext, for trusted networks only.
//
// A unix socket appears atomically with its final mode: it is bound in a
// private temporary directory beside the target, chmod'ed, then renamed over
// the target path (which replaces a stale socket; a live one, or anything
// that is not a socket, is refused).
//
// Listening sockets made by someone else (systemd socket activation) are
// served too: gRPC cannot listen on a given fd, so a thread accepts their
// connections and hands each to the server as a channel of its own; it
// stops before the server shuts down. Thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "castore/composition.h"
#include "grpcpp/server.h"
#include "rpc/servers.h"

namespace castor::rpc {

struct ListenAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string target;  // absolute socket path, or host:port

  // `unix:///abs/path.sock` or `host:port` (e.g. `[::1]:7000`, `0.0.0.0:7000`,
  // port 0 picks a free one). Anything else is InvalidArgument.
  static absl::StatusOr<ListenAddress> Parse(std::string_view text);
};

struct DaemonOptions {
  mode_t socket_mode = 0660;
  HandlerOptions handlers;
  // Adds more services (the Nix path info service) to the castore
  // handlers before the server starts.
  std::function<void(CastoreHandlers&)> add_services;
  // PEM certificate chain and private key: TCP listeners then speak TLS
  // (clients use grpc+https://); unix sockets stay plain (their file mode
  // is their access control). Both empty: plain TCP.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Listening stream sockets (unix or TCP) to serve besides `listen`,
  // e.g. passed by the service manager. Start takes them over: they are
  // closed at shutdown, or when Start fails. TCP ones are plain (with TLS
  // Start refuses them).
  std::vector<int> listen_fds;
};

class Daemon {
 public:
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(castore::Services services,
                                                       const std::vector<ListenAddress>& listen,
                                                       const DaemonOptions& options = {});
  // Shuts down with a grace of 5 s when still running.
  ~Daemon();

  // Stops accepting calls (new ones fail), lets in-flight calls finish for up
  // to `grace`, then cancels what remains; removes the unix sockets.
  void Shutdown(std::chrono::milliseconds grace);

  // Client addresses (grpc+unix:///path, grpc+http(s)://host:port with the
  // actual port), one per listen address, in order, then one per listen fd.
  const std::vector<std::string>& client_addresses() const { return client_addresses_; }

 private:
  Daemon() = default;
  // Accepts connections on listen_fds_ until wake_ is written to.
  void AcceptLoop();

  std::unique_ptr<CastoreHandlers> handlers_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> client_addresses_;
  // Socket paths we created, with their inode (removed only if still ours).
  std::vector<std::pair<std::string, ino_t>> sockets_;
  bool shut_down_ = false;
  std::vector<UniqueFd> listen_fds_;
  std::vector<bool> listen_fd_is_unix_;            // one per listen_fds_ entry
  std::shared_ptr<AcceptedPeers> accepted_peers_;  // set when listen_fds_ is not empty
  UniqueFd wake_;  // eventfd: the accept loop stops when it is readable
  std::thread acceptor_;
};

}  // namespace castor::rpc
