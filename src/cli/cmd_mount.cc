// `castor mount MOUNTPOINT`: serves the store as a read-only FUSE file
// system in the foreground until unmounted or signalled (SIGINT/SIGTERM
// unmount cleanly and exit 0, without waiting for calls to a daemon).
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/store_flags.h"
#include "fs/castore_fs.h"
#include "fs/fuse/dispatcher.h"
#include "fs/fuse/session.h"
#include "fs/transport/dev_fuse.h"
#include "rpc/call_watchdog.h"
#include "spdlog/spdlog.h"

namespace castor::cli {
namespace {

struct MountFlags {
  StoreFlags store;
  std::string mountpoint;
  bool list_root = false;
  bool show_xattr = false;
  bool allow_other = false;
  int threads = 0;
};

int RunMount(const MountFlags& f) {
  auto services = f.store.Open();
  if (!services.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(services.status().message()).c_str());
    return 1;
  }
  fs::CastoreFs filesystem(*services,
                           fs::FsOptions{.list_root = f.list_root, .show_xattr = f.show_xattr});
  fs::fuse::Session session;
  fs::fuse::Dispatcher dispatcher(filesystem, session);
  auto mounted = fs::transport::DevFuseSession::Start(
      dispatcher, session,
      fs::transport::MountOptions{
          .mountpoint = f.mountpoint, .threads = f.threads, .allow_other = f.allow_other});
  if (!mounted.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(mounted.status().message()).c_str());
    return 1;
  }
  int sig = fs::transport::WaitForSignalOrUnmount(**mounted);
  if (sig != 0) {
    spdlog::info("signal {}: unmounting {}", sig, f.mountpoint);
    // A worker waiting for a daemon that does not answer would hold the
    // unmount up until its call timed out: end every call now (the reads
    // get EIO), and any call a worker starts from now on.
    rpc::CancelAllCalls();
  }
  absl::Status stopped = (*mounted)->Stop();
  if (!stopped.ok()) {
    std::fprintf(stderr, "castor: %s\n", std::string(stopped.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void AddMountCommand(CLI::App& app) {
  auto f = std::make_shared<MountFlags>();
  CLI::App* cmd =
      app.add_subcommand("mount",
                         "Mount the store read-only at MOUNTPOINT (every named root is an entry); "
                         "runs until unmounted, SIGINT or SIGTERM");
  cmd->add_option("mountpoint", f->mountpoint, "Directory to mount on")->required();
  cmd->add_flag("--list-root", f->list_root, "Allow listing the mount root (the named roots)");
  cmd->add_flag("--show-xattr", f->show_xattr,
                "Expose user.tvix.castore.{blob,directory}.digest xattrs");
  cmd->add_option("--threads", f->threads, "Worker threads (default: number of cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--allow-other", f->allow_other, "Let other users access the mount");
  f->store.AddTo(*cmd);
  SetRunner(cmd, Signals::kAwaited, [f] { return RunMount(*f); });
}

}  // namespace castor::cli
