// Instantiates the three conformance suites for every castore backend.
#include <memory>

#include "castore/blob/blob_service_conformance.h"
#include "castore/blob/local_blob_service.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/directory_service_conformance.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/lmdb_root_service.h"
#include "castore/roots/memory_root_service.h"
#include "castore/roots/root_service_conformance.h"
#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, BlobServiceConformance,
                         ::testing::Values(BlobBackend{
                             "memory", [] { return std::make_shared<MemoryBlobService>(); }}),
                         BackendName);

std::shared_ptr<BlobService> MakeLocalBlobService() {
  return testing::InTempDir<BlobService>("blobs", [](const std::string& dir) {
    auto s = LocalBlobService::Open(dir + "/store", {.verify_prehashed = true});
    CASTOR_CHECK(s.ok());
    return std::shared_ptr<BlobService>(*s);
  });
}

INSTANTIATE_TEST_SUITE_P(Local, BlobServiceConformance,
                         ::testing::Values(BlobBackend{"file", MakeLocalBlobService}), BackendName);

INSTANTIATE_TEST_SUITE_P(Memory, DirectoryServiceConformance,
                         ::testing::Values(DirectoryBackend{
                             "memory", [] { return std::make_shared<MemoryDirectoryService>(); }}),
                         BackendName);

INSTANTIATE_TEST_SUITE_P(Memory, RootServiceConformance,
                         ::testing::Values(RootBackend{
                             "memory", [] { return std::make_shared<MemoryRootService>(); }}),
                         BackendName);

std::shared_ptr<DirectoryService> MakeLmdbDirectoryService() {
  return testing::InTempDir<DirectoryService>("lmdb-dirs", [](const std::string& dir) {
    auto s = LmdbDirectoryService::Open(dir + "/meta");
    CASTOR_CHECK(s.ok());
    return std::shared_ptr<DirectoryService>(*s);
  });
}

INSTANTIATE_TEST_SUITE_P(Lmdb, DirectoryServiceConformance,
                         ::testing::Values(DirectoryBackend{"lmdb", MakeLmdbDirectoryService}),
                         BackendName);

std::shared_ptr<RootService> MakeLmdbRootService() {
  return testing::InTempDir<RootService>("lmdb-roots", [](const std::string& dir) {
    auto s = LmdbRootService::Open(dir + "/meta");
    CASTOR_CHECK(s.ok());
    return std::shared_ptr<RootService>(*s);
  });
}

INSTANTIATE_TEST_SUITE_P(Lmdb, RootServiceConformance,
                         ::testing::Values(RootBackend{"lmdb", MakeLmdbRootService}), BackendName);

}  // namespace
}  // namespace castor::castore
