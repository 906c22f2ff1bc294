#include "fs/prefetcher.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "castore/blob/caching_blob_service.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/counting_services.h"
#include "castore/testing/stalling_services.h"
#include "gtest/gtest.h"

namespace castor::fs {
namespace {

using castore::B3Digest;
using Kind = AccessEntry::Kind;

castore::PathComponent Name(std::string_view n) { return *castore::PathComponent::Create(n); }

class PrefetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    remote_ = std::make_shared<castore::MemoryBlobService>();
    local_ = std::make_shared<castore::MemoryBlobService>();
    dirs_ = std::make_shared<castore::testing::CountingDirectoryService>(
        std::make_shared<castore::MemoryDirectoryService>());
    roots_ = std::make_shared<castore::MemoryRootService>();
    a_ = Put(std::string(3000, 'a'));
    b_ = Put(std::string(5000, 'b'));
    c_ = Put(std::string(7000, 'c'));
    auto deep = castore::Directory::Create({{Name("c"), castore::FileNode{c_, 7000, false}}});
    ASSERT_TRUE(deep.ok());
    ASSERT_TRUE(dirs_->Put(*deep).ok());
    deep_ = deep->digest();
    auto top = castore::Directory::Create(
        {{Name("a"), castore::FileNode{a_, 3000, false}},
         {Name("b"), castore::FileNode{b_, 5000, false}},
         {Name("sub dir"), castore::DirectoryNode{deep->digest(), deep->size()}}});
    ASSERT_TRUE(top.ok());
    ASSERT_TRUE(dirs_->Put(*top).ok());
    ASSERT_TRUE(roots_->Put({Name("r"), castore::DirectoryNode{top->digest(), top->size()}}).ok());
    dirs_->Reset();
  }

  B3Digest Put(const std::string& data) { return *castore::PutBlob(*remote_, data); }

  // The services a mount with a cache reads through.
  castore::Services Cached(std::shared_ptr<castore::BlobService> remote = nullptr) {
    return castore::Services{
        .blobs = std::make_shared<castore::CachingBlobService>(local_, remote ? remote : remote_),
        .directories = dirs_,
        .roots = roots_};
  }

  bool Local(const B3Digest& d) { return *local_->Has(d); }

  std::shared_ptr<castore::MemoryBlobService> remote_, local_;
  std::shared_ptr<castore::testing::CountingDirectoryService> dirs_;
  std::shared_ptr<castore::MemoryRootService> roots_;
  B3Digest a_, b_, c_, deep_;
};

TEST_F(PrefetcherTest, FetchesTheRecordedDirectoriesAndBlobsIntoTheCache) {
  std::vector<AccessEntry> entries = {
      {.kind = Kind::kDirectory, .path = "r"},
      {.kind = Kind::kDirectory, .path = "r/sub dir"},
      {.kind = Kind::kFile, .path = "r/sub dir/c", .offset = 0, .length = 7000},
      {.kind = Kind::kFile, .path = "r/a", .offset = 1000, .length = 100},
  };
  Prefetcher p(Cached(), entries, PrefetchOptions{.jobs = 2});
  PrefetchStats reported;
  p.Start([&](const PrefetchStats& s) { reported = s; });
  PrefetchStats stats = p.Wait();
  EXPECT_EQ(stats.directories, 2u);
  EXPECT_EQ(stats.files, 2u);
  EXPECT_EQ(stats.bytes, 7100u);
  EXPECT_EQ(stats.skipped, 0u);
  EXPECT_FALSE(stats.stopped);
  EXPECT_EQ(reported.bytes, stats.bytes);
  EXPECT_TRUE(Local(c_));
  EXPECT_TRUE(Local(a_));
  EXPECT_FALSE(Local(b_)) << "a blob nobody read was fetched";
  // Each Directory fetched once, however many paths pass through it.
  EXPECT_EQ(dirs_->gets(deep_), 1u);
  EXPECT_EQ(dirs_->gets(), 2u);
}

TEST_F(PrefetcherTest, SkipsAndCountsWhatIsNotInTheTree) {
  std::vector<AccessEntry> entries = {
      {.kind = Kind::kDirectory, .path = "gone"},                            // no such root
      {.kind = Kind::kDirectory, .path = "r/missing"},                       // no such name
      {.kind = Kind::kDirectory, .path = "r/a"},                             // a file
      {.kind = Kind::kFile, .path = "r/sub dir", .offset = 0, .length = 1},  // a directory
      {.kind = Kind::kFile, .path = "r/a/x", .offset = 0, .length = 1},      // below a file
      {.kind = Kind::kFile, .path = "r/b", .offset = 5000, .length = 10},    // past the end
      {.kind = Kind::kFile, .path = "r/b", .offset = 4990, .length = 1000},  // cut at the end
  };
  Prefetcher p(Cached(), entries, PrefetchOptions{.jobs = 3});
  p.Start(nullptr);
  PrefetchStats stats = p.Wait();
  EXPECT_EQ(stats.skipped, 6u);
  EXPECT_EQ(stats.files, 1u);
  EXPECT_EQ(stats.bytes, 10u);
  EXPECT_TRUE(Local(b_));
}

TEST_F(PrefetcherTest, AnEmptyRecordFinishesAtOnce) {
  Prefetcher p(Cached(), {}, PrefetchOptions{});
  p.Start(nullptr);
  PrefetchStats stats = p.Wait();
  EXPECT_EQ(stats.directories + stats.files + stats.skipped, 0u);
}

TEST_F(PrefetcherTest, StopEndsASlowReplayPromptly) {
  const std::string big(64 << 20, 'x');
  B3Digest d = Put(big);
  ASSERT_TRUE(roots_->Put({Name("big"), castore::FileNode{d, big.size(), false}}).ok());
  auto staller = std::make_shared<castore::testing::Staller>();
  staller->SlowReads(d, absl::Milliseconds(200));
  // Uncached, so every MiB is a slow read (64 of them: 12.8 s).
  castore::Services services{.blobs = castore::testing::StallingBlobService(remote_, staller),
                             .directories = dirs_,
                             .roots = roots_};
  std::vector<AccessEntry> entries = {
      {.kind = Kind::kFile, .path = "big", .offset = 0, .length = big.size()}};
  Prefetcher p(services, entries, PrefetchOptions{.jobs = 1});
  p.Start(nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  auto t0 = std::chrono::steady_clock::now();
  p.Stop();
  // Far below the replay's 12.8 s; loose enough for TSan on a loaded
  // machine (a 1 s bound was missed by 3 ms there).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  PrefetchStats stats = p.Wait();
  EXPECT_LT(stats.bytes, big.size());
  EXPECT_TRUE(stats.stopped);
  EXPECT_EQ(stats.files, 0u);
  staller->Release();
}

}  // namespace
}  // namespace castor::fs
