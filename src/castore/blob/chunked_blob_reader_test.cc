#include "castore/blob/chunked_blob_reader.h"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include "base/mutex.h"
#include "castore/blake3_tree.h"
#include "castore/blob/chunk_index.h"
#include "castore/blob/layout_cache.h"
#include "castore/blob/layout_store.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

std::string Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& b : out) b = static_cast<char>(rng());
  return out;
}

std::span<uint8_t> Span(std::string& s) { return {reinterpret_cast<uint8_t*>(s.data()), s.size()}; }

class ChunkedBlobReaderTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kChunk = 4096;
  void SetUp() override {
    data_ = Random(10 * kChunk + 123, 1);
    digest_ = *PutBlob(*store_, data_);
    auto reader = *store_->OpenRead(digest_);
    auto layout = ComputeChunkLayout(*reader, digest_, kChunk);
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = std::make_shared<const ChunkLayout>(std::move(*layout));
  }
  // The bytes a server would send for chunk `i`.
  std::string Chunk(size_t i) const { return data_.substr(i * kChunk, layout_->chunks[i].size); }
  std::unique_ptr<ChunkedBlobReader> Reader(ChunkedBlobReader::FetchChunk fetch,
                                            bool prefetch = false) {
    return std::make_unique<ChunkedBlobReader>(layout_, std::move(fetch),
                                               ChunkedBlobReader::Options{2, prefetch});
  }

  std::shared_ptr<MemoryBlobService> store_ = std::make_shared<MemoryBlobService>();
  std::string data_;
  B3Digest digest_;
  std::shared_ptr<const ChunkLayout> layout_;
};

TEST_F(ChunkedBlobReaderTest, ComputedLayoutHasFixedChunksThatAreBlobsOfTheirOwn) {
  ASSERT_EQ(layout_->chunks.size(), 11u);
  EXPECT_EQ(layout_->size, data_.size());
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(layout_->chunks[i].size, kChunk);
  EXPECT_EQ(layout_->chunks[10].size, 123u);
  for (size_t i = 0; i < 11; ++i) EXPECT_EQ(layout_->chunks[i].digest, B3Digest::Of(Chunk(i)));
  // What a server sends checks out on the client side.
  std::string outboard = blake3_tree::EncodeOutboard(layout_->size, layout_->cvs);
  auto verified = VerifyChunkLayout(digest_, layout_->chunks, outboard);
  ASSERT_TRUE(verified.ok()) << verified.status();
  ASSERT_TRUE(verified->has_value());
  EXPECT_EQ((*verified)->cvs, layout_->cvs);
}

TEST_F(ChunkedBlobReaderTest, ReceivedLayoutsThatLieAreDataLossAndOthersAreNoLayout) {
  std::string outboard = blake3_tree::EncodeOutboard(layout_->size, layout_->cvs);
  auto chunks = layout_->chunks;
  // No outboard: no layout (the caller verifies the whole blob).
  EXPECT_FALSE(VerifyChunkLayout(digest_, chunks, "")->has_value());
  // An empty chunk is no chunk at all.
  auto empty = chunks;
  empty.insert(empty.begin() + 2, ChunkMeta{chunks[2].digest, 0});
  EXPECT_EQ(VerifyChunkLayout(digest_, empty, outboard).status().code(),
            absl::StatusCode::kDataLoss);
  // The sizes do not add up to the outboard's length: the last chunk dropped.
  auto dropped = chunks;
  dropped.pop_back();
  EXPECT_EQ(VerifyChunkLayout(digest_, dropped, outboard).status().code(),
            absl::StatusCode::kDataLoss);
  auto shorter = chunks;
  shorter.back().size -= 1;
  EXPECT_EQ(VerifyChunkLayout(digest_, shorter, outboard).status().code(),
            absl::StatusCode::kDataLoss);
  // A wrong CV.
  auto cvs = layout_->cvs;
  cvs[2][7] ^= 1;
  EXPECT_EQ(VerifyChunkLayout(digest_, chunks, blake3_tree::EncodeOutboard(layout_->size, cvs))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(ChunkedBlobReaderTest, RandomReadsFetchOnlyTheChunksTheyOverlap) {
  std::atomic<int> calls{0};
  auto reader = Reader([&](size_t i) -> absl::StatusOr<std::string> {
    ++calls;
    return Chunk(i);
  });
  EXPECT_TRUE(reader->Verified());
  EXPECT_EQ(reader->size(), data_.size());
  std::string buf(100, '\0');
  ASSERT_EQ(*reader->ReadAt(5 * kChunk + 10, Span(buf)), 100u);
  EXPECT_EQ(buf, data_.substr(5 * kChunk + 10, 100));
  EXPECT_EQ(calls.load(), 1);
  // Across a boundary: two chunks, one of them cached already.
  ASSERT_EQ(*reader->ReadAt(6 * kChunk - 50, Span(buf)), 100u);
  EXPECT_EQ(buf, data_.substr(6 * kChunk - 50, 100));
  EXPECT_EQ(calls.load(), 2);
  // The end: a short read, and EOF after it.
  std::string tail(500, '\0');
  ASSERT_EQ(*reader->ReadAt(data_.size() - 20, Span(tail)), 20u);
  EXPECT_EQ(tail.substr(0, 20), data_.substr(data_.size() - 20));
  EXPECT_EQ(*reader->ReadAt(data_.size() + 7, Span(tail)), 0u);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(reader->chunks_fetched(), 3u);
}

TEST_F(ChunkedBlobReaderTest, EndOfFileIsOnlyAnsweredOnceTheLastChunkChecksOut) {
  auto reader = Reader([&](size_t i) -> absl::StatusOr<std::string> {
    std::string c = Chunk(i);
    if (i == 10) c.push_back('x');  // a longer last chunk than claimed
    return c;
  });
  std::string buf(10, '\0');
  EXPECT_EQ(reader->ReadAt(data_.size(), Span(buf)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(reader->ReadAt(0, Span(buf)).ok());
}

TEST_F(ChunkedBlobReaderTest, AWrongChunkIsDataLossAndNothingIsServed) {
  auto reader = Reader([&](size_t i) -> absl::StatusOr<std::string> {
    std::string c = Chunk(i);
    if (i == 3) c[100] ^= 1;
    if (i == 4) return Chunk(5);  // another chunk's bytes (right size)
    if (i == 6) c.pop_back();
    return c;
  });
  for (size_t bad : {3, 4, 6}) {
    std::string buf(64, '\0');
    std::string before = buf;
    auto n = reader->ReadAt(bad * kChunk + 32, Span(buf));
    EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_EQ(buf, before);
  }
  // A read spanning a good and a bad chunk fails as a whole.
  std::string buf(2 * kChunk, '\0');
  EXPECT_EQ(reader->ReadAt(2 * kChunk + 1, Span(buf)).status().code(), absl::StatusCode::kDataLoss);
  // Errors are not remembered as data: a good chunk still reads.
  std::string ok(10, '\0');
  ASSERT_TRUE(reader->ReadAt(0, Span(ok)).ok());
  EXPECT_EQ(ok, data_.substr(0, 10));
}

TEST_F(ChunkedBlobReaderTest, ConcurrentReadsOfOneChunkShareOneFetch) {
  std::atomic<int> calls{0};
  auto reader = Reader([&](size_t i) -> absl::StatusOr<std::string> {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return Chunk(i);
  });
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string buf(16, '\0');
      auto n = reader->ReadAt(7 * kChunk + t * 100, Span(buf));
      if (!n.ok() || *n != 16 || buf != data_.substr(7 * kChunk + t * 100, 16)) ++bad;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ChunkedBlobReaderTest, SequentialReadsPrefetchTheNextChunk) {
  std::atomic<int> calls{0};
  auto reader = Reader(
      [&](size_t i) -> absl::StatusOr<std::string> {
        ++calls;
        return Chunk(i);
      },
      /*prefetch=*/true);
  std::string buf(kChunk, '\0');
  ASSERT_TRUE(reader->ReadAt(0, Span(buf)).ok());
  ASSERT_TRUE(reader->ReadAt(kChunk, Span(buf)).ok());
  // The second read continued a run: chunk 2 arrives without being asked for.
  for (int i = 0; i < 200 && reader->chunks_fetched() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(reader->chunks_fetched(), 3u);
  ASSERT_TRUE(reader->ReadAt(2 * kChunk, Span(buf)).ok());
  EXPECT_EQ(buf, data_.substr(2 * kChunk, kChunk));
  for (int i = 0; i < 200 && reader->chunks_fetched() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(calls.load(), 4);
}

// A prefetch still fetching when its reader goes: the reader's destruction
// waits for it, so nothing the fetch function holds (a service, a stub) is
// used by a background thread after the reader is gone.
TEST_F(ChunkedBlobReaderTest, DestroyingTheReaderWaitsForItsPrefetchInFlight) {
  castor::Mutex mu;
  bool prefetch_started = false, release = false;
  std::atomic<bool> prefetch_done{false};
  // Stands for what a fetch function holds: a service, a gRPC stub.
  auto service = std::make_shared<int>(0);
  auto reader = Reader(
      [&, service](size_t i) -> absl::StatusOr<std::string> {
        if (i == 2) {
          {
            castor::MutexLock lock(&mu);
            prefetch_started = true;
          }
          castor::MutexLock lock(&mu);
          mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return release; });
        }
        std::string c = Chunk(i);
        if (i == 2) prefetch_done = true;
        return c;
      },
      /*prefetch=*/true);
  std::string buf(kChunk, '\0');
  ASSERT_TRUE(reader->ReadAt(0, Span(buf)).ok());
  ASSERT_TRUE(reader->ReadAt(kChunk, Span(buf)).ok());  // a run: chunk 2 is prefetched
  {
    castor::MutexLock lock(&mu);
    mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return prefetch_started; });
  }
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    reader.reset();
    destroyed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(destroyed.load()) << "the reader was gone while its prefetch was still fetching";
  {
    castor::MutexLock lock(&mu);
    release = true;
  }
  destroyer.join();
  EXPECT_TRUE(prefetch_done.load());
  EXPECT_EQ(service.use_count(), 1) << "a background thread still holds the fetch function";
}

TEST_F(ChunkedBlobReaderTest, KeptChunksAreReadFromTheStoreAndCheckedThere) {
  auto cache = std::make_shared<MemoryBlobService>();
  std::atomic<int> calls{0};
  auto fetch = [&](size_t i) -> absl::StatusOr<std::string> {
    ++calls;
    return Chunk(i);
  };
  std::string buf(10, '\0');
  {
    auto reader = Reader(fetch);
    ASSERT_TRUE(reader->KeepChunksIn(cache));
    ASSERT_TRUE(reader->ReadAt(3 * kChunk, Span(buf)).ok());
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(*cache->Has(layout_->chunks[3].digest));
  auto again = Reader(fetch);
  again->KeepChunksIn(cache);
  ASSERT_TRUE(again->ReadAt(3 * kChunk, Span(buf)).ok());
  EXPECT_EQ(buf, data_.substr(3 * kChunk, 10));
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ChunkedBlobReaderTest, OnceEveryChunkIsKeptTheWholeBlobIsInTheStore) {
  auto cache = std::make_shared<MemoryBlobService>();
  auto reader = Reader([&](size_t i) -> absl::StatusOr<std::string> { return Chunk(i); });
  reader->KeepChunksIn(cache);
  std::string buf(3 * kChunk, '\0');
  for (uint64_t off = 0; off < data_.size(); off += buf.size()) {
    ASSERT_TRUE(reader->ReadAt(off, Span(buf)).ok());
    if (off + buf.size() < data_.size()) {
      EXPECT_FALSE(*cache->Has(digest_)) << off;
    }
  }
  auto whole = ReadBlob(*cache, digest_);
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_TRUE(**whole == data_);
}

// A blob kept in content-defined chunks (as object storage keeps it): chunks
// of irregular sizes whose boundaries ignore the groups, and an outboard of
// 4 KiB groups.
class ContentDefinedReaderTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kGroup = 4096;
  void SetUp() override {
    data_ = Random(60000, 21);
    digest_ = B3Digest::Of(std::string_view(data_));
    for (uint64_t size : {7000, 13001, 2500, 20000, 9000}) {
      offsets_.push_back(cut_);
      std::string_view bytes = std::string_view(data_).substr(cut_, size);
      chunks_.push_back({B3Digest::Of(bytes), size});
      cut_ += size;
    }
    offsets_.push_back(cut_);
    chunks_.push_back({B3Digest::Of(std::string_view(data_).substr(cut_)), data_.size() - cut_});
    auto store = std::make_shared<MemoryBlobService>();
    auto tree = ComputeChunkLayout(**store->OpenRead(*PutBlob(*store, data_)), digest_, kGroup,
                                   /*chunk_digests=*/false);
    ASSERT_TRUE(tree.ok()) << tree.status();
    outboard_ = blake3_tree::EncodeOutboard(tree->size, tree->cvs);
    auto layout = VerifyChunkLayout(digest_, chunks_, outboard_);
    ASSERT_TRUE(layout.ok()) << layout.status();
    ASSERT_TRUE(layout->has_value());
    layout_ = std::make_shared<const ChunkLayout>(std::move(**layout));
  }
  std::string Chunk(size_t j) const { return data_.substr(offsets_[j], chunks_[j].size); }
  std::unique_ptr<ChunkedBlobReader> Reader(ChunkedBlobReader::FetchChunk fetch,
                                            bool prefetch = false) {
    return std::make_unique<ChunkedBlobReader>(layout_, std::move(fetch),
                                               ChunkedBlobReader::Options{2, prefetch});
  }
  std::string Read(const ChunkedBlobReader& reader, uint64_t offset, size_t n,
                   absl::StatusCode want = absl::StatusCode::kOk) {
    std::string buf(n, '\0');
    auto got = reader.ReadAt(offset, Span(buf));
    EXPECT_EQ(got.status().code(), want) << got.status();
    if (!got.ok()) return "<error>";
    buf.resize(*got);
    return buf;
  }

  std::string data_;
  B3Digest digest_;
  uint64_t cut_ = 0;
  std::vector<uint64_t> offsets_;
  std::vector<ChunkMeta> chunks_;
  std::string outboard_;
  std::shared_ptr<const ChunkLayout> layout_;
};

TEST_F(ContentDefinedReaderTest, ChunksOfAnySizeWithAnOutboardAreALayoutOfItsGroups) {
  EXPECT_TRUE(layout_->content_defined());
  EXPECT_EQ(layout_->chunk_size, kGroup);  // read from the outboard's length
  EXPECT_EQ(layout_->size, data_.size());
  EXPECT_EQ(layout_->count(), blake3_tree::GroupCount(data_.size(), kGroup));
  EXPECT_EQ(layout_->chunk_offsets, std::vector<uint64_t>(offsets_.begin(), offsets_.end()));
  EXPECT_EQ(layout_->ChunkAt(0), 0u);
  EXPECT_EQ(layout_->ChunkAt(6999), 0u);
  EXPECT_EQ(layout_->ChunkAt(7000), 1u);
  EXPECT_EQ(layout_->ChunkAt(data_.size() - 1), chunks_.size() - 1);
  // Sizes that do not add up to the outboard's blob, an outboard no group
  // size fits, a CV that does not hash to the digest: DataLoss.
  auto shorter = chunks_;
  shorter[2].size -= 1;
  EXPECT_EQ(VerifyChunkLayout(digest_, shorter, outboard_).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyChunkLayout(digest_, chunks_, outboard_ + std::string(64, '\0')).status().code(),
            absl::StatusCode::kDataLoss);
  std::string bent = outboard_;
  bent[100] ^= 1;
  EXPECT_EQ(VerifyChunkLayout(digest_, chunks_, bent).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ContentDefinedLayout, EqualPowerOfTwoChunksAreLaidOutByTheOutboardsGroupSize) {
  // FastCDC cuts a run of equal bytes at its maximum size, a power of two:
  // such chunks look fixed-size, but the outboard was made for smaller groups.
  std::string data(4 * 8192, 'z');
  const B3Digest digest = B3Digest::Of(data);
  std::vector<ChunkMeta> chunks(4, {B3Digest::Of(std::string_view(data).substr(0, 8192)), 8192});
  blake3_tree::GroupHasher hasher(2048);
  hasher.Update(Span(data));
  auto tree = hasher.Finish();
  auto layout =
      VerifyChunkLayout(digest, chunks, blake3_tree::EncodeOutboard(data.size(), tree.cvs));
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_TRUE(layout->has_value());
  EXPECT_TRUE((*layout)->content_defined());
  EXPECT_EQ((*layout)->chunk_size, 2048u);
  EXPECT_EQ((*layout)->count(), 16u);
}

TEST_F(ContentDefinedReaderTest, ReadsFetchOnlyTheStoredChunksTheirGroupsOverlap) {
  std::vector<int> fetches(chunks_.size());
  auto reader = Reader([&](size_t j) -> absl::StatusOr<std::string> {
    ++fetches[j];
    return Chunk(j);
  });
  EXPECT_TRUE(reader->Verified());
  // Bytes 40000..40100: group 9 (36864..40960) lies in chunk 3 (22501..42501).
  EXPECT_EQ(Read(*reader, 40000, 100), data_.substr(40000, 100));
  EXPECT_EQ(fetches, (std::vector<int>{0, 0, 0, 1, 0, 0}));
  // Byte 7000: group 1 (4096..8192) straddles chunks 0 and 1.
  EXPECT_EQ(Read(*reader, 7000, 10), data_.substr(7000, 10));
  EXPECT_EQ(fetches, (std::vector<int>{1, 1, 0, 1, 0, 0}));
  // The whole blob, in odd pieces; then EOF.
  std::string all;
  for (uint64_t off = 0; off < data_.size(); off += 3333) all += Read(*reader, off, 3333);
  EXPECT_TRUE(all == data_);
  EXPECT_EQ(Read(*reader, data_.size(), 10), "");
  EXPECT_EQ(reader->chunks_fetched(),
            static_cast<uint64_t>(std::accumulate(fetches.begin(), fetches.end(), 0)));
}

TEST_F(ContentDefinedReaderTest, ADamagedChunkFailsOnlyTheReadsWhoseGroupsNeedIt) {
  auto reader = Reader([&](size_t j) -> absl::StatusOr<std::string> {
    std::string c = Chunk(j);
    if (j == 2) c[10] ^= 1;  // chunk 2: bytes 20001..22501, groups 4 and 5
    return c;
  });
  Read(*reader, 21000, 10, absl::StatusCode::kDataLoss);
  // Group 4 (16384..20480) holds the end of chunk 1 and the start of chunk 2.
  Read(*reader, 16400, 10, absl::StatusCode::kDataLoss);
  EXPECT_EQ(Read(*reader, 0, 16384), data_.substr(0, 16384));
  EXPECT_EQ(Read(*reader, 24576, 1000), data_.substr(24576, 1000));
}

// A chunk list that lies consistently: chunk 3's digest names other bytes of
// the right size, which the server then serves. Each chunk checks out
// against the list, so only the groups' CVs, proven by the outboard, can
// catch it: nothing of those groups is served.
TEST_F(ContentDefinedReaderTest, AChunkListThatLiesIsCaughtByTheGroupsNotServed) {
  std::string fake = Random(chunks_[3].size, 99);
  auto lying = chunks_;
  lying[3].digest = B3Digest::Of(std::string_view(fake));
  auto layout = VerifyChunkLayout(digest_, lying, outboard_);
  ASSERT_TRUE(layout.ok() && layout->has_value()) << layout.status();
  ChunkedBlobReader reader(
      std::make_shared<const ChunkLayout>(std::move(**layout)),
      [&](size_t j) -> absl::StatusOr<std::string> { return j == 3 ? fake : Chunk(j); });
  Read(reader, 30000, 100, absl::StatusCode::kDataLoss);
  EXPECT_EQ(Read(reader, 0, 100), data_.substr(0, 100));
}

TEST_F(ContentDefinedReaderTest, KeptChunksAreLookedUpFirstAndTheBlobIsAssembledOnceAllAreKept) {
  auto cache = std::make_shared<MemoryBlobService>();
  std::atomic<int> calls{0};
  auto fetch = [&](size_t j) -> absl::StatusOr<std::string> {
    ++calls;
    return Chunk(j);
  };
  {
    auto reader = Reader(fetch);
    ASSERT_TRUE(reader->KeepChunksIn(cache));
    EXPECT_EQ(Read(*reader, 40000, 100), data_.substr(40000, 100));
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(*cache->Has(chunks_[3].digest));
  auto reader = Reader(fetch);
  reader->KeepChunksIn(cache);
  EXPECT_EQ(Read(*reader, 40000, 100), data_.substr(40000, 100));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(*cache->Has(digest_));
  std::string all;
  for (uint64_t off = 0; off < data_.size(); off += 8192) all += Read(*reader, off, 8192);
  EXPECT_TRUE(all == data_);
  auto whole = ReadBlob(*cache, digest_);
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_TRUE(**whole == data_);
}

TEST_F(ContentDefinedReaderTest, SequentialReadsPrefetchTheNextStoredChunk) {
  auto reader = Reader([&](size_t j) -> absl::StatusOr<std::string> { return Chunk(j); },
                       /*prefetch=*/true);
  EXPECT_EQ(Read(*reader, 0, 4096), data_.substr(0, 4096));
  EXPECT_EQ(Read(*reader, 4096, 2000), data_.substr(4096, 2000));  // a run, still in chunk 0
  for (int i = 0; i < 200 && reader->chunks_fetched() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(reader->chunks_fetched(), 2u);  // chunk 1 came without being asked for
}

std::shared_ptr<const ChunkLayout> LayoutOf(const B3Digest& digest, size_t chunks) {
  ChunkLayout l;
  l.digest = digest;
  l.chunk_size = 1024;
  l.size = chunks * 1024;
  l.cvs.resize(chunks);
  return std::make_shared<const ChunkLayout>(std::move(l));
}

TEST(LayoutCache, ConcurrentCallersOfOneBlobShareOneComputation) {
  LayoutCache cache(100);
  const B3Digest d = B3Digest::Of(std::string_view("d"));
  std::atomic<int> computed{0};
  std::vector<std::shared_ptr<const ChunkLayout>> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto l = cache.Get(d, [&]() -> absl::StatusOr<std::shared_ptr<const ChunkLayout>> {
        ++computed;
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        return LayoutOf(d, 4);
      });
      if (l.ok()) got[t] = *l;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(computed.load(), 1);
  for (const auto& l : got) EXPECT_EQ(l, got[0]);
}

TEST(LayoutCache, KeepsTheMostRecentLayoutsWithinItsBoundAndNotFailures) {
  LayoutCache cache(10);
  std::vector<B3Digest> d;
  for (char c : std::string("abcd")) d.push_back(B3Digest::Of(std::string_view(&c, 1)));
  int computed = 0;
  auto get = [&](int i, size_t chunks, std::vector<std::shared_ptr<const ChunkLayout>>* evicted) {
    return cache.Get(
        d[i],
        [&]() -> absl::StatusOr<std::shared_ptr<const ChunkLayout>> {
          ++computed;
          return LayoutOf(d[i], chunks);
        },
        evicted);
  };
  ASSERT_TRUE(get(0, 4, nullptr).ok());
  ASSERT_TRUE(get(1, 4, nullptr).ok());
  ASSERT_TRUE(get(0, 4, nullptr).ok());  // used again: the newest
  std::vector<std::shared_ptr<const ChunkLayout>> evicted;
  ASSERT_TRUE(get(2, 4, &evicted).ok());  // 12 chunks: the oldest (1) goes
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0]->digest, d[1]);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.chunks(), 8u);
  EXPECT_EQ(computed, 3);
  // One layout over the bound alone stays (the newest always does).
  ASSERT_TRUE(get(3, 50, nullptr).ok());
  EXPECT_EQ(cache.size(), 1u);
  // A failure is returned, not kept; nor is "no layout".
  auto fail = cache.Get(d[1], []() -> absl::StatusOr<std::shared_ptr<const ChunkLayout>> {
    return absl::DataLossError("rotten");
  });
  EXPECT_EQ(fail.status().code(), absl::StatusCode::kDataLoss);
  auto none = cache.Get(
      d[1], []() -> absl::StatusOr<std::shared_ptr<const ChunkLayout>> { return nullptr; });
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ChunkIndex, LaysOutBigBlobsOnlyAndServesTheirChunksAsBlobs) {
  auto blobs = std::make_shared<MemoryBlobService>();
  ChunkIndex index(blobs, {.min_blob_size = 8192, .chunk_size = 4096, .max_chunks = 8});
  std::string small = Random(8192, 5), big = Random(5 * 4096 + 1, 6), other = Random(20000, 7);
  B3Digest ds = *PutBlob(*blobs, small), db = *PutBlob(*blobs, big),
           dother = *PutBlob(*blobs, other);
  EXPECT_EQ(*index.Layout(ds, **blobs->OpenRead(ds)), nullptr);
  auto layout = index.Layout(db, **blobs->OpenRead(db));
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_NE(*layout, nullptr);
  ASSERT_EQ((*layout)->chunks.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    auto r = index.OpenChunk((*layout)->chunks[i].digest);
    ASSERT_TRUE(r.ok() && *r != nullptr);
    std::string got((*r)->size(), '\0');
    ASSERT_EQ(*(*r)->ReadAt(0, Span(got)), got.size());
    EXPECT_EQ(got, big.substr(i * 4096, 4096));
  }
  // A second layout pushes the first out (8 chunks at most): its chunks are
  // unknown until it is laid out again.
  ASSERT_NE(*index.Layout(dother, **blobs->OpenRead(dother)), nullptr);
  EXPECT_FALSE(index.HasChunk((*layout)->chunks[0].digest));
  EXPECT_EQ(*index.OpenChunk((*layout)->chunks[0].digest), nullptr);
  ASSERT_NE(*index.Layout(db, **blobs->OpenRead(db)), nullptr);
  EXPECT_TRUE(index.HasChunk((*layout)->chunks[0].digest));
}

TEST(ChunkIndex, HugeBlobsGetBiggerChunksAndTooHugeOnesNone) {
  auto blobs = std::make_shared<MemoryBlobService>();
  std::string data = Random(9 * 4096, 11);
  B3Digest d = *PutBlob(*blobs, data);
  ChunkIndex doubling(
      blobs,
      {.min_blob_size = 4096, .chunk_size = 4096, .max_chunks_per_blob = 4, .max_chunks = 100});
  auto layout = doubling.Layout(d, **blobs->OpenRead(d));
  ASSERT_TRUE(layout.ok() && *layout != nullptr);
  EXPECT_EQ((*layout)->chunk_size, 16384u);
  EXPECT_EQ((*layout)->chunks.size(), 3u);
  ChunkIndex none(
      blobs,
      {.min_blob_size = 4096, .chunk_size = 4096, .max_chunks_per_blob = 0, .max_chunks = 100});
  EXPECT_EQ(*none.Layout(d, **blobs->OpenRead(d)), nullptr);
}

TEST(ChunkIndex, RottenBlobIsDataLoss) {
  auto blobs = std::make_shared<MemoryBlobService>();
  ChunkIndex index(blobs, {.min_blob_size = 4096, .chunk_size = 4096, .max_chunks = 100});
  std::string data = Random(3 * 4096, 8);
  B3Digest d = *PutBlob(*blobs, data);
  B3Digest wrong = B3Digest::Of(std::string_view("something else"));
  EXPECT_EQ(index.Layout(wrong, **blobs->OpenRead(d)).status().code(), absl::StatusCode::kDataLoss);
}

// The file LayoutStore keeps for `digest`.
std::string KeptLayoutFile(const LayoutStore& store, const B3Digest& digest) {
  return store.dir() + "/" + digest.ToHex();
}

void Overwrite(const std::string& path, std::string_view data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(ChunkedBlobReaderTest, AKeptLayoutLoadsAsTheSameLayoutFixedOrContentDefined) {
  testing::TempDir dir("layouts");
  auto store = *LayoutStore::Open(dir.path() + "/layouts");
  EXPECT_EQ(*store->Load(digest_), nullptr);  // none kept yet
  ASSERT_TRUE(store->Save(*layout_).ok());
  auto loaded = *store->Load(digest_);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->size, layout_->size);
  EXPECT_EQ(loaded->chunk_size, layout_->chunk_size);
  EXPECT_EQ(loaded->chunks, layout_->chunks);
  EXPECT_EQ(loaded->cvs, layout_->cvs);
  EXPECT_FALSE(loaded->content_defined());

  // Stored chunks cut elsewhere than the groups (as FastCDC cuts them).
  std::vector<ChunkMeta> cut;
  for (uint64_t at : {0ul, 10000ul, 25000ul}) {
    const uint64_t end = at == 25000 ? data_.size() : (at == 0 ? 10000 : 25000);
    cut.push_back({B3Digest::Of(std::string_view(data_).substr(at, end - at)), end - at});
  }
  auto cdc =
      *VerifyChunkLayout(digest_, cut, blake3_tree::EncodeOutboard(data_.size(), layout_->cvs));
  ASSERT_TRUE(cdc.has_value());
  ASSERT_TRUE(cdc->content_defined());
  testing::TempDir dir2("layouts");
  auto store2 = *LayoutStore::Open(dir2.path());
  ASSERT_TRUE(store2->Save(*cdc).ok());
  auto loaded2 = *store2->Load(digest_);
  ASSERT_NE(loaded2, nullptr);
  EXPECT_TRUE(loaded2->content_defined());
  EXPECT_EQ(loaded2->chunks, cut);
  EXPECT_EQ(loaded2->chunk_offsets, cdc->chunk_offsets);
  // A reader built from it serves the blob's bytes.
  ChunkedBlobReader reader(loaded2, [&](size_t i) -> absl::StatusOr<std::string> {
    return data_.substr(loaded2->chunk_offsets[i], cut[i].size);
  });
  std::string buf(data_.size(), '\0');
  ASSERT_EQ(*reader.ReadAt(0, Span(buf)), data_.size());
  EXPECT_EQ(buf, data_);
}

TEST_F(ChunkedBlobReaderTest, AKeptLayoutThatDoesNotCheckOutIsRemovedAndReadAsAbsent) {
  testing::TempDir dir("layouts");
  auto store = *LayoutStore::Open(dir.path());
  ASSERT_TRUE(store->Save(*layout_).ok());
  const std::string path = KeptLayoutFile(*store, digest_);
  const std::string good = ReadFileBytes(path);
  ASSERT_FALSE(good.empty());

  // A flipped byte in the magic, a CV, a chunk size; cut short; empty; the
  // layout of another blob under this one's name. (A chunk digest that lies
  // passes here, as one a remote sends does: the chunk fetched by it fails
  // its CV at the read.)
  std::vector<std::string> bad;
  for (size_t at : {size_t{0}, good.size() - 1, good.size() / 2, size_t{16 + 8 + 32}}) {
    std::string b = good;
    b[at] ^= 0x01;
    bad.push_back(b);
  }
  bad.push_back(good.substr(0, good.size() - 7));
  bad.push_back("");
  {
    std::string other = Random(data_.size(), 2);
    B3Digest od = *PutBlob(*store_, other);
    auto l = *ComputeChunkLayout(**store_->OpenRead(od), od, kChunk);
    ASSERT_TRUE(store->Save(l).ok());
    bad.push_back(ReadFileBytes(KeptLayoutFile(*store, od)));
  }
  for (size_t i = 0; i < bad.size(); ++i) {
    Overwrite(path, bad[i]);
    auto loaded = store->Load(digest_);
    ASSERT_TRUE(loaded.ok()) << i << ": " << loaded.status();
    EXPECT_EQ(*loaded, nullptr) << "damage " << i << " was trusted";
    EXPECT_FALSE(std::filesystem::exists(path)) << "damage " << i << " was kept";
  }
  // Saving again repairs it.
  ASSERT_TRUE(store->Save(*layout_).ok());
  EXPECT_NE(*store->Load(digest_), nullptr);
}

}  // namespace
}  // namespace castor::castore
