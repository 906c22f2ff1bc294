// Store commands: roots, ls, cat, rm (and, through cli_util.h, the import,
// export, verify and gc families).
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/roots/resolve_path.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/store_flags.h"

namespace castor::cli {
namespace {

void PrintLsLine(const castore::Entry& e, bool long_format) {
  const std::string& name = e.name.str();
  if (!long_format) {
    std::printf("%s\n", name.c_str());
    return;
  }
  std::visit(
      [&](const auto& n) {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, castore::DirectoryNode>) {
          std::printf("dr-xr-xr-x %12llu %s %s/\n", static_cast<unsigned long long>(n.size),
                      n.digest.ToB3().c_str(), name.c_str());
        } else if constexpr (std::is_same_v<T, castore::FileNode>) {
          std::printf("%s %12llu %s %s\n", n.executable ? "-r-xr-xr-x" : "-r--r--r--",
                      static_cast<unsigned long long>(n.size), n.digest.ToB3().c_str(),
                      name.c_str());
        } else {
          std::printf("lrwxrwxrwx %12zu %-47s %s -> %s\n", n.target.str().size(), "", name.c_str(),
                      n.target.str().c_str());
        }
      },
      e.node);
}

int Ls(const StoreFlags& flags, const std::string& spec, bool long_format) {
  auto services = flags.Open();
  if (!services.ok()) return Fail(services.status());
  auto entry = castore::ResolvePath(*services->roots, *services->directories, spec);
  if (!entry.ok()) return Fail(entry.status());
  const auto* d = std::get_if<castore::DirectoryNode>(&entry->node);
  if (d == nullptr) {
    PrintLsLine(*entry, long_format);
    return 0;
  }
  auto dir = services->directories->Get(d->digest);
  if (!dir.ok()) return Fail(Annotate(dir.status(), spec));
  if (!dir->has_value()) {
    return Fail(absl::NotFoundError(
        absl::StrCat(spec, ": directory ", d->digest.ToB3(), " is not in the store")));
  }
  for (const castore::Entry& e : (*dir)->entries()) PrintLsLine(e, long_format);
  return 0;
}

int Cat(const StoreFlags& flags, const std::string& spec) {
  auto services = flags.Open();
  if (!services.ok()) return Fail(services.status());
  auto entry = castore::ResolvePath(*services->roots, *services->directories, spec);
  if (!entry.ok()) return Fail(entry.status());
  const auto* f = std::get_if<castore::FileNode>(&entry->node);
  if (f == nullptr) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(spec, " is a ", ToAbslView(castore::NodeKind(entry->node)), ", not a file")));
  }
  auto reader = services->blobs->OpenReadSized(f->digest, f->size);
  if (!reader.ok()) return Fail(Annotate(reader.status(), spec));
  if (*reader == nullptr) {
    return Fail(absl::NotFoundError(
        absl::StrCat(spec, ": blob ", f->digest.ToB3(), " is not in the store")));
  }
  auto corrupt = [&](std::string_view why) {
    return Fail(absl::DataLossError(absl::StrCat(spec, ": blob ", f->digest.ToB3(), " ",
                                                 ToAbslView(why), " (run castor verify)")));
  };
  if ((*reader)->size() != f->size) {
    return corrupt(absl::StrCat("has ", (*reader)->size(), " bytes, its node says ", f->size));
  }
  // No byte goes out unchecked: a Verified() reader checks each piece it
  // reads (so a damaged piece stops the output before any of it is
  // written); any other reader is hashed whole first.
  if (!(*reader)->Verified()) {
    absl::Status s = castore::VerifyReader(**reader, f->digest);
    if (!s.ok()) return Fail(Annotate(s, spec));
  }
  std::vector<uint8_t> buf(1 << 20);
  uint64_t off = 0;
  while (true) {
    auto n = (*reader)->ReadAt(off, buf);
    if (!n.ok()) return Fail(Annotate(n.status(), spec));
    if (*n == 0) break;
    size_t done = 0;
    while (done < *n) {
      ssize_t w = write(STDOUT_FILENO, buf.data() + done, *n - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Fail(ErrnoStatus(errno, "write to standard output"));
      }
      done += w;
    }
    off += *n;
  }
  if (off != f->size) return corrupt(absl::StrCat("ended at byte ", off, " of ", f->size));
  return 0;
}

}  // namespace

void AddStoreCommands(CLI::App& app) {
  auto flags = std::make_shared<StoreFlags>();
  CLI::App* roots = app.add_subcommand("roots", "List the named roots: name, kind, digest, size");
  flags->AddTo(*roots);
  SetRunner(roots, [flags] {
    auto services = flags->Open();
    if (!services.ok()) return Fail(services.status());
    absl::Status s = services->roots->List([](const castore::Entry& e) {
      std::printf("%s\t%s\n", e.name.str().c_str(), DescribeNode(e.node).c_str());
      return absl::OkStatus();
    });
    if (!s.ok()) return Fail(s);
    return 0;
  });

  struct LsArgs {
    StoreFlags flags;
    std::string spec;
    bool long_format = false;
  };
  auto ls_args = std::make_shared<LsArgs>();
  CLI::App* ls = app.add_subcommand("ls", "List a directory of a root (or show one entry)");
  ls_args->flags.AddTo(*ls);
  ls->add_option("ROOT[/PATH]", ls_args->spec, "Root name, optionally followed by a path")
      ->required();
  ls->add_flag("-l,--long", ls_args->long_format, "Show kind, size (bytes or entries) and digest");
  SetRunner(ls, [ls_args] { return Ls(ls_args->flags, ls_args->spec, ls_args->long_format); });

  struct CatArgs {
    StoreFlags flags;
    std::string spec;
  };
  auto cat_args = std::make_shared<CatArgs>();
  CLI::App* cat = app.add_subcommand("cat", "Write a file of a root to standard output");
  cat_args->flags.AddTo(*cat);
  cat->add_option("ROOT/PATH", cat_args->spec, "The file: root name and path")->required();
  SetRunner(cat, [cat_args] { return Cat(cat_args->flags, cat_args->spec); });

  struct RmArgs {
    StoreFlags flags;
    std::vector<std::string> names;
  };
  auto rm_args = std::make_shared<RmArgs>();
  CLI::App* rm =
      app.add_subcommand("rm", "Remove named roots (their data stays until `castor gc`)");
  rm_args->flags.AddTo(*rm);
  rm->add_option("ROOT", rm_args->names, "Root names")->required();
  SetRunner(rm, [rm_args] {
    auto services = rm_args->flags.Open();
    if (!services.ok()) return Fail(services.status());
    int rc = 0;
    for (const std::string& name : rm_args->names) {
      auto pc = castore::PathComponent::Create(name);
      if (!pc.ok()) {
        rc = Fail(Annotate(pc.status(), "root"));
        continue;
      }
      auto removed = services->roots->Remove(*pc);
      if (!removed.ok()) {
        rc = Fail(
            Annotate(removed.status(), absl::StrCat("removing root ", castore::QuoteName(name))));
      } else if (!*removed) {
        rc = Fail(absl::NotFoundError(absl::StrCat("no root named ", castore::QuoteName(name))));
      }
    }
    return rc;
  });

  AddImportCommands(app);
  AddMaintenanceCommands(app);
}

}  // namespace castor::cli
