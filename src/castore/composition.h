// Builds services from address strings (docs/design.md, Composition):
//   memory://            in-process
//   file:///path         blobs as files (BlobService)
//   lmdb:///path         directories / roots in LMDB
//   grpc+unix:///sock, grpc+http://host:port   a remote daemon (rpc/)
//   s3://bucket/prefix?endpoint=URL             object storage (s3store/)
// Backends above castore register a factory per scheme; stores/stores.h
// opens addresses with every backend registered (what the CLI uses).
// Registration happens at start-up (before threads); opening is thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/roots/root_service.h"

namespace castor::castore {

// A parsed address: scheme "://" rest. `path` is everything after "://"
// (for file:// and lmdb:// an absolute path; for grpc+http host:port).
struct ServiceAddress {
  std::string original;
  std::string scheme;
  std::string path;
  static absl::StatusOr<ServiceAddress> Parse(std::string_view addr);
};

using BlobServiceFactory =
    std::function<absl::StatusOr<std::shared_ptr<BlobService>>(const ServiceAddress&)>;
using DirectoryServiceFactory =
    std::function<absl::StatusOr<std::shared_ptr<DirectoryService>>(const ServiceAddress&)>;
using RootServiceFactory =
    std::function<absl::StatusOr<std::shared_ptr<RootService>>(const ServiceAddress&)>;

void RegisterBlobScheme(const std::string& scheme, BlobServiceFactory factory);
void RegisterDirectoryScheme(const std::string& scheme, DirectoryServiceFactory factory);
void RegisterRootScheme(const std::string& scheme, RootServiceFactory factory);

// Open a service from an address. Unknown scheme, missing path or a backend
// that cannot open give InvalidArgument/Unavailable naming the address.
absl::StatusOr<std::shared_ptr<BlobService>> OpenBlobService(std::string_view addr);
absl::StatusOr<std::shared_ptr<DirectoryService>> OpenDirectoryService(std::string_view addr);
absl::StatusOr<std::shared_ptr<RootService>> OpenRootService(std::string_view addr);

// The three addresses of a store.
struct StoreAddresses {
  std::string blob;
  std::string directory;
  std::string root;
};

// The embedded default store in DIR: file://DIR/blobs, lmdb://DIR/meta (both
// directories and roots).
StoreAddresses EmbeddedStoreAddresses(const std::string& dir);

// $CASTOR_STORE, else $XDG_DATA_HOME/castor, else ~/.local/share/castor.
std::string DefaultStoreDir();

struct Services {
  std::shared_ptr<BlobService> blobs;
  std::shared_ptr<DirectoryService> directories;
  std::shared_ptr<RootService> roots;
};

absl::StatusOr<Services> OpenServices(const StoreAddresses& addrs);

}  // namespace castor::castore
