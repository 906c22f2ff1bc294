#include "rpc/channel.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/status.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "rpc/rpc_metrics.h"

namespace castor::rpc {
namespace {

struct Target {
  std::string target;  // as gRPC takes it
  bool tls = false;
};

absl::StatusOr<Target> ParseTarget(const castore::ServiceAddress& addr) {
  if (addr.scheme == "grpc+unix") {
    if (addr.path.empty() || addr.path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid address '", addr.original, "': expected grpc+unix:///absolute/path.sock"));
    }
    return Target{absl::StrCat("unix://", addr.path)};
  }
  if (addr.scheme == "grpc+http" || addr.scheme == "grpc+https") {
    size_t colon = addr.path.rfind(':');
    if (addr.path.empty() || addr.path.find('/') != std::string::npos ||
        colon == std::string::npos || colon == 0 || colon + 1 == addr.path.size()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid address '", addr.original,
                                                     "': expected ", addr.scheme, "://host:port"));
    }
    return Target{addr.path, addr.scheme == "grpc+https"};
  }
  return absl::InvalidArgumentError(absl::StrCat("not a gRPC address: '", addr.original, "'"));
}

castor::Mutex tls_mu;
std::string* tls_roots ABSL_GUARDED_BY(tls_mu) = new std::string;

std::shared_ptr<grpc::Channel> Create(const Target& target, const std::string& roots) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageSize);
  args.SetMaxSendMessageSize(kMaxMessageSize);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // This one is the connect timeout (not a backoff): generous, so a loaded
  // machine still connects; a daemon that is gone fails at once anyway.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Distinct channels per target even across processes' shared subchannel
  // pool would be fine; a local pool keeps tests that restart daemons honest.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (target.tls) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = roots;  // empty: gRPC's default (the system's) roots
    credentials = grpc::SslCredentials(tls);
  }
  return grpc::experimental::CreateCustomChannelWithInterceptors(target.target, credentials, args,
                                                                 ClientMetricsInterceptors());
}

}  // namespace

void KeepGrpcInitialized() {
  static bool initialized = [] {
    // A channel makes progress on a connection attempt only while some
    // thread polls it: a client whose calls all failed fast (the daemon was
    // down) has none, and only gRPC's backup poller (default: every 5 s)
    // finishes the handshake once the daemon is back. A long-running client
    // (a mount) then answered EIO for up to 5 s after every restart. Poll
    // every 100 ms instead (cheap: one timer per process); read by
    // grpc_init, and an explicit setting in the environment wins.
    ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", /*overwrite=*/0);
    grpc_init();  // never shut down: the process ends instead
    return true;
  }();
  (void)initialized;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const castore::ServiceAddress& addr) {
  ASSIGN_OR_RETURN(Target target, ParseTarget(addr));
  KeepGrpcInitialized();
  std::string roots;
  if (target.tls) {
    castor::MutexLock lock(&tls_mu);
    roots = *tls_roots;
  }
  static castor::Mutex mu;
  static auto* channels = new std::map<std::string, std::weak_ptr<grpc::Channel>>;
  castor::MutexLock lock(&mu);
  // One channel per target and security: the same host:port over TLS (with
  // these roots) and in the clear are different channels.
  auto& slot =
      (*channels)[target.tls ? absl::StrCat("tls ", target.target, "\n", roots) : target.target];
  if (auto ch = slot.lock()) return ch;
  auto ch = Create(target, roots);
  slot = ch;
  return ch;
}

void SetClientTlsRoots(std::string pem) {
  castor::MutexLock lock(&tls_mu);
  *tls_roots = std::move(pem);
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": cannot read it (", std::strerror(errno), ")"));
  }
  std::string pem = text.str();
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": not a PEM file (no -----BEGIN line)"));
  }
  return pem;
}

}  // namespace castor::rpc
