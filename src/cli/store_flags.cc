#include "cli/store_flags.h"

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
  return castore::OpenServices(Addresses());
}

}  // namespace castor::cli
