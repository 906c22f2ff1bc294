// The castore conformance suites run against the gRPC client backends, each
// test talking to its own in-process daemon (over memory:// services, and
// over the file:// + lmdb:// backends) on a unix socket.
#include <memory>

#include "castore/blob/blob_service_conformance.h"
#include "castore/blob/local_blob_service.h"
#include "castore/directory/directory_service_conformance.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/roots/lmdb_root_service.h"
#include "castore/roots/root_service_conformance.h"
#include "rpc/testing.h"

namespace castor::castore {
namespace {

using rpc::testing::LocalDaemon;

// A daemon over persistent backends in its own temporary directory.
castore::Services PersistentBacking(const std::string& dir) {
  auto blobs = LocalBlobService::Open(dir + "/blobs");
  auto dirs = LmdbDirectoryService::Open(dir + "/meta");
  auto roots = LmdbRootService::Open(dir + "/meta");
  CASTOR_CHECK(blobs.ok() && dirs.ok() && roots.ok());
  return {std::shared_ptr<BlobService>(*blobs), std::shared_ptr<DirectoryService>(*dirs),
          std::shared_ptr<RootService>(*roots)};
}

// The client of `pick`, kept alive together with its daemon (and the
// daemon's store directory).
template <typename Service>
std::shared_ptr<Service> Serve(bool persistent, std::shared_ptr<Service> castore::Services::*pick) {
  struct Holder {
    std::unique_ptr<testing::TempDir> dir;
    std::unique_ptr<LocalDaemon> daemon;
    std::shared_ptr<Service> client;
  };
  auto h = std::make_shared<Holder>();
  // The RootService suite stores roots that point at nothing, which the
  // interface allows; the daemon's extra referent check (on by default,
  // tested in rpc_test) is off here.
  rpc::DaemonOptions options;
  options.handlers.check_root_referents = false;
  castore::Services backing{std::make_shared<MemoryBlobService>(),
                            std::make_shared<MemoryDirectoryService>(),
                            std::make_shared<MemoryRootService>()};
  if (persistent) {
    h->dir = std::make_unique<testing::TempDir>("rpc-store");
    backing = PersistentBacking(h->dir->path());
  }
  h->daemon = std::make_unique<LocalDaemon>(std::move(backing), options);
  h->client = h->daemon->Clients().*pick;
  Service* raw = h->client.get();
  return std::shared_ptr<Service>(std::move(h), raw);
}

INSTANTIATE_TEST_SUITE_P(
    Grpc, BlobServiceConformance,
    ::testing::Values(BlobBackend{"grpc_memory", [] { return Serve(false, &Services::blobs); }},
                      BlobBackend{"grpc_file", [] { return Serve(true, &Services::blobs); }}),
    BackendName);

INSTANTIATE_TEST_SUITE_P(
    Grpc, DirectoryServiceConformance,
    ::testing::Values(
        DirectoryBackend{"grpc_memory", [] { return Serve(false, &Services::directories); }},
        DirectoryBackend{"grpc_lmdb", [] { return Serve(true, &Services::directories); }}),
    BackendName);

INSTANTIATE_TEST_SUITE_P(
    Grpc, RootServiceConformance,
    ::testing::Values(RootBackend{"grpc_memory", [] { return Serve(false, &Services::roots); }},
                      RootBackend{"grpc_lmdb", [] { return Serve(true, &Services::roots); }}),
    BackendName);

}  // namespace
}  // namespace castor::castore
