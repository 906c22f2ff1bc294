// import and export: flags, progress display and reporting around
// castore/import (which does the work).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/mutex.h"
#include "base/status.h"
#include "castore/import/export.h"
#include "castore/import/import.h"
#include "castore/import/tar_import.h"
#include "castore/roots/resolve_path.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"

namespace castor::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

// The first Ctrl-C (or SIGTERM) asks the import to stop cleanly; a second
// one kills the process (SA_RESETHAND). Either way no root is set.
void InstallInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::string FormatDuration(double seconds) {
  if (seconds < 0 || seconds > 360000) return "--:--";
  const int s = static_cast<int>(std::lround(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

// Redraws one status line on stderr (a TTY) every 200 ms until stopped.
class ProgressBar {
 public:
  ProgressBar(const castore::ImportProgress& p, std::string label)
      : progress_(p), label_(std::move(label)), start_(std::chrono::steady_clock::now()) {
    thread_ = std::thread([this] { Run(); });
  }
  ~ProgressBar() { Stop(); }
  void Stop() {
    {
      castor::MutexLock lock(&mu_);  // its Unlock wakes Run
      if (stop_) return;
      stop_ = true;
    }
    thread_.join();
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  void Run() {
    castor::MutexLock lock(&mu_);
    while (!mu_.AwaitUntil([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; },
                           std::chrono::steady_clock::now() + std::chrono::milliseconds(200))) {
      Draw();
    }
  }
  void Draw() {
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    uint64_t files = progress_.files_done, files_total = progress_.files_found;
    uint64_t bytes = progress_.bytes_done, bytes_total = progress_.bytes_found;
    auto rate = static_cast<uint64_t>(elapsed > 0 ? bytes / elapsed : 0);
    std::string line;
    if (!progress_.scan_done) {
      line = absl::StrCat(label_, ": scanning, ", files_total, " files (", HumanBytes(bytes_total),
                          ") found, ", files, " stored, ", HumanBytes(rate), "/s");
    } else {
      double frac = bytes_total ? static_cast<double>(bytes) / bytes_total
                                : (files_total ? static_cast<double>(files) / files_total : 1);
      if (frac > 1) frac = 1;
      int width = 24, filled = static_cast<int>(frac * width);
      double eta = rate > 0 ? static_cast<double>(bytes_total - std::min(bytes, bytes_total)) /
                                  static_cast<double>(rate)
                            : -1;
      line = absl::StrCat(label_, " [", std::string(filled, '#'), std::string(width - filled, '-'),
                          "] ", files, "/", files_total, " files, ", HumanBytes(bytes), "/",
                          HumanBytes(bytes_total), ", ", HumanBytes(rate), "/s, ETA ",
                          FormatDuration(eta));
    }
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
  }

  const castore::ImportProgress& progress_;
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  castor::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

struct ImportArgs {
  StoreFlags flags;
  std::vector<std::string> paths;
  std::string name;
  bool force = false;
  bool json = false;
  bool tar = false;
  unsigned threads = 0;
};

// The default root name: the path's last component (tar extensions removed).
absl::StatusOr<castore::PathComponent> DefaultName(const std::string& path, bool tar) {
  if (path == "-") return absl::InvalidArgumentError("reading standard input needs --name");
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  if (tar) {
    for (const char* ext :
         {".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tgz", ".txz", ".tzst", ".tar"}) {
      if (absl::EndsWith(base, ext) && base.size() > strlen(ext)) {
        base.resize(base.size() - strlen(ext));
        break;
      }
    }
  }
  auto pc = castore::PathComponent::Create(base);
  if (!pc.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot derive a root name from it (",
                                                   pc.status().message(), "); use --name"));
  }
  return pc;
}

int RunImport(const ImportArgs& args) {
  if (!args.name.empty() && args.paths.size() > 1) {
    return Fail(absl::InvalidArgumentError("--name needs exactly one PATH"));
  }
  auto services = args.flags.Open();
  if (!services.ok()) return Fail(services.status());
  InstallInterruptHandler();
  // Held from before the first dedup check until after the root commits.
  auto lock = LockStore(args.flags, castore::StoreLock::Mode::kShared);
  if (!lock.ok()) return Fail(lock.status());

  bool tty = isatty(STDERR_FILENO) && !args.json;
  nlohmann::json report = nlohmann::json::array();
  int rc = 0;
  for (const std::string& path : args.paths) {
    nlohmann::json item = {{"source", path}};
    auto fail = [&](const absl::Status& s) {
      item["error"] = std::string(s.message());
      report.push_back(item);
      if (s.code() == absl::StatusCode::kCancelled) {
        std::fprintf(stderr, "castor: %s: import interrupted; no root was set\n", path.c_str());
        rc = 130;
      } else {
        rc = std::max(rc, Fail(s));
      }
    };
    if (g_interrupted) {
      fail(absl::CancelledError("interrupted"));
      continue;
    }
    auto name =
        args.name.empty() ? DefaultName(path, args.tar) : castore::PathComponent::Create(args.name);
    if (!name.ok()) {
      fail(Annotate(name.status(), "--name"));
      continue;
    }
    item["name"] = name->str();
    auto existing = services->roots->Get(*name);
    if (!existing.ok()) {
      fail(existing.status());
      continue;
    }
    if (existing->has_value() && !args.force) {
      fail(absl::AlreadyExistsError(absl::StrCat("root ", castore::QuoteName(name->str()),
                                                 " already exists (use --force to replace it)")));
      continue;
    }
    castore::ImportProgress progress;
    castore::ImportOptions opts{
        .threads = args.threads, .cancel = &g_interrupted, .progress = &progress};
    std::unique_ptr<ProgressBar> bar;
    if (tty) bar = std::make_unique<ProgressBar>(progress, name->str());
    auto run_import = [&]() -> absl::StatusOr<castore::ImportResult> {
      auto r = args.tar ? castore::ImportTar(*services->blobs, *services->directories, path, opts)
                        : castore::ImportPath(*services->blobs, *services->directories, path, opts);
      if (r.ok() && g_interrupted) return absl::CancelledError("interrupted");
      return r;
    };
    // A daemon's gc may take what this import reused before the root makes
    // it reachable; the daemon then refuses the root, and the import runs
    // once more (standard input cannot be read twice).
    auto result = castore::ImportAndCommit(
        *services->blobs, *services->roots, *name, run_import, /*retry=*/path != "-",
        [&](const absl::Status& refused) {
          if (bar) bar->Stop();
          std::fprintf(stderr,
                       "castor: %s: the store no longer holds part of what this import stored "
                       "or reused (a gc ran meanwhile: %s); importing again\n",
                       path.c_str(), std::string(refused.message()).c_str());
          for (auto* counter : {&progress.files_found, &progress.bytes_found, &progress.files_done,
                                &progress.bytes_done}) {
            counter->store(0);
          }
          progress.scan_done = false;
          if (tty) bar = std::make_unique<ProgressBar>(progress, name->str());
        });
    if (bar) bar->Stop();
    if (!result.ok()) {
      fail(result.status());
      continue;
    }
    const castore::ImportStats& st = result->stats;
    double secs = std::chrono::duration<double>(st.elapsed).count();
    const castore::B3Digest* digest = nullptr;
    if (auto* d = std::get_if<castore::DirectoryNode>(&result->node)) digest = &d->digest;
    if (auto* f = std::get_if<castore::FileNode>(&result->node)) digest = &f->digest;
    std::string kind(castore::NodeKind(result->node));
    item["kind"] = kind;
    if (digest != nullptr) {
      item["digest"] = digest->ToB3();
      item["digest_hex"] = digest->ToHex();
    } else {
      item["target"] = std::get<castore::SymlinkNode>(result->node).target.str();
    }
    item["files"] = st.files;
    item["directories"] = st.directories;
    item["symlinks"] = st.symlinks;
    item["bytes"] = st.bytes;
    item["bytes_new"] = st.bytes_new;
    item["blobs_new"] = st.blobs_new;
    item["seconds"] = secs;
    report.push_back(item);
    if (!args.json) {
      std::printf(
          "%s: %s %s\n", name->str().c_str(), kind.c_str(),
          digest
              ? absl::StrCat(digest->ToB3(), " (", digest->ToHex(), ")").c_str()
              : absl::StrCat("-> ", castore::QuoteName(
                                        std::get<castore::SymlinkNode>(result->node).target.str()))
                    .c_str());
      std::printf(
          "  %llu files, %llu directories, %llu symlinks, %s (%llu bytes), %s newly stored, "
          "%.2f s (%s/s)\n",
          static_cast<unsigned long long>(st.files),
          static_cast<unsigned long long>(st.directories),
          static_cast<unsigned long long>(st.symlinks), HumanBytes(st.bytes).c_str(),
          static_cast<unsigned long long>(st.bytes), HumanBytes(st.bytes_new).c_str(), secs,
          HumanBytes(static_cast<uint64_t>(secs > 0 ? st.bytes / secs : 0)).c_str());
      std::fflush(stdout);
    }
  }
  if (args.json)
    std::printf("%s\n", nlohmann::json{{"roots", report}, {"ok", rc == 0}}.dump(2).c_str());
  return rc;
}

struct ExportArgs {
  StoreFlags flags;
  std::string spec;
  std::string dest;
  bool force = false;
};

int RunExport(const ExportArgs& args) {
  auto services = args.flags.Open();
  if (!services.ok()) return Fail(services.status());
  auto entry = castore::ResolvePath(*services->roots, *services->directories, args.spec);
  if (!entry.ok()) return Fail(entry.status());
  auto start = std::chrono::steady_clock::now();
  auto stats = castore::ExportNode(*services->blobs, *services->directories, entry->node, args.dest,
                                   castore::ExportOptions{.force = args.force});
  if (!stats.ok()) return Fail(stats.status());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s -> %s: %llu files, %llu directories, %llu symlinks, %s, %.2f s\n",
              args.spec.c_str(), args.dest.c_str(), static_cast<unsigned long long>(stats->files),
              static_cast<unsigned long long>(stats->directories),
              static_cast<unsigned long long>(stats->symlinks), HumanBytes(stats->bytes).c_str(),
              secs);
  return 0;
}

}  // namespace

void AddImportCommands(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* import = app.add_subcommand(
      "import",
      "Import directory trees, files or symlinks (or tar archives with --tar) as named roots");
  args->flags.AddTo(*import);
  import
      ->add_option("PATH", args->paths,
                   "Directories, files or symlinks (not followed); with --tar, archives "
                   "('-' for standard input)")
      ->required();
  import->add_option("--name", args->name, "Root name (default: the PATH's last component)");
  import->add_flag("--force", args->force, "Replace an existing root of the same name");
  import->add_flag("--json", args->json, "Print a machine-readable summary (JSON) instead");
  import->add_flag("--tar", args->tar,
                   "PATH is a tar archive (plain, gzip, bzip2, xz or zstd), imported without "
                   "unpacking");
  import->add_option("--threads", args->threads,
                     "Worker threads (default: four per core, 8 to 32)");
  SetRunner(import, [args] { return RunImport(*args); });

  auto eargs = std::make_shared<ExportArgs>();
  CLI::App* exp = app.add_subcommand(
      "export", "Write a root (or a path inside it) to the local filesystem, exactly");
  eargs->flags.AddTo(*exp);
  exp->add_option("ROOT[/PATH]", eargs->spec, "What to export")->required();
  exp->add_option("DEST", eargs->dest, "Where to create it (must not exist)")->required();
  exp->add_flag("--force", eargs->force, "Remove an existing DEST first");
  SetRunner(exp, [eargs] { return RunExport(*eargs); });
}

}  // namespace castor::cli
