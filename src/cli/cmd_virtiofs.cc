// castor virtiofs: serves the store to a VM over vhost-user virtio-fs.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/status.h"
#include "cli/commands.h"
#include "cli/observability.h"
#include "cli/store_flags.h"
#include "fs/castore_fs.h"
#include "fs/transport/virtiofs_server.h"

namespace castor::cli {
namespace {

struct VirtiofsFlags {
  StoreFlags store;
  ObservabilityFlags observability;
  std::string socket;
  std::string socket_mode = "0600";
  bool list_root = false;
  bool show_xattr = false;
  int threads = 1;
  bool persistent = false;
};

int RunVirtiofs(const VirtiofsFlags& flags) {
  // The termination signals are blocked since before the first thread
  // (Signals::kAwaited): wait for them through a signalfd that doubles as
  // the server's stop fd.
  sigset_t set = TerminationSignals();
  int stop = signalfd(-1, &set, SFD_CLOEXEC);
  if (stop < 0) {
    std::perror("castor: signalfd");
    return 1;
  }
  auto metrics_server = flags.observability.Start();
  if (!metrics_server.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(metrics_server.status().message()).c_str());
    close(stop);
    return 1;
  }
  auto services = flags.store.Open();
  if (!services.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(services.status().message()).c_str());
    close(stop);
    return 1;
  }
  fs::transport::VirtiofsOptions options;
  options.socket_path = flags.socket;
  char* end = nullptr;
  unsigned long mode = std::strtoul(flags.socket_mode.c_str(), &end, 8);
  if (flags.socket_mode.empty() || *end != '\0' || mode > 0777) {
    std::fprintf(stderr, "castor: invalid --socket-mode '%s': expected octal, e.g. 0600\n",
                 flags.socket_mode.c_str());
    close(stop);
    return 1;
  }
  options.socket_mode = static_cast<mode_t>(mode);
  options.threads = flags.threads;
  options.persistent = flags.persistent;
  // A fresh CastoreFs (inode table) for every FUSE session.
  fs::FsOptions fs_options{.list_root = flags.list_root, .show_xattr = flags.show_xattr};
  auto new_filesystem = [services = *services, fs_options] {
    return std::make_unique<fs::CastoreFs>(services, fs_options);
  };
  absl::Status s = fs::transport::ServeVirtiofs(new_filesystem, options, stop);
  close(stop);
  if (!s.ok()) {
    std::fprintf(stderr, "castor: virtiofs: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void AddVirtiofsCommand(CLI::App& app) {
  auto flags = std::make_shared<VirtiofsFlags>();
  CLI::App* cmd = app.add_subcommand(
      "virtiofs", "Serve the store to a VM as a virtio-fs share over a vhost-user socket");
  flags->store.AddTo(*cmd);
  flags->observability.AddTo(*cmd);
  cmd->add_option("--socket", flags->socket, "vhost-user unix socket to listen on")->required();
  cmd->add_option("--socket-mode", flags->socket_mode,
                  "Mode of the socket (octal; set before it appears, whatever the umask)")
      ->capture_default_str();
  cmd->add_flag("--list-root", flags->list_root, "let readdir of the share's root list the roots");
  cmd->add_flag("--show-xattr", flags->show_xattr, "expose user.tvix.castore.*.digest xattrs");
  cmd->add_option("--threads", flags->threads, "request worker threads (1: on the queue threads)")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--persistent", flags->persistent,
                "after the VM disconnects, wait for the next connection instead of exiting");
  SetRunner(cmd, Signals::kAwaited, [flags] { return RunVirtiofs(*flags); });
}

}  // namespace castor::cli
