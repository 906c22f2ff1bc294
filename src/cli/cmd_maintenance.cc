// verify and gc: flags and reporting around castore/maintenance.
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "castore/maintenance/gc.h"
#include "castore/maintenance/verify.h"
#include "castore/status_macros.h"
#include "cli/cli_util.h"
#include "cli/commands.h"

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
};

int RunGc(const GcArgs& args) {
  auto services = args.flags.Open();
  if (!services.ok()) return Fail(services.status());
  auto lock = LockStore(args.flags, castore::StoreLock::Mode::kExclusive);
  if (!lock.ok()) return Fail(lock.status());
  auto stats = castore::CollectGarbage(*services->blobs, *services->directories, *services->roots,
                                       args.dry_run);
  if (!stats.ok()) return Fail(stats.status());
  const char* verb = args.dry_run ? "would delete" : "deleted";
  std::printf("%s %llu blobs (%s freed) and %llu directories; kept %llu blobs (%s) and %llu "
              "directories reachable from %llu roots\n",
              verb, static_cast<unsigned long long>(stats->blobs_deleted),
              HumanBytes(stats->bytes_freed).c_str(),
              static_cast<unsigned long long>(stats->directories_deleted),
              static_cast<unsigned long long>(stats->blobs_kept), HumanBytes(stats->bytes_kept).c_str(),
              static_cast<unsigned long long>(stats->directories_kept),
              static_cast<unsigned long long>(stats->roots));
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
      "gc", "Delete blobs and directories no root reaches (waits for running imports)");
  gargs->flags.AddTo(*gc);
  gc->add_flag("--dry-run", gargs->dry_run, "Only report what would be deleted");
  SetRunner(gc, [gargs] { return RunGc(*gargs); });
}

}  // namespace castor::cli
