#include "castore/composition.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/mutex.h"
#include "base/status.h"
#include "castore/blob/local_blob_service.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/lmdb_root_service.h"
#include "castore/roots/memory_root_service.h"

namespace castor::castore {
namespace {

template <typename Factory>
struct Registry {
  castor::Mutex mu;
  std::map<std::string, Factory> factories ABSL_GUARDED_BY(mu);
};

Registry<BlobServiceFactory>& Blobs() {
  static auto* r = new Registry<BlobServiceFactory>;
  return *r;
}
Registry<DirectoryServiceFactory>& Dirs() {
  static auto* r = new Registry<DirectoryServiceFactory>;
  return *r;
}
Registry<RootServiceFactory>& Roots() {
  static auto* r = new Registry<RootServiceFactory>;
  return *r;
}

// The absolute path of a file:// or lmdb:// address.
absl::StatusOr<std::string> LocalPath(const ServiceAddress& addr) {
  if (addr.path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address '", addr.original, "' has no path: expected ", addr.scheme, ":///absolute/path"));
  }
  if (addr.path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("address '", addr.original,
                                                   "' has a relative path: expected ", addr.scheme,
                                                   ":///absolute/path"));
  }
  return addr.path;
}

void RegisterBuiltins() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterBlobScheme("memory",
                       [](const ServiceAddress&) -> absl::StatusOr<std::shared_ptr<BlobService>> {
                         return std::make_shared<MemoryBlobService>();
                       });
    RegisterDirectoryScheme(
        "memory", [](const ServiceAddress&) -> absl::StatusOr<std::shared_ptr<DirectoryService>> {
          return std::make_shared<MemoryDirectoryService>();
        });
    RegisterRootScheme("memory",
                       [](const ServiceAddress&) -> absl::StatusOr<std::shared_ptr<RootService>> {
                         return std::make_shared<MemoryRootService>();
                       });
    RegisterBlobScheme(
        "file", [](const ServiceAddress& addr) -> absl::StatusOr<std::shared_ptr<BlobService>> {
          ASSIGN_OR_RETURN(std::string path, LocalPath(addr));
          return LocalBlobService::Open(path);
        });
    RegisterDirectoryScheme(
        "lmdb",
        [](const ServiceAddress& addr) -> absl::StatusOr<std::shared_ptr<DirectoryService>> {
          ASSIGN_OR_RETURN(std::string path, LocalPath(addr));
          return LmdbDirectoryService::Open(path);
        });
    RegisterRootScheme(
        "lmdb", [](const ServiceAddress& addr) -> absl::StatusOr<std::shared_ptr<RootService>> {
          ASSIGN_OR_RETURN(std::string path, LocalPath(addr));
          return LmdbRootService::Open(path);
        });
  });
}

template <typename Service, typename Factory>
absl::StatusOr<std::shared_ptr<Service>> Open(Registry<Factory>& registry, std::string_view kind,
                                              std::string_view addr) {
  RegisterBuiltins();
  ASSIGN_OR_RETURN(ServiceAddress parsed, ServiceAddress::Parse(addr));
  Factory factory;
  std::vector<std::string> known;
  {
    castor::MutexLock lock(&registry.mu);
    auto it = registry.factories.find(parsed.scheme);
    if (it != registry.factories.end()) factory = it->second;
    for (const auto& [scheme, f] : registry.factories) known.push_back(scheme + "://");
  }
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported ", ToAbslView(kind), " address '",
                                                   ToAbslView(addr), "': scheme '", parsed.scheme,
                                                   "' is not one of ", absl::StrJoin(known, ", ")));
  }
  auto service = factory(parsed);
  if (!service.ok()) {
    return Annotate(service.status(),
                    absl::StrCat("opening ", ToAbslView(kind), " '", ToAbslView(addr), "'"));
  }
  return service;
}

}  // namespace

absl::StatusOr<ServiceAddress> ServiceAddress::Parse(std::string_view addr) {
  size_t sep = addr.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid service address '", ToAbslView(addr),
                     "': expected scheme://..., e.g. memory://, file:///path, lmdb:///path, "
                     "grpc+unix:///path/to.sock"));
  }
  ServiceAddress out;
  out.original = std::string(addr);
  out.scheme = std::string(addr.substr(0, sep));
  out.path = std::string(addr.substr(sep + 3));
  return out;
}

void RegisterBlobScheme(const std::string& scheme, BlobServiceFactory factory) {
  castor::MutexLock lock(&Blobs().mu);
  Blobs().factories[scheme] = std::move(factory);
}
void RegisterDirectoryScheme(const std::string& scheme, DirectoryServiceFactory factory) {
  castor::MutexLock lock(&Dirs().mu);
  Dirs().factories[scheme] = std::move(factory);
}
void RegisterRootScheme(const std::string& scheme, RootServiceFactory factory) {
  castor::MutexLock lock(&Roots().mu);
  Roots().factories[scheme] = std::move(factory);
}

absl::StatusOr<std::shared_ptr<BlobService>> OpenBlobService(std::string_view addr) {
  return Open<BlobService>(Blobs(), "blob service", addr);
}
absl::StatusOr<std::shared_ptr<DirectoryService>> OpenDirectoryService(std::string_view addr) {
  return Open<DirectoryService>(Dirs(), "directory service", addr);
}
absl::StatusOr<std::shared_ptr<RootService>> OpenRootService(std::string_view addr) {
  return Open<RootService>(Roots(), "root service", addr);
}

StoreAddresses EmbeddedStoreAddresses(const std::string& dir) {
  // Addresses take absolute paths; a relative store directory (`--store
  // store`) is relative to the working directory.
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  std::string d = ec ? dir : abs.lexically_normal().string();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return StoreAddresses{
      .blob = absl::StrCat("file://", d, "/blobs"),
      .directory = absl::StrCat("lmdb://", d, "/meta"),
      .root = absl::StrCat("lmdb://", d, "/meta"),
  };
}

std::string DefaultStoreDir() {
  if (const char* s = std::getenv("CASTOR_STORE"); s && *s) return s;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    return absl::StrCat(x, "/castor");
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home && *home ? home : "/root", "/.local/share/castor");
}

absl::StatusOr<Services> OpenServices(const StoreAddresses& addrs) {
  Services out;
  ASSIGN_OR_RETURN(out.blobs, OpenBlobService(addrs.blob));
  ASSIGN_OR_RETURN(out.directories, OpenDirectoryService(addrs.directory));
  ASSIGN_OR_RETURN(out.roots, OpenRootService(addrs.root));
  return out;
}

}  // namespace castor::castore
