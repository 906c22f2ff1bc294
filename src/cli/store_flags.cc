#include "cli/store_flags.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/match.h"
#include "base/posix_io.h"
#include "base/status.h"
#include "castore/blob/bounded_blob_store.h"
#include "castore/blob/caching_blob_service.h"
#include "castore/directory/caching_directory_service.h"
#include "nix/pathinfo/composition.h"
#include "rpc/call_watchdog.h"
#include "rpc/channel.h"
#include "stores/stores.h"

namespace castor::cli {

void StoreFlags::AddTo(CLI::App& cmd) {
  cmd.add_option("--store", store,
                 "Store directory (default: $CASTOR_STORE, else $XDG_DATA_HOME/castor, "
                 "else ~/.local/share/castor)");
  cmd.add_option("--blob-service-addr", blob_addr,
                 "Blob service address, overriding --store (memory://, file:///path, "
                 "grpc+unix:///sock, grpc+http://host:port, s3://bucket/prefix?endpoint=URL)");
  cmd.add_option("--directory-service-addr", directory_addr,
                 "Directory service address, overriding --store (memory://, lmdb:///path, "
                 "grpc+..., s3://...)");
  cmd.add_option("--root-service-addr", root_addr,
                 "Root service address, overriding --store (memory://, lmdb:///path, grpc+..., "
                 "s3://...)");
  cmd.add_option("--path-info-service-addr", path_info_addr,
                 "Nix path info service address, overriding --store (memory://, lmdb:///path, "
                 "grpc+unix:///sock, grpc+http(s)://host:port, s3://...)");
  CLI::Option* cache_option =
      cmd.add_option("--cache", cache,
                     "Keep blobs and directories read from a remote store (grpc+..., s3://) in a "
                     "local store in DIR, so a second read stays local")
          ->type_name("DIR");
  cmd.add_option("--cache-size", cache_size,
                 "Most bytes of file data --cache keeps: past it, what was used least "
                 "recently is dropped (files being read are kept). Units: KiB, MiB, GiB, ... "
                 "(default: no bound; a full disk makes room and the read goes on)")
      ->transform(CLI::AsSizeValue(false))
      ->type_name("BYTES")
      ->needs(cache_option);
  cmd.add_option("--rpc-idle-timeout", rpc_idle_timeout,
                 "Seconds a stream from a daemon (grpc+...) may go without a message before it "
                 "is cancelled and the read fails (EIO in a mount)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--rpc-timeout", rpc_timeout,
                 "Seconds a daemon (grpc+...) gets to answer a single request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--tls-ca", tls_ca,
                 "PEM file of the CA certificates that grpc+https:// daemons are checked "
                 "against (default: the system's roots)")
      ->type_name("FILE");
}

castore::StoreAddresses StoreFlags::Addresses() const {
  castore::StoreAddresses addrs =
      castore::EmbeddedStoreAddresses(store.empty() ? castore::DefaultStoreDir() : store);
  if (!blob_addr.empty()) addrs.blob = blob_addr;
  if (!directory_addr.empty()) addrs.directory = directory_addr;
  if (!root_addr.empty()) addrs.root = root_addr;
  return addrs;
}

namespace {

bool IsRemote(std::string_view addr) { return absl::StartsWith(ToAbslView(addr), "grpc+"); }

}  // namespace

std::string StoreFlags::PathInfoAddress() const {
  if (!path_info_addr.empty()) return path_info_addr;
  // Path infos live with the roots: the embedded store's lmdb://DIR/meta
  // (nix::EmbeddedPathInfoAddress), or the daemon that serves them.
  std::string roots = Addresses().root;
  if (absl::StartsWith(roots, "lmdb://") || IsRemote(roots)) return roots;
  return "memory://";
}

namespace {

// Opens the services with the path info service beside them.
absl::StatusOr<std::pair<castore::Services, std::shared_ptr<nix::PathInfoService>>> OpenBoth(
    const StoreFlags& flags, const std::function<absl::StatusOr<castore::Services>()>& open) {
  ASSIGN_OR_RETURN(castore::Services services, open());
  ASSIGN_OR_RETURN(std::shared_ptr<nix::PathInfoService> path_infos,
                   stores::OpenPathInfoService(flags.PathInfoAddress()));
  if (!IsRemote(flags.Addresses().root) && !IsRemote(flags.PathInfoAddress())) {
    services.roots = std::make_shared<nix::PathInfoBoundRootService>(services.roots, path_infos);
  }
  return std::make_pair(std::move(services), std::move(path_infos));
}

}  // namespace

absl::StatusOr<castore::Services> StoreFlags::Open() const {
  ASSIGN_OR_RETURN(auto both, OpenBoth(*this, [this] { return OpenCastore(); }));
  return std::move(both.first);
}

absl::StatusOr<std::shared_ptr<nix::NixStore>> StoreFlags::OpenNixStore() const {
  ASSIGN_OR_RETURN(auto both, OpenBoth(*this, [this] { return OpenCastore(); }));
  return std::make_shared<nix::NixStore>(std::move(both.first), std::move(both.second));
}

absl::StatusOr<castore::Services> StoreFlags::OpenCastore() const {
  // At least a millisecond, at most a few years (no overflow).
  auto ms = [](double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(std::clamp(seconds, 1e-3, 1e8) * 1000));
  };
  rpc::SetDefaultCallTimeouts({.idle = ms(rpc_idle_timeout), .unary = ms(rpc_timeout)});
  if (!tls_ca.empty()) {
    ASSIGN_OR_RETURN(std::string roots, rpc::ReadPemFile(tls_ca, "--tls-ca"));
    rpc::SetClientTlsRoots(std::move(roots));
  }
  ASSIGN_OR_RETURN(castore::Services services, stores::OpenServices(Addresses()));
  if (cache.empty()) return services;
  castore::StoreAddresses local = castore::EmbeddedStoreAddresses(cache);
  ASSIGN_OR_RETURN(auto local_blobs, stores::OpenBlobService(local.blob));
  ASSIGN_OR_RETURN(auto blobs, castore::BoundedBlobStore::Open(local_blobs, cache_size));
  ASSIGN_OR_RETURN(castore::ServiceAddress dirs_addr,
                   castore::ServiceAddress::Parse(local.directory));
  ASSIGN_OR_RETURN(auto dirs, castore::OpenLmdbDirectoryCacheStore(dirs_addr.path));
  ASSIGN_OR_RETURN(std::shared_ptr<castore::LayoutStore> layouts,
                   castore::LayoutStore::Open(JoinPath(cache, "layouts")));
  services.blobs =
      std::make_shared<castore::CachingBlobService>(blobs, services.blobs, std::move(layouts));
  services.directories = std::make_shared<castore::CachingDirectoryService>(
      dirs, services.directories, castore::CachingDirectoryOptions{.prefetch = kCachePrefetch});
  return services;
}

}  // namespace castor::cli
