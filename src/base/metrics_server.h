// MetricsServer: a minimal HTTP/1.1 server for Prometheus scrapes. It
// answers GET /metrics with the text exposition of a metrics::Registry and
// everything else with an error status (404 for another path, 405 for
// another method, 400 for a request that is not HTTP, 431 for one larger
// than kMaxRequestBytes), one request per connection (Connection: close).
// One thread polls the listening socket and every connection, so a client
// that stalls only holds its own connection, and only until its deadline;
// at most kMaxConnections are open at once (further clients wait in the
// listen backlog). When accept fails for lack of descriptors (EMFILE,
// ENFILE) it stops accepting for a moment instead of spinning.
//
// Thread-safe: Start, address() and the destructor (which stops the thread
// and closes every socket) may be called from any thread; the registry is
// read under its own lock.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "base/metrics.h"
#include "base/unique_fd.h"

namespace castor::metrics {

struct MetricsServerOptions {
  // How long one connection may take from accept to the last byte of its
  // response.
  std::chrono::milliseconds connection_deadline{10000};
};

class MetricsServer {
 public:
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr size_t kMaxConnections = 32;

  // Listens on `address`: HOST:PORT (an IPv4 or IPv6 literal, [::1]:PORT, or
  // localhost), :PORT (every interface), or unix:PATH (a stale socket at
  // PATH is replaced; the socket is removed again on shutdown). Port 0 picks
  // a free port; address() tells which. InvalidArgument for an address that
  // does not parse, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(std::string_view address,
                                                              Registry& registry,
                                                              MetricsServerOptions options = {});

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Where it listens, in Start's syntax with the port filled in:
  // "127.0.0.1:9465", "[::]:9465", "unix:/run/castor/metrics.sock".
  const std::string& address() const { return address_; }

 private:
  MetricsServer(Registry& registry, MetricsServerOptions options)
      : registry_(registry), options_(options) {}
  void Run();

  Registry& registry_;
  const MetricsServerOptions options_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // an eventfd: the destructor's stop signal
  std::string address_;
  std::string unix_path_;  // removed on shutdown when set
  std::thread thread_;
};

// The response to one complete or oversized request (exposed for tests):
// the status line, headers and body. `request` is what the client sent up
// to and including the blank line, or the first kMaxRequestBytes of it.
std::string HttpResponseFor(std::string_view request, bool oversized, const Registry& registry);

}  // namespace castor::metrics
