// verify and gc: flags and reporting around castore/maintenance.
#include <cstdio>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/maintenance/gc.h"
#include "castore/maintenance/verify.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "rpc/grpc_admin.h"

namespace castor::cli {
namespace {

struct VerifyArgs {
  StoreFlags flags;
  std::vector<std::string> roots;
};

int RunVerify(const VerifyArgs& args) {
  auto services = args.flags.Open();
  if (!services.ok()) return Fail(services.status());
  // Shared: a concurrent gc must not delete what a root references while we
  // read it (it only deletes unreferenced objects, but a root removed and
  // collected under our feet would show up as a false problem).
  auto lock = LockStore(args.flags, castore::StoreLock::Mode::kShared);
  if (!lock.ok()) return Fail(lock.status());
  auto stats = castore::VerifyStore(
      *services->blobs, *services->directories, *services->roots,
      castore::VerifyOptions{.roots = args.roots}, [](const castore::VerifyProblem& p) {
        std::printf("%s%s: %s\n", p.root.c_str(), p.path.c_str(), p.message.c_str());
        std::fflush(stdout);
      });
  if (!stats.ok()) return Fail(stats.status());
  std::printf("verified %llu roots, %llu directories, %llu blobs (%s): %llu problems\n",
              static_cast<unsigned long long>(stats->roots),
              static_cast<unsigned long long>(stats->directories),
              static_cast<unsigned long long>(stats->blobs), HumanBytes(stats->blob_bytes).c_str(),
              static_cast<unsigned long long>(stats->problems));
  if (stats->problems > 0) {
    std::fprintf(stderr, "castor: verify found %llu problems\n",
                 static_cast<unsigned long long>(stats->problems));
    return 1;
  }
  return 0;
}

struct GcArgs {
  StoreFlags flags;
  bool dry_run = false;
  bool wait = false;
};

void PrintGcStats(const castore::GcStats& stats, bool dry_run) {
  const char* verb = dry_run ? "would delete" : "deleted";
  std::printf(
      "%s %llu blobs (%s freed) and %llu directories; kept %llu blobs (%s) and %llu "
      "directories reachable from %llu roots\n",
      verb, static_cast<unsigned long long>(stats.blobs_deleted),
      HumanBytes(stats.bytes_freed).c_str(),
      static_cast<unsigned long long>(stats.directories_deleted),
      static_cast<unsigned long long>(stats.blobs_kept), HumanBytes(stats.bytes_kept).c_str(),
      static_cast<unsigned long long>(stats.directories_kept),
      static_cast<unsigned long long>(stats.roots));
}

// gc run by the daemon at --root-service-addr (castor.v1.AdminService).
int RunRemoteGc(const GcArgs& args) {
  const std::string& daemon = args.flags.root_addr;
  for (const std::string* other : {&args.flags.blob_addr, &args.flags.directory_addr}) {
    if (!other->empty() && *other != daemon) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "gc through a daemon collects that daemon's whole store: --blob-service-addr and "
          "--directory-service-addr must name the same daemon as --root-service-addr (",
          daemon, ") or be left out")));
    }
  }
  auto stats = rpc::CollectGarbageThrough(daemon, args.dry_run);
  if (!stats.ok()) return Fail(stats.status());
  PrintGcStats(*stats, args.dry_run);
  return 0;
}

int RunGc(const GcArgs& args) {
  if (absl::StartsWith(args.flags.root_addr, "grpc+")) return RunRemoteGc(args);
  auto services = args.flags.Open();
  if (!services.ok()) return Fail(services.status());
  // Held while gc runs, so that no daemon starts serving the store meanwhile.
  std::string dir = StoreDir(args.flags);
  auto serving = LockServing(args.flags, "castor gc", [&](const castore::ServeLock::Holder& d) {
    if (args.wait) return absl::OkStatus();
    std::string hint = d.addresses.empty()
                           ? "castor gc --root-service-addr <its grpc+unix:// address>"
                           : absl::StrCat("castor gc --root-service-addr ", d.addresses[0]);
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " is served by ", d.Describe(),
                     ": its clients reuse stored data without the store lock, so gc must not run "
                     "beside it. Collect garbage through the daemon (",
                     hint, "), or pass --wait to wait until it exits"));
  });
  if (!serving.ok()) return Fail(serving.status());
  auto lock = LockStore(args.flags, castore::StoreLock::Mode::kExclusive);
  if (!lock.ok()) return Fail(lock.status());
  auto stats = castore::CollectGarbage(*services->blobs, *services->directories, *services->roots,
                                       args.dry_run);
  if (!stats.ok()) return Fail(stats.status());
  PrintGcStats(*stats, args.dry_run);
  return 0;
}

}  // namespace

void AddMaintenanceCommands(CLI::App& app) {
  auto vargs = std::make_shared<VerifyArgs>();
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Check every root's closure: directories decode, everything referenced exists, every "
      "blob hashes to its digest. Exit 1 on any problem");
  vargs->flags.AddTo(*verify);
  verify->add_option("--roots", vargs->roots, "Only these roots");
  SetRunner(verify, [vargs] { return RunVerify(*vargs); });

  auto gargs = std::make_shared<GcArgs>();
  CLI::App* gc = app.add_subcommand(
      "gc",
      "Delete blobs and directories no root reaches (waits for running imports). Refused "
      "beside a daemon serving the store: with --root-service-addr grpc+unix://... the "
      "daemon collects its store itself");
  gargs->flags.AddTo(*gc);
  gc->add_flag("--dry-run", gargs->dry_run, "Only report what would be deleted");
  gc->add_flag("--wait", gargs->wait,
               "When a daemon serves the store, wait until it exits instead of refusing");
  SetRunner(gc, [gargs] { return RunGc(*gargs); });
}

}  // namespace castor::cli
