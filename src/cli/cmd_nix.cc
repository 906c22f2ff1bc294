// `castor nix`: castor as a Nix store. import-nar, dump and path-info work
// on single paths; serve is an HTTP binary cache (nix/binary_cache_server.h)
// and copy substitutes paths from one (nix/binary_cache.h). Every path
// added becomes a root named by its base name (nix/store.h).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/store_flags.h"
#include "nix/binary_cache.h"
#include "nix/binary_cache_server.h"
#include "nix/castore_nar.h"
#include "nix/nar_import.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace castor::cli {
namespace {

using nix::PathInfo;
using nix::StorePath;

// "/nix/store/<hash>-<name>" or "<hash>-<name>".
absl::StatusOr<StorePath> ParseStorePath(std::string_view text) {
  if (absl::StartsWith(ToAbslView(text), "/")) return StorePath::FromAbsolutePath(text);
  return StorePath::FromBaseName(text);
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<nix::FdSource> source, nix::FdSource::Open(path));
  std::string out;
  RETURN_IF_ERROR(nix::ReadAll(*source, &out, 64 << 10, path));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

absl::StatusOr<PathInfo> GetPath(const nix::NixStore& store, std::string_view text) {
  ASSIGN_OR_RETURN(StorePath path, ParseStorePath(text));
  ASSIGN_OR_RETURN(std::optional<PathInfo> info, store.Get(path));
  if (!info.has_value()) {
    return absl::NotFoundError(absl::StrCat(path.ToAbsolutePath(), " is not in the store"));
  }
  return *std::move(info);
}

struct ImportNarArgs {
  StoreFlags flags;
  std::string file;
  std::string store_path;
  std::vector<std::string> references;
  std::string deriver;
  std::vector<std::string> sigs;
};

int RunImportNar(const ImportNarArgs& a) {
  auto path = ParseStorePath(a.store_path);
  if (!path.ok()) return Fail(Annotate(path.status(), "--store-path"));
  std::vector<StorePath> references;
  for (const std::string& r : a.references) {
    auto ref = ParseStorePath(r);
    if (!ref.ok()) return Fail(Annotate(ref.status(), "--references"));
    references.push_back(*ref);
  }
  std::optional<StorePath> deriver;
  if (!a.deriver.empty()) {
    auto parsed = ParseStorePath(a.deriver);
    if (!parsed.ok()) return Fail(Annotate(parsed.status(), "--deriver"));
    deriver = *parsed;
  }
  std::vector<nix::Signature> signatures;
  for (const std::string& s : a.sigs) {
    auto sig = nix::Signature::Parse(s);
    if (!sig.ok()) return Fail(Annotate(sig.status(), "--sig"));
    nix::AddOrReplaceSignature(signatures, *sig);
  }
  auto store = a.flags.OpenNixStore();
  if (!store.ok()) return Fail(store.status());
  auto lock = LockStore(a.flags, castore::StoreLock::Mode::kShared);
  if (!lock.ok()) return Fail(lock.status());
  auto source = nix::FdSource::Open(a.file);
  if (!source.ok()) return Fail(source.status());
  auto imported = nix::ImportNar((*store)->blobs(), (*store)->directories(), **source);
  if (!imported.ok()) return Fail(Annotate(imported.status(), a.file));
  PathInfo::Fields fields{.store_path = *path,
                          .node = imported->node,
                          .references = std::move(references),
                          .nar_size = imported->nar.nar_size,
                          .nar_sha256 = imported->nar.nar_sha256,
                          .signatures = std::move(signatures),
                          .deriver = std::move(deriver)};
  auto info = PathInfo::Create(std::move(fields));
  if (!info.ok()) return Fail(info.status());
  auto added = (*store)->Add(*info);
  if (!added.ok()) return Fail(added.status());
  std::printf("%s\n", info->store_path().ToAbsolutePath().c_str());
  std::fprintf(stderr, "castor: imported %s: NAR %s, %s; %llu new blobs (%s)\n",
               info->store_path().ToAbsolutePath().c_str(), HumanBytes(info->nar_size()).c_str(),
               info->nar_sha256().ToNixBase32().c_str(),
               static_cast<unsigned long long>(imported->stats.blobs_new),
               HumanBytes(imported->stats.bytes_new).c_str());
  return 0;
}

// The node to dump: a store path's (absolute, or a root name that is a base
// name with a path info) or any root's.
absl::StatusOr<castore::Node> DumpNode(const nix::NixStore& store, const std::string& spec) {
  if (absl::StartsWith(spec, "/")) {
    ASSIGN_OR_RETURN(PathInfo info, GetPath(store, spec));
    return info.node();
  }
  ASSIGN_OR_RETURN(castore::PathComponent name, castore::PathComponent::Create(spec));
  ASSIGN_OR_RETURN(std::optional<castore::Entry> root, store.services().roots->Get(name));
  if (!root.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no root or store path named ", castore::QuoteName(spec)));
  }
  return root->node;
}

int RunDump(const StoreFlags& flags, const std::string& spec) {
  auto store = flags.OpenNixStore();
  if (!store.ok()) return Fail(store.status());
  auto node = DumpNode(**store, spec);
  if (!node.ok()) return Fail(node.status());
  if (isatty(STDOUT_FILENO)) {
    return Fail(absl::FailedPreconditionError(
        "refusing to write a NAR to a terminal; redirect standard output"));
  }
  nix::FdSink out(STDOUT_FILENO, "standard output");
  // Large files are checked before they are sent, so a damaged store fails
  // before the bytes of the damaged file went out.
  auto summary = nix::RenderNar((*store)->blobs(), (*store)->directories(), *node, out,
                                {.verify_large_files_first = true});
  if (!summary.ok()) return Fail(Annotate(summary.status(), spec));
  return 0;
}

nlohmann::json PathInfoJson(const PathInfo& info) {
  nlohmann::json j = {
      {"path", info.store_path().ToAbsolutePath()},
      {"narHash", info.nar_sha256().ToSri()},
      {"narSize", info.nar_size()},
      {"references", nlohmann::json::array()},
      {"signatures", nlohmann::json::array()},
      {"castore", DescribeNode(info.node())},
  };
  std::vector<std::string> refs;
  for (const StorePath& r : info.references()) refs.push_back(r.ToAbsolutePath());
  std::sort(refs.begin(), refs.end());
  for (const std::string& r : refs) j["references"].push_back(r);
  for (const nix::Signature& s : info.signatures()) j["signatures"].push_back(s.ToString());
  if (info.deriver().has_value()) j["deriver"] = info.deriver()->ToAbsolutePath();
  if (info.ca().has_value()) j["ca"] = info.ca()->ToString();
  return j;
}

int RunPathInfo(const StoreFlags& flags, const std::vector<std::string>& specs, bool all,
                bool json) {
  auto store = flags.OpenNixStore();
  if (!store.ok()) return Fail(store.status());
  std::vector<PathInfo> infos;
  int rc = 0;
  if (all) {
    absl::Status s = (*store)->path_infos().List([&](const PathInfo& info) {
      infos.push_back(info);
      return absl::OkStatus();
    });
    if (!s.ok()) return Fail(s);
  }
  for (const std::string& spec : specs) {
    auto info = GetPath(**store, spec);
    if (!info.ok()) {
      rc = Fail(info.status());
      continue;
    }
    infos.push_back(*std::move(info));
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const PathInfo& info : infos) out.push_back(PathInfoJson(info));
    std::printf("%s\n", out.dump(2).c_str());
    return rc;
  }
  for (const PathInfo& info : infos) {
    std::printf("%s\t%s\t%llu\t%s\n", info.store_path().ToAbsolutePath().c_str(),
                info.nar_sha256().ToNixBase32().c_str(),
                static_cast<unsigned long long>(info.nar_size()),
                DescribeNode(info.node()).c_str());
  }
  return rc;
}

struct ServeArgs {
  StoreFlags flags;
  std::string listen = "http://127.0.0.1:5000";
  std::vector<std::string> sign_key_files;
  bool allow_upload = false;
  int priority = 40;
  std::string compression = "none";
  int threads = 64;
  double io_timeout = 60;
};

// "http://HOST:PORT" (HOST may be [v6]).
absl::StatusOr<std::pair<std::string, int>> ParseListen(const std::string& text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --listen '", text, "': ", ToAbslView(why), " (expected http://HOST:PORT)"));
  };
  if (!absl::StartsWith(text, "http://")) return bad("not http://");
  std::string rest = text.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("no port");
  std::string host = rest.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(rest.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, port);
}

int RunServe(const ServeArgs& a) {
  auto listen = ParseListen(a.listen);
  if (!listen.ok()) return Fail(listen.status());
  nix::BinaryCacheServerOptions options;
  options.host = listen->first;
  options.port = listen->second;
  options.allow_upload = a.allow_upload;
  options.priority = a.priority;
  options.threads = a.threads;
  options.io_timeout = std::chrono::seconds(static_cast<int64_t>(std::max(1.0, a.io_timeout)));
  auto compression = nix::ParseCompression(a.compression);
  if (!compression.ok()) return Fail(Annotate(compression.status(), "--compression"));
  options.compression = *compression;
  for (const std::string& file : a.sign_key_files) {
    auto text = ReadSmallFile(file);
    if (!text.ok()) return Fail(Annotate(text.status(), "--sign-key"));
    auto key = nix::SecretKey::Parse(*text);
    if (!key.ok()) return Fail(Annotate(key.status(), absl::StrCat("--sign-key ", file)));
    options.sign_keys.push_back(*std::move(key));
  }
  auto store = a.flags.OpenNixStore();
  if (!store.ok()) return Fail(store.status());
  if (UsesLocalStore(a.flags)) {
    // An upload's blobs are unreferenced until its narinfo arrives: a local
    // gc waits for that (or for the upload to expire).
    options.upload_guard = [flags = a.flags]() -> absl::StatusOr<std::shared_ptr<void>> {
      ASSIGN_OR_RETURN(std::unique_ptr<castore::StoreLock> lock,
                       LockStore(flags, castore::StoreLock::Mode::kShared));
      return std::shared_ptr<void>(std::move(lock));
    };
  }
  auto server = nix::BinaryCacheServer::Start(*store, options);
  if (!server.ok()) return Fail(server.status());
  std::printf("serving %s\n", (*server)->url().c_str());
  std::fflush(stdout);
  // Blocked since before the first thread (Signals::kAwaited).
  sigset_t signals = TerminationSignals();
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  (*server)->Stop();
  return 0;
}

struct CopyArgs {
  StoreFlags flags;
  std::string from;
  std::vector<std::string> paths;
  std::vector<std::string> trusted_keys;
  bool no_check_sigs = false;
};

int RunCopy(const CopyArgs& a) {
  nix::SubstituteOptions options;
  options.check_signatures = !a.no_check_sigs;
  for (const std::string& k : a.trusted_keys) {
    auto key = nix::PublicKey::Parse(k);
    if (!key.ok()) return Fail(Annotate(key.status(), "--trusted-public-key"));
    options.trusted_keys.push_back(*key);
  }
  if (options.check_signatures && options.trusted_keys.empty()) {
    return Fail(absl::InvalidArgumentError(
        "no --trusted-public-key given: every path would be refused (or pass --no-check-sigs "
        "to skip the signature check)"));
  }
  std::vector<StorePath> paths;
  for (const std::string& p : a.paths) {
    auto path = ParseStorePath(p);
    if (!path.ok()) return Fail(path.status());
    paths.push_back(*path);
  }
  auto cache = nix::BinaryCache::Open(a.from);
  if (!cache.ok()) return Fail(cache.status());
  auto store = a.flags.OpenNixStore();
  if (!store.ok()) return Fail(store.status());
  auto lock = LockStore(a.flags, castore::StoreLock::Mode::kShared);
  if (!lock.ok()) return Fail(lock.status());
  options.added = [](const PathInfo& info) {
    std::fprintf(stderr, "copied %s\n", info.store_path().ToAbsolutePath().c_str());
  };
  auto stats = nix::Substitute(**cache, **store, paths, options);
  if (!stats.ok()) return Fail(stats.status());
  std::fprintf(
      stderr, "castor: copied %llu paths (%s of NAR, %s downloaded); %llu already present\n",
      static_cast<unsigned long long>(stats->paths_added), HumanBytes(stats->nar_bytes).c_str(),
      HumanBytes(stats->file_bytes).c_str(), static_cast<unsigned long long>(stats->paths_present));
  return 0;
}

}  // namespace

void AddNixCommands(CLI::App& app) {
  CLI::App* nix = app.add_subcommand(
      "nix",
      "castor as a Nix store: import and dump NARs, show path infos, serve an HTTP binary "
      "cache, substitute from one. Every store path added is a root named by its base name");
  nix->require_subcommand(1);

  auto imp = std::make_shared<ImportNarArgs>();
  CLI::App* import_nar = nix->add_subcommand(
      "import-nar", "Import a NAR (as `nix-store --dump` writes it) as a store path");
  imp->flags.AddTo(*import_nar);
  import_nar->add_option("FILE", imp->file, "The NAR file, or - for standard input")->required();
  import_nar->add_option("--store-path", imp->store_path, "The store path it becomes")->required();
  import_nar->add_option("--references", imp->references, "Store paths it refers to")
      ->type_name("PATH");
  import_nar->add_option("--deriver", imp->deriver, "The .drv that built it")->type_name("PATH");
  import_nar->add_option("--sig", imp->sigs, "Signatures to keep (NAME:BASE64), repeatable")
      ->type_name("SIG");
  SetRunner(import_nar, [imp] { return RunImportNar(*imp); });

  struct DumpArgs {
    StoreFlags flags;
    std::string spec;
  };
  auto dump_args = std::make_shared<DumpArgs>();
  CLI::App* dump = nix->add_subcommand(
      "dump", "Write the NAR of a store path or root to standard output (as nix-store --dump)");
  dump_args->flags.AddTo(*dump);
  dump->add_option("ROOT|STOREPATH", dump_args->spec, "A root name or /nix/store/... path")
      ->required();
  SetRunner(dump, [dump_args] { return RunDump(dump_args->flags, dump_args->spec); });

  struct PathInfoArgs {
    StoreFlags flags;
    std::vector<std::string> specs;
    bool all = false;
    bool json = false;
  };
  auto pi = std::make_shared<PathInfoArgs>();
  CLI::App* path_info = nix->add_subcommand(
      "path-info", "Show store paths: path, NAR hash, NAR size, castore node (or --json)");
  pi->flags.AddTo(*path_info);
  path_info->add_option("PATH", pi->specs, "/nix/store/... paths or base names");
  path_info->add_flag("--all", pi->all, "Every path in the store");
  path_info->add_flag("--json", pi->json,
                      "JSON like `nix path-info --json`, plus the castore node");
  SetRunner(path_info, [pi] {
    if (pi->specs.empty() && !pi->all) {
      return Fail(absl::InvalidArgumentError("name PATHs or pass --all"));
    }
    return RunPathInfo(pi->flags, pi->specs, pi->all, pi->json);
  });

  auto sv = std::make_shared<ServeArgs>();
  CLI::App* serve = nix->add_subcommand(
      "serve",
      "Serve the store as a Nix HTTP binary cache (nix-cache-info, narinfos, NARs rendered on "
      "demand) until SIGTERM/SIGINT; prints the address it serves on");
  sv->flags.AddTo(*serve);
  serve
      ->add_option("--listen", sv->listen,
                   "http://HOST:PORT (port 0: any free port). No TLS, no authentication")
      ->capture_default_str();
  serve
      ->add_option("--sign-key", sv->sign_key_files,
                   "Secret key file (nix-store --generate-binary-cache-key); narinfos are "
                   "signed with every key given, keeping the signatures they have")
      ->type_name("FILE");
  serve->add_flag("--allow-upload", sv->allow_upload,
                  "Accept `nix copy --to http://...` uploads (PUT of NARs and narinfos)");
  serve->add_option("--priority", sv->priority, "Priority in nix-cache-info (lower: preferred)")
      ->capture_default_str();
  serve
      ->add_option("--compression", sv->compression,
                   "How narinfos offer NARs: none (fastest here), zstd, xz, bzip2 (compressed "
                   "on every download)")
      ->check(CLI::IsMember({"none", "zstd", "xz", "bzip2"}))
      ->capture_default_str();
  serve
      ->add_option("--threads", sv->threads,
                   "Connections served at once (each a thread); more wait")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--io-timeout", sv->io_timeout,
                   "Seconds a client may go without sending or taking a byte")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  SetRunner(serve, Signals::kAwaited, [sv] { return RunServe(*sv); });

  auto cp = std::make_shared<CopyArgs>();
  CLI::App* copy = nix->add_subcommand(
      "copy", "Substitute store paths and their closure from a binary cache into castor");
  cp->flags.AddTo(*copy);
  copy->add_option("--from", cp->from, "The cache: http(s)://... or file:///...")->required();
  copy->add_option("PATH", cp->paths, "/nix/store/... paths")->required();
  copy->add_option("--trusted-public-key", cp->trusted_keys,
                   "A key whose signature makes a path acceptable (NAME:BASE64), repeatable")
      ->type_name("KEY");
  copy->add_flag("--no-check-sigs", cp->no_check_sigs,
                 "Accept paths without a valid signature (their NAR hash is still checked)");
  SetRunner(copy, [cp] { return RunCopy(*cp); });
}

}  // namespace castor::cli
