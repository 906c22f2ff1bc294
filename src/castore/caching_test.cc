// The caching decorators: the conformance suites over a memory cache in
// front of a memory "remote", and what a cache is for (a second read stays
// local, a lying remote is not cached).
#include <memory>

#include "castore/blob/blob_service_conformance.h"
#include "castore/blob/caching_blob_service.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/caching_directory_service.h"
#include "castore/directory/directory_service_conformance.h"
#include "castore/directory/memory_directory_service.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

INSTANTIATE_TEST_SUITE_P(Caching, BlobServiceConformance,
                         ::testing::Values(BlobBackend{
                             "caching_memory",
                             [] {
                               return std::make_shared<CachingBlobService>(
                                   std::make_shared<MemoryBlobService>(),
                                   std::make_shared<MemoryBlobService>());
                             }}),
                         BackendName);

INSTANTIATE_TEST_SUITE_P(Caching, DirectoryServiceConformance,
                         ::testing::Values(DirectoryBackend{
                             "caching_memory",
                             [] {
                               return std::make_shared<CachingDirectoryService>(
                                   std::make_shared<MemoryDirectoryService>(),
                                   std::make_shared<MemoryDirectoryService>());
                             }}),
                         BackendName);

TEST(CachingBlobService, SecondReadIsServedLocally) {
  auto local = std::make_shared<MemoryBlobService>();
  auto remote = std::make_shared<MemoryBlobService>();
  CachingBlobService cache(local, remote);
  std::string data(3 << 20, 'q');
  B3Digest d = *PutBlob(*remote, data);
  EXPECT_FALSE(*local->Has(d));
  auto first = ReadBlob(cache, d);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_TRUE(**first == data);
  EXPECT_TRUE(*local->Has(d));
  ASSERT_TRUE(remote->Delete(d).ok());  // the remote forgets it: the cache still serves
  auto second = ReadBlob(cache, d);
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_TRUE(**second == data);
  EXPECT_TRUE(*cache.Has(d));
}

TEST(CachingBlobService, WritesGoToTheRemote) {
  auto local = std::make_shared<MemoryBlobService>();
  auto remote = std::make_shared<MemoryBlobService>();
  CachingBlobService cache(local, remote);
  B3Digest d = *PutBlob(cache, "written");
  EXPECT_TRUE(*remote->Has(d));
  EXPECT_FALSE(*local->Has(d));
}

// A remote that answers every read with the bytes of another blob.
class LyingBlobService : public MemoryBlobService {
 public:
  B3Digest other;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest&) override {
    return MemoryBlobService::OpenRead(other);
  }
};

TEST(CachingBlobService, ALyingRemoteIsDataLossAndNotCachedUnderTheDigestAsked) {
  auto local = std::make_shared<MemoryBlobService>();
  auto remote = std::make_shared<LyingBlobService>();
  remote->other = *PutBlob(*remote, "other bytes");
  CachingBlobService cache(local, remote);
  B3Digest asked = B3Digest::Of(std::string_view("wanted"));
  EXPECT_EQ(cache.OpenRead(asked).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(*local->Has(asked));
}

Entry DirEntry(std::string_view name, const Directory& d) {
  return {*PathComponent::Create(name), DirectoryNode{d.digest(), d.size()}};
}

TEST(CachingDirectoryService, AMissFetchesTheClosureOnceAndStoresItLeavesFirst) {
  // A diamond where breadth-first order is not leaves-first reversed:
  // root -> {a, b}; a -> d; b -> c; c -> d.
  Directory d = *Directory::Create(
      {{*PathComponent::Create("f"), FileNode{EmptyDigest(), 0, false}}});
  Directory c = *Directory::Create({DirEntry("d", d)});
  Directory a = *Directory::Create(
      {DirEntry("d", d), {*PathComponent::Create("x"), FileNode{EmptyDigest(), 0, false}}});
  Directory b = *Directory::Create({DirEntry("c", c)});
  Directory root = *Directory::Create({DirEntry("a", a), DirEntry("b", b)});
  auto local = std::make_shared<MemoryDirectoryService>();
  auto remote = std::make_shared<MemoryDirectoryService>();
  auto putter = *remote->OpenPutter();
  for (const Directory* x : {&d, &c, &a, &b, &root}) ASSERT_TRUE(putter->Put(*x).ok());
  ASSERT_TRUE(putter->Close().ok());

  CachingDirectoryService cache(local, remote);
  auto got = cache.Get(root.digest());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, root);
  for (const Directory* x : {&d, &c, &a, &b, &root}) {
    EXPECT_TRUE(local->Get(x->digest())->has_value());
  }
  // The remote forgets everything; the cache serves the whole walk.
  std::vector<B3Digest> all{d.digest(), c.digest(), a.digest(), b.digest(), root.digest()};
  ASSERT_TRUE(remote->Delete(all).ok());
  EXPECT_TRUE(cache.Get(c.digest())->has_value());
  int n = 0;
  ASSERT_TRUE(cache.GetRecursive(root.digest(), [&](const Directory&) {
    ++n;
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(n, 5);
  EXPECT_FALSE(cache.Get(B3Digest::Of(std::string_view("x")))->has_value());
}

}  // namespace
}  // namespace castor::castore
