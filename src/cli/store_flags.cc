#include "cli/store_flags.h"

#include "castore/blob/caching_blob_service.h"
#include "castore/directory/caching_directory_service.h"
#include "castore/status_macros.h"

namespace castor::cli {

void StoreFlags::AddTo(CLI::App& cmd) {
  cmd.add_option("--store", store,
                 "Store directory (default: $CASTOR_STORE, else $XDG_DATA_HOME/castor, "
                 "else ~/.local/share/castor)");
  cmd.add_option("--blob-service-addr", blob_addr,
                 "Blob service address, overriding --store (memory://, file:///path, "
                 "grpc+unix:///sock, grpc+http://host:port)");
  cmd.add_option("--directory-service-addr", directory_addr,
                 "Directory service address, overriding --store (memory://, lmdb:///path, "
                 "grpc+...)");
  cmd.add_option("--root-service-addr", root_addr,
                 "Root service address, overriding --store (memory://, lmdb:///path, grpc+...)");
  cmd.add_option("--cache", cache,
                 "Keep blobs and directories read from a remote store (grpc+...) in a local "
                 "store in DIR, so a second read stays local")
      ->type_name("DIR");
}

castore::StoreAddresses StoreFlags::Addresses() const {
  castore::StoreAddresses addrs =
      castore::EmbeddedStoreAddresses(store.empty() ? castore::DefaultStoreDir() : store);
  if (!blob_addr.empty()) addrs.blob = blob_addr;
  if (!directory_addr.empty()) addrs.directory = directory_addr;
  if (!root_addr.empty()) addrs.root = root_addr;
  return addrs;
}

absl::StatusOr<castore::Services> StoreFlags::Open() const {
  ASSIGN_OR_RETURN(castore::Services services, castore::OpenServices(Addresses()));
  if (cache.empty()) return services;
  castore::StoreAddresses local = castore::EmbeddedStoreAddresses(cache);
  ASSIGN_OR_RETURN(auto blobs, castore::OpenBlobService(local.blob));
  ASSIGN_OR_RETURN(castore::ServiceAddress dirs_addr,
                   castore::ServiceAddress::Parse(local.directory));
  ASSIGN_OR_RETURN(auto dirs, castore::OpenLmdbDirectoryCacheStore(dirs_addr.path));
  services.blobs = std::make_shared<castore::CachingBlobService>(blobs, services.blobs);
  services.directories = std::make_shared<castore::CachingDirectoryService>(
      dirs, services.directories, castore::CachingDirectoryOptions{.prefetch = kCachePrefetch});
  return services;
}

}  // namespace castor::cli
