#include "nix/pathinfo/composition.h"

#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/mutex.h"
#include "base/status.h"
#include "nix/pathinfo/lmdb_path_info_service.h"
#include "nix/pathinfo/memory_path_info_service.h"

namespace castor::nix {
namespace {

struct Registry {
  castor::Mutex mu;
  std::map<std::string, PathInfoServiceFactory> factories ABSL_GUARDED_BY(mu);
};

Registry& Factories() {
  static auto* r = new Registry;
  return *r;
}

void RegisterBuiltins() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterPathInfoScheme(
        "memory",
        [](const castore::ServiceAddress&) -> absl::StatusOr<std::shared_ptr<PathInfoService>> {
          return std::make_shared<MemoryPathInfoService>();
        });
    RegisterPathInfoScheme(
        "lmdb",
        [](const castore::ServiceAddress& a) -> absl::StatusOr<std::shared_ptr<PathInfoService>> {
          if (a.path.empty() || a.path[0] != '/') {
            return absl::InvalidArgumentError(absl::StrCat(
                "address '", a.original, "' needs an absolute path: expected lmdb:///path"));
          }
          return LmdbPathInfoService::Open(a.path);
        });
  });
}

}  // namespace

void RegisterPathInfoScheme(const std::string& scheme, PathInfoServiceFactory factory) {
  castor::MutexLock lock(&Factories().mu);
  Factories().factories[scheme] = std::move(factory);
}

absl::StatusOr<std::shared_ptr<PathInfoService>> OpenPathInfoService(std::string_view addr) {
  RegisterBuiltins();
  ASSIGN_OR_RETURN(castore::ServiceAddress parsed, castore::ServiceAddress::Parse(addr));
  PathInfoServiceFactory factory;
  std::vector<std::string> known;
  {
    castor::MutexLock lock(&Factories().mu);
    auto it = Factories().factories.find(parsed.scheme);
    if (it != Factories().factories.end()) factory = it->second;
    for (const auto& [scheme, f] : Factories().factories) known.push_back(scheme + "://");
  }
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported path info service address '",
                                                   ToAbslView(addr), "': scheme '", parsed.scheme,
                                                   "' is not one of ", absl::StrJoin(known, ", ")));
  }
  auto service = factory(parsed);
  if (!service.ok()) {
    return Annotate(service.status(),
                    absl::StrCat("opening path info service '", ToAbslView(addr), "'"));
  }
  return service;
}

std::string EmbeddedPathInfoAddress(const std::string& store_dir) {
  // The same environment as the roots (castore::EmbeddedStoreAddresses).
  return castore::EmbeddedStoreAddresses(store_dir).root;
}

}  // namespace castor::nix
