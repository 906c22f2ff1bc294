// Client channels to a castor (or tvix) daemon, shared by the three client
// backends of one address. Channels reconnect by themselves: after the daemon
// goes away calls fail fast with UNAVAILABLE (no wait-for-ready), and the
// reconnect backoff is capped at one second so a daemon that comes back is
// used again promptly. Keepalive pings catch a dead connection; a daemon that
// accepts a call and never answers it is the business of the calls' own
// bounds (rpc/call_watchdog.h). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "castore/composition.h"
#include "grpcpp/channel.h"

namespace castor::rpc {

// The largest message either side accepts (a Directory with very many
// entries is the biggest thing on the wire).
inline constexpr int kMaxMessageSize = 64 << 20;

// A channel for `grpc+unix:///abs/path.sock`, `grpc+http://host:port` or
// `grpc+https://host:port` (TLS, the server's certificate checked against
// the roots below and its name against `host`); InvalidArgument for
// anything else. Channels are cached per target.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const castore::ServiceAddress& addr);

// The PEM certificates grpc+https channels trust; empty (the default) for
// the system's roots. Process-wide; channels opened later use it (the CLI's
// --tls-ca sets it before opening any service).
void SetClientTlsRoots(std::string pem);

// The contents of the PEM file `path` for `what` (e.g. "--tls-ca"), which
// must hold at least one "-----BEGIN " block: InvalidArgument naming the
// file and `what` otherwise, or when it cannot be read.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& what);

// Initializes the gRPC library for the rest of the process (idempotent).
// Without this gRPC shuts itself down whenever its last object goes away,
// which joins its executor threads and can stall for seconds; a daemon or a
// client that comes and goes (tests, reconnects) would pay that each time.
void KeepGrpcInitialized();

}  // namespace castor::rpc
