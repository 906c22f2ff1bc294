// Instantiates the three conformance suites for every castore backend.
#include <latch>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

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

// The importer counts "newly stored" blobs by what Close reports; with
// several workers writing the same content at once, exactly one may count it.
TEST(MemoryBlobServiceTest, ConcurrentPrehashedWritersOfOneBlobStoreItOnce) {
  MemoryBlobService service;
  std::string data(300000, 'x');
  B3Digest digest = B3Digest::Of(std::string_view(data));
  std::vector<absl::StatusOr<bool>> results(8, false);
  std::latch all_written(static_cast<std::ptrdiff_t>(results.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      auto w = service.OpenPrehashedWrite(data.size());
      absl::Status s = w.ok() ? (*w)->Write(std::span<const uint8_t>(
                                    reinterpret_cast<const uint8_t*>(data.data()), data.size()))
                              : w.status();
      if (!s.ok()) {
        results[i] = s;
        all_written.count_down();
        return;
      }
      all_written.arrive_and_wait();  // every Close at once: the race at its widest
      results[i] = (*w)->Close(digest);
    });
  }
  for (auto& t : threads) t.join();
  int stored = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    stored += *r ? 1 : 0;
  }
  EXPECT_EQ(stored, 1);
  EXPECT_TRUE(VerifyBlob(service, digest).ok());
}

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
