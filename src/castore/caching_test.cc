// The caching decorators: the conformance suites over a memory cache in
// front of a memory "remote", and what a cache is for (a second read stays
// local, a lying remote is not cached).
#include <chrono>
#include <memory>
#include <thread>

#include "castore/blob/blob_service_conformance.h"
#include "castore/blob/bounded_blob_store.h"
#include "castore/blob/caching_blob_service.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/caching_directory_service.h"
#include "castore/directory/directory_service_conformance.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/lmdb_env.h"
#include "castore/testing/counting_services.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Caching, BlobServiceConformance,
    ::testing::Values(BlobBackend{"caching_memory",
                                  [] {
                                    return std::make_shared<CachingBlobService>(
                                        std::make_shared<MemoryBlobService>(),
                                        std::make_shared<MemoryBlobService>());
                                  }},
                      BlobBackend{"bounded_memory",
                                  []() -> std::shared_ptr<BlobService> {
                                    return *BoundedBlobStore::Open(
                                        std::make_shared<MemoryBlobService>(), 64 << 20);
                                  }}),
    BackendName);

INSTANTIATE_TEST_SUITE_P(Caching, DirectoryServiceConformance,
                         ::testing::Values(DirectoryBackend{
                             "caching_memory",
                             [] {
                               return std::make_shared<CachingDirectoryService>(
                                   NewMemoryDirectoryCacheStore(),
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

// A diamond where breadth-first order is not leaves-first reversed:
// root -> {a, b}; a -> d; b -> c; c -> d.
struct Diamond {
  Diamond() {
    d = *Directory::Create({{*PathComponent::Create("f"), FileNode{EmptyDigest(), 0, false}}});
    c = *Directory::Create({DirEntry("d", d)});
    a = *Directory::Create(
        {DirEntry("d", d), {*PathComponent::Create("x"), FileNode{EmptyDigest(), 0, false}}});
    b = *Directory::Create({DirEntry("c", c)});
    root = *Directory::Create({DirEntry("a", a), DirEntry("b", b)});
    auto memory = std::make_shared<MemoryDirectoryService>();
    auto putter = *memory->OpenPutter();
    for (const Directory* x : {&d, &c, &a, &b, &root}) EXPECT_TRUE(putter->Put(*x).ok());
    EXPECT_TRUE(putter->Close().ok());
    remote = std::make_shared<testing::CountingDirectoryService>(memory);
  }
  std::vector<B3Digest> All() const {
    return {d.digest(), c.digest(), a.digest(), b.digest(), root.digest()};
  }
  Directory d, c, a, b, root;
  std::shared_ptr<testing::CountingDirectoryService> remote;
};

// --- The cache's size bound (BoundedBlobStore under CachingBlobService) ---

// Blobs of 1 MiB, each different, in a remote store.
struct BoundFixture {
  explicit BoundFixture(uint64_t bound, std::shared_ptr<MemoryBlobService> disk = nullptr)
      : local(disk ? disk : std::make_shared<MemoryBlobService>()) {
    for (int i = 0; i < 6; ++i) {
      data.push_back(std::string(1 << 20, static_cast<char>('a' + i)));
      digests.push_back(*PutBlob(*remote, data.back()));
    }
    bounded = *BoundedBlobStore::Open(local, bound);
    cache = std::make_shared<CachingBlobService>(bounded, remote);
  }
  // Reads blob i through the cache and checks its bytes.
  void Read(int i) {
    auto got = ReadBlob(*cache, digests[i]);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_TRUE(**got == data[i]) << i;
  }
  bool Cached(int i) { return *local->Has(digests[i]); }

  std::shared_ptr<MemoryBlobService> remote = std::make_shared<MemoryBlobService>();
  std::shared_ptr<MemoryBlobService> local;
  std::shared_ptr<BoundedBlobStore> bounded;
  std::shared_ptr<CachingBlobService> cache;
  std::vector<std::string> data;
  std::vector<B3Digest> digests;
};

TEST(CacheBound, HoldsAtMostTheBoundDroppingTheLeastRecentlyUsedFirst) {
  BoundFixture f(3 << 20);
  f.Read(0);
  f.Read(1);
  f.Read(2);
  f.Read(0);  // 1 is now the least recently used
  f.Read(3);
  EXPECT_TRUE(f.Cached(0));
  EXPECT_FALSE(f.Cached(1));
  EXPECT_TRUE(f.Cached(2));
  EXPECT_TRUE(f.Cached(3));
  EXPECT_LE(f.bounded->used_bytes(), uint64_t{3} << 20);
  EXPECT_EQ(f.bounded->evicted(), 1u);
  f.Read(1);  // evicted blobs come back from the remote
  EXPECT_TRUE(f.Cached(1));
  EXPECT_FALSE(f.Cached(2));
}

TEST(CacheBound, ABlobBiggerThanTheBoundIsServedButNotKeptAndEvictsNothing) {
  BoundFixture f((5 << 20) / 2);
  std::string big(3 << 20, 'B');
  B3Digest d = *PutBlob(*f.remote, big);
  f.Read(0);
  f.Read(1);
  auto got = ReadBlob(*f.cache, d);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_TRUE(**got == big);
  EXPECT_FALSE(*f.local->Has(d));
  EXPECT_TRUE(f.Cached(0));
  EXPECT_TRUE(f.Cached(1));
  EXPECT_EQ(f.bounded->evicted(), 0u);
}

TEST(CacheBound, ABlobBeingReadIsNotEvictedUntilItsReaderCloses) {
  BoundFixture f(2 << 20);
  auto open = f.cache->OpenRead(f.digests[0]);  // a file held open through a mount
  ASSERT_TRUE(open.ok() && *open != nullptr);
  for (int i = 1; i <= 3; ++i) f.Read(i);
  EXPECT_TRUE(f.Cached(0));
  std::string back(1 << 20, '\0');
  auto n = (*open)->ReadAt(0, std::span(reinterpret_cast<uint8_t*>(back.data()), back.size()));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(back == f.data[0]);
  open->reset();
  f.Read(4);
  EXPECT_FALSE(f.Cached(0));
  EXPECT_LE(f.bounded->used_bytes(), uint64_t{2} << 20);
}

// A cache disk of `capacity` bytes: a write past it fails the way ENOSPC
// does (ResourceExhausted).
class SmallDisk : public MemoryBlobService {
 public:
  explicit SmallDisk(uint64_t capacity) : capacity_(capacity) {}
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override {
    ASSIGN_OR_RETURN(auto inner, MemoryBlobService::OpenWrite());
    return std::make_unique<Writer>(*this, std::move(inner));
  }
  uint64_t Used() {
    uint64_t used = 0;
    EXPECT_TRUE(ForEach([&](const B3Digest&, uint64_t size) {
                  used += size;
                  return absl::OkStatus();
                }).ok());
    return used;
  }

 private:
  class Writer : public BlobWriter {
   public:
    Writer(SmallDisk& disk, std::unique_ptr<BlobWriter> inner)
        : disk_(disk), inner_(std::move(inner)) {}
    absl::Status Write(std::span<const uint8_t> data) override {
      if (disk_.Used() + inner_->bytes_written() + data.size() > disk_.capacity_) {
        return absl::ResourceExhaustedError("write: No space left on device");
      }
      return inner_->Write(data);
    }
    absl::StatusOr<B3Digest> Close() override { return inner_->Close(); }
    uint64_t bytes_written() const override { return inner_->bytes_written(); }

   private:
    SmallDisk& disk_;
    std::unique_ptr<BlobWriter> inner_;
  };
  const uint64_t capacity_;
};

TEST(CacheBound, AFullDiskEvictsAndTheReadIsStillCached) {
  auto disk = std::make_shared<SmallDisk>((5 << 20) / 2);
  BoundFixture f(UINT64_MAX, disk);  // no bound: only the disk limits it
  f.Read(0);
  f.Read(1);
  f.Read(2);  // does not fit: the cache makes room and stores it
  EXPECT_TRUE(f.Cached(2));
  EXPECT_FALSE(f.Cached(0));
  EXPECT_GE(f.bounded->evicted(), 1u);
  EXPECT_LE(disk->Used(), uint64_t{5 << 20} / 2);
}

TEST(CacheBound, WhatACacheHoldsAtOpenCountsAndIsCutToTheBound) {
  auto local = std::make_shared<MemoryBlobService>();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(PutBlob(*local, std::string(1 << 20, 'k' + i)).ok());
  auto bounded = BoundedBlobStore::Open(local, 2 << 20);
  ASSERT_TRUE(bounded.ok()) << bounded.status();
  EXPECT_EQ((*bounded)->used_bytes(), uint64_t{2} << 20);
  EXPECT_EQ((*bounded)->evicted(), 2u);
  uint64_t left = 0;
  ASSERT_TRUE(local
                  ->ForEach([&](const B3Digest&, uint64_t size) {
                    left += size;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(left, uint64_t{2} << 20);
}

TEST(CachingDirectoryService, AMissFetchesOnlyTheDirectoryAskedFor) {
  Diamond t;
  auto local = NewMemoryDirectoryCacheStore();
  CachingDirectoryService cache(local, t.remote);
  auto got = cache.Get(t.root.digest());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, t.root);
  EXPECT_EQ(t.remote->directories_sent(), 1u);
  EXPECT_EQ(t.remote->recursive_gets(), 0u);
  cache.WaitIdle();  // written by the background writer
  EXPECT_TRUE(local->Get(t.root.digest())->has_value());
  EXPECT_FALSE(local->Get(t.a.digest())->has_value());
  // A second read stays local.
  EXPECT_EQ(*cache.Get(t.root.digest()), t.root);
  EXPECT_EQ(t.remote->gets(), 1u);
  EXPECT_FALSE(cache.Get(B3Digest::Of(std::string_view("x")))->has_value());
}

TEST(CachingDirectoryService, GetRecursiveFetchesEachMissingSubtreeOnceThenStaysLocal) {
  Diamond t;
  CachingDirectoryService cache(NewMemoryDirectoryCacheStore(), t.remote);
  ASSERT_TRUE(cache.Get(t.root.digest()).ok());
  ASSERT_TRUE(cache.Get(t.b.digest()).ok());
  auto walk = [&] {
    std::vector<B3Digest> order;
    absl::Status s = cache.GetRecursive(t.root.digest(), [&](const Directory& d) {
      order.push_back(d.digest());
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return order;
  };
  // Breadth-first, each once: root, a, b, then d (below a) and c (below b).
  std::vector<B3Digest> want{t.root.digest(), t.a.digest(), t.b.digest(), t.d.digest(),
                             t.c.digest()};
  EXPECT_EQ(walk(), want);
  // root and b were cached; the subtrees of a and c were fetched, one
  // recursive Get each.
  EXPECT_EQ(t.remote->recursive_gets(), 2u);
  // Now the whole closure is cached: the remote may forget it.
  t.remote->Reset();
  ASSERT_TRUE(t.remote->Delete(t.All()).ok());
  EXPECT_EQ(walk(), want);
  EXPECT_EQ(t.remote->gets() + t.remote->recursive_gets(), 0u);
  EXPECT_EQ(cache
                .GetRecursive(B3Digest::Of(std::string_view("x")),
                              [](const Directory&) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kNotFound);
}

// A remote that answers every Get with another Directory.
class LyingDirectoryService : public MemoryDirectoryService {
 public:
  Directory other;
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest&) override { return other; }
};

TEST(CachingDirectoryService, ALyingRemoteIsDataLossAndNothingIsCached) {
  auto remote = std::make_shared<LyingDirectoryService>();
  remote->other =
      *Directory::Create({{*PathComponent::Create("other"), FileNode{EmptyDigest(), 0, false}}});
  auto local = NewMemoryDirectoryCacheStore();
  CachingDirectoryService cache(local, remote);
  B3Digest asked = B3Digest::Of(std::string_view("wanted"));
  EXPECT_EQ(cache.Get(asked).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(local->Get(asked)->has_value());
  EXPECT_FALSE(local->Get(remote->other.digest())->has_value());
}

// The cache keeps Directories whose children it lacks: they live in their
// own LMDB database, so a store in the same environment never takes them
// for stored (its Put would accept a parent with a missing closure).
TEST(CachingDirectoryService, LmdbCacheKeepsPartialClosuresApartFromTheStore) {
  testing::TempDir dir("dircache");
  Diamond t;
  auto cache_store = OpenLmdbDirectoryCacheStore(dir.path() + "/meta");
  ASSERT_TRUE(cache_store.ok()) << cache_store.status();
  ASSERT_TRUE((*cache_store)->Insert(std::span(&t.b, 1)).ok());  // c is not cached
  EXPECT_EQ(*(*cache_store)->Get(t.b.digest()), t.b);
  auto store = LmdbDirectoryService::Open(dir.path() + "/meta");
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE((*store)->Get(t.b.digest())->has_value());
  Directory above = *Directory::Create({DirEntry("b", t.b)});
  EXPECT_EQ((*store)->Put(above).status().code(), absl::StatusCode::kFailedPrecondition);
}

// What comes out of the cache is checked too: a cached value that does not
// hash to its key is not served; it is fetched again and replaced.
TEST(CachingDirectoryService, DamagedCacheEntryIsFetchedAgainAndReplaced) {
  testing::TempDir dir("dircache");
  Diamond t;
  auto local = OpenLmdbDirectoryCacheStore(dir.path() + "/meta");
  ASSERT_TRUE(local.ok());
  {
    auto env = LmdbEnv::Open(dir.path() + "/meta");
    ASSERT_TRUE(env.ok());
    auto dbi = (*env)->Db("cached_directories");
    ASSERT_TRUE(dbi.ok());
    auto txn = LmdbTxn::Begin(**env, /*write=*/true);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Put(*dbi, t.b.digest().raw(), t.c.Encode()).ok());  // c under b's key
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ((*local)->Get(t.b.digest()).status().code(), absl::StatusCode::kDataLoss);
  CachingDirectoryService cache(*local, t.remote);
  EXPECT_EQ(*cache.Get(t.b.digest()), t.b);
  EXPECT_EQ(t.remote->gets(t.b.digest()), 1u);
  cache.WaitIdle();
  EXPECT_EQ(*(*local)->Get(t.b.digest()), t.b);
}

// A remote whose recursive Get delivers a Directory every 100 ms.
class SlowStream : public DirectoryService {
 public:
  explicit SlowStream(std::shared_ptr<DirectoryService> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& d) override {
    return inner_->Get(d);
  }
  absl::StatusOr<B3Digest> Put(const Directory& d) override { return inner_->Put(d); }
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override {
    return inner_->OpenPutter();
  }
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override {
    return inner_->GetRecursive(root, [&](const Directory& d) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return fn(d);
    });
  }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override {
    return inner_->ForEach(fn);
  }
  absl::Status Delete(std::span<const B3Digest> digests) override {
    return inner_->Delete(digests);
  }

 private:
  std::shared_ptr<DirectoryService> inner_;
};

// A tree of 1 + 50 + 100 Directories; below the root, prefetching stops at
// its budget, and a prefetcher in a slow stream does not hold up shutdown.
TEST(CachingDirectoryService, PrefetchFetchesABoundedPartBelowAMiss) {
  auto memory = std::make_shared<MemoryDirectoryService>();
  std::vector<Entry> top;
  for (int i = 0; i < 50; ++i) {
    std::vector<Entry> mid;
    for (int j = 0; j < 2; ++j) {
      Directory leaf =
          *Directory::Create({{*PathComponent::Create("f"),
                               FileNode{B3Digest::Of(std::to_string(i * 2 + j)), 1, false}}});
      ASSERT_TRUE(memory->Put(leaf).ok());
      mid.push_back(DirEntry("l" + std::to_string(j), leaf));
    }
    Directory m = *Directory::Create(mid);
    ASSERT_TRUE(memory->Put(m).ok());
    top.push_back(DirEntry("m" + std::to_string(i), m));
  }
  Directory root = *Directory::Create(top);
  ASSERT_TRUE(memory->Put(root).ok());
  auto remote = std::make_shared<testing::CountingDirectoryService>(memory);
  {
    CachingDirectoryService cache(NewMemoryDirectoryCacheStore(), remote,
                                  CachingDirectoryOptions{.prefetch = 20});
    ASSERT_TRUE(cache.Get(root.digest()).ok());
    cache.WaitIdle();
    EXPECT_EQ(cache.prefetched(), 20u);
    // The Get, then the prefetch stream: the root again and 20 below it.
    EXPECT_EQ(remote->directories_sent(), 1u + 1u + 20u);
    EXPECT_EQ(remote->recursive_gets(), 1u);
    // What was prefetched is served locally.
    remote->Reset();
    EXPECT_TRUE(cache.Get(std::get<DirectoryNode>(top[0].node).digest)->has_value());
    EXPECT_EQ(remote->gets(), 0u);
  }
  auto slow = std::make_shared<SlowStream>(remote);
  auto start = std::chrono::steady_clock::now();
  {
    CachingDirectoryService cache(NewMemoryDirectoryCacheStore(), slow,
                                  CachingDirectoryOptions{.prefetch = 1000});
    ASSERT_TRUE(cache.Get(root.digest()).ok());
  }  // streaming all 150 Directories at 100 ms each would take 15 s
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace castor::castore
