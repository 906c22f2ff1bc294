// `castor daemon`: serves the store (any composition of --store / service
// addresses) over gRPC until SIGTERM or SIGINT, then shuts down gracefully:
// new calls are refused, in-flight ones get --grace seconds to finish. While
// it runs it holds the store's ServeLock (castore/maintenance/store_lock.h),
// which names it to a local gc that it makes refuse.
//
// Under systemd (docs/operations.md) it serves the sockets passed by socket
// activation instead of its own, tells the manager READY=1 once it serves
// and STOPPING=1 when a signal stops it, and pings the watchdog.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/observability.h"
#include "cli/store_flags.h"
#include "cli/systemd.h"
#include "rpc/channel.h"
#include "rpc/daemon.h"
#include "rpc/path_info_handlers.h"
#include "spdlog/spdlog.h"

namespace castor::cli {
namespace {

struct DaemonFlags {
  StoreFlags store;
  ObservabilityFlags observability;
  std::vector<std::string> listen;
  std::string socket_mode = "0660";
  double grace_seconds = 10;
  uint64_t max_directory_put_bytes = rpc::HandlerOptions{}.max_directory_put_bytes;
  std::string admin = "unix";
  std::string tls_cert;
  std::string tls_key;
};

int RunDaemon(const DaemonFlags& f) {
  // Before any thread: this changes the environment.
  auto passed = systemd::TakeListenFds(::getpid());
  if (!passed.ok()) return Fail(passed.status());
  std::vector<int> passed_fds;
  for (const systemd::ListenFd& p : *passed) passed_fds.push_back(p.fd);
  if (!passed_fds.empty() && !f.listen.empty()) {
    for (int fd : passed_fds) ::close(fd);
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--listen and sockets passed by socket activation (LISTEN_FDS=", passed_fds.size(),
        ") do not go together: listen where the .socket unit says, or drop --listen")));
  }
  auto notifier = systemd::Notifier::FromEnvironment();
  if (!notifier.ok()) return Fail(notifier.status());
  auto watchdog_interval = systemd::WatchdogInterval(::getpid());
  if (!watchdog_interval.ok()) return Fail(watchdog_interval.status());

  std::vector<rpc::ListenAddress> listen;
  std::vector<std::string> texts = f.listen;
  if (texts.empty() && passed_fds.empty()) {
    std::string dir = f.store.store.empty() ? castore::DefaultStoreDir() : f.store.store;
    texts.push_back(absl::StrCat("unix://", dir, "/castor.sock"));
  }
  for (const std::string& t : texts) {
    auto a = rpc::ListenAddress::Parse(t);
    if (!a.ok()) return Fail(a.status());
    listen.push_back(*a);
  }
  rpc::DaemonOptions options;
  options.listen_fds = passed_fds;
  char* end = nullptr;
  unsigned long mode = std::strtoul(f.socket_mode.c_str(), &end, 8);
  if (f.socket_mode.empty() || *end != '\0' || mode > 0777) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("invalid --socket-mode '", f.socket_mode, "': expected octal, e.g. 0660")));
  }
  options.socket_mode = static_cast<mode_t>(mode);
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    return Fail(absl::InvalidArgumentError("--tls-cert and --tls-key go together"));
  }
  if (!f.tls_cert.empty()) {
    auto cert = rpc::ReadPemFile(f.tls_cert, "--tls-cert");
    if (!cert.ok()) return Fail(cert.status());
    auto key = rpc::ReadPemFile(f.tls_key, "--tls-key");
    if (!key.ok()) return Fail(key.status());
    options.tls_cert_pem = *std::move(cert);
    options.tls_key_pem = *std::move(key);
  }
  options.handlers.max_directory_put_bytes = f.max_directory_put_bytes;
  options.handlers.admin = f.admin == "off"   ? rpc::AdminAccess::kOff
                           : f.admin == "all" ? rpc::AdminAccess::kAll
                                              : rpc::AdminAccess::kUnixSockets;

  // One daemon per store, and none beside a local gc: its clients
  // deduplicate against the store without the store lock (docs/gc.md).
  const std::string store_dir = StoreDir(f.store);
  auto serving = LockServing(f.store, kDaemonProgram, [&](const castore::ServeLock::Holder& d) {
    return absl::FailedPreconditionError(
        absl::StrCat(store_dir, " is already served by ", d.Describe(), "; use that daemon"));
  });
  if (!serving.ok()) return Fail(serving.status());
  if (*serving != nullptr) options.handlers.store_dir = store_dir;

  auto metrics_server = f.observability.Start();
  if (!metrics_server.ok()) return Fail(metrics_server.status());
  auto store = f.store.OpenNixStore();
  if (!store.ok()) return Fail(store.status());
  options.add_services = [store = *store](rpc::CastoreHandlers& handlers) {
    rpc::AddPathInfoHandlers(handlers, store);
  };

  auto daemon = rpc::Daemon::Start((*store)->services(), listen, options);
  if (!daemon.ok()) return Fail(daemon.status());
  for (const std::string& addr : (*daemon)->client_addresses()) {
    std::printf("serving %s\n", addr.c_str());
  }
  std::fflush(stdout);
  if (*serving != nullptr) {
    absl::Status s = (*serving)->Record(
        {.program = kDaemonProgram, .pid = ::getpid(), .addresses = (*daemon)->client_addresses()});
    if (!s.ok()) spdlog::warn("{}", std::string(s.message()));
  }
  if (absl::Status s = notifier->Send(absl::StrCat(
          "READY=1\nSTATUS=serving ", absl::StrJoin((*daemon)->client_addresses(), " ")));
      !s.ok()) {
    spdlog::warn("{}", std::string(s.message()));
  }
  std::optional<systemd::Watchdog> watchdog;
  if (watchdog_interval->has_value()) watchdog.emplace(*notifier, **watchdog_interval);

  // Blocked since before the first thread (Signals::kAwaited).
  sigset_t signals = TerminationSignals();
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down (grace {} s)", sig, f.grace_seconds);
  (void)notifier->Send("STOPPING=1");
  (*daemon)->Shutdown(std::chrono::milliseconds(static_cast<int64_t>(f.grace_seconds * 1000)));
  spdlog::info("stopped serving; closing the store");
  return 0;
}

}  // namespace

void AddDaemonCommand(CLI::App& app) {
  auto f = std::make_shared<DaemonFlags>();
  CLI::App* cmd = app.add_subcommand(
      "daemon",
      "Serve the store over gRPC: tvix.castore.v1 (and snix.castore.v1) BlobService and "
      "DirectoryService, tvix.store.v1 (and snix.store.v1) PathInfoService, "
      "castor.v1.RootService, gRPC health checking and reflection. "
      "Clients use grpc+unix:///path, grpc+http://host:port or (with --tls-cert) "
      "grpc+https://host:port addresses.");
  cmd->add_option("--listen", f->listen,
                  "Where to listen, repeatable: unix:///path/to.sock (default: "
                  "unix://STORE/castor.sock; created with --socket-mode, a stale socket is "
                  "replaced) or host:port (TCP, only when asked for; TLS with --tls-cert). There "
                  "is no client authentication: whoever reaches a TCP port may read and write "
                  "the store, so expose TCP only on trusted networks. Not with sockets passed "
                  "by systemd socket activation (LISTEN_FDS), which are served instead.")
      ->type_name("ADDR");
  cmd->add_option("--socket-mode", f->socket_mode, "Mode of unix sockets (octal)")
      ->capture_default_str();
  cmd->add_option("--grace", f->grace_seconds,
                  "Seconds in-flight calls get to finish after SIGTERM/SIGINT")
      ->capture_default_str();
  cmd->add_option("--max-directory-put-bytes", f->max_directory_put_bytes,
                  "Most bytes of Directories one DirectoryService.Put stream may hold (it is "
                  "kept in memory until its root arrives); more is refused with "
                  "RESOURCE_EXHAUSTED. Units: KiB, MiB, GiB (default 256MiB)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--admin", f->admin,
                  "Who may call castor.v1.AdminService (gc in the daemon, `castor gc "
                  "--root-service-addr`): unix (peers on unix sockets, whose access is the "
                  "socket's mode), all (TCP peers too), off. gc deletes only what no root "
                  "reaches")
      ->check(CLI::IsMember({"unix", "all", "off"}))
      ->capture_default_str();
  cmd->add_option("--tls-cert", f->tls_cert,
                  "PEM certificate (chain) for TCP listeners: they then speak TLS and clients "
                  "use grpc+https://HOST:PORT (with --tls-ca when it is not signed by a system "
                  "root). Needs --tls-key. Unix sockets stay plain")
      ->type_name("FILE");
  cmd->add_option("--tls-key", f->tls_key, "PEM private key of --tls-cert")->type_name("FILE");
  f->store.AddTo(*cmd);
  f->observability.AddTo(*cmd);
  SetRunner(cmd, Signals::kAwaited, [f] { return RunDaemon(*f); });
}

}  // namespace castor::cli
