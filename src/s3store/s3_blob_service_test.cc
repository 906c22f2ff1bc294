// S3BlobService against a real Ceph RGW (the shared test cluster): the
// BlobService conformance suite, the object layout, dedup across versions,
// and verified reads of chunks damaged or deleted by a plain S3 client.
#include "s3store/s3_blob_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "castore/blob/blob_service_conformance.h"
#include "castore/blob/chunk_layout.h"
#include "s3/testing/ceph_cluster.h"
#include "s3store/layout.h"

namespace castor::s3store {
namespace {

using castore::B3Digest;
using s3::testing::TestBucket;

std::string RandomData(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < size; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, size - i));
  }
  return out;
}

// A service on a fresh bucket that lives as long as the service.
struct Store {
  std::unique_ptr<TestBucket> bucket;
  std::shared_ptr<S3BlobService> service;
  std::unique_ptr<s3::S3Client> plain;  // a plain client on the same bucket
};

std::shared_ptr<Store> MakeStore(std::string_view prefix = "") {
  auto endpoint = s3::testing::SharedS3Endpoint();
  if (!endpoint.ok()) ADD_FAILURE() << endpoint.status();
  if (!endpoint.ok()) return nullptr;
  auto bucket = TestBucket::Create(*endpoint, prefix);
  if (!bucket.ok()) ADD_FAILURE() << bucket.status();
  if (!bucket.ok()) return nullptr;
  auto store = std::make_shared<Store>();
  store->bucket = std::move(*bucket);
  auto client = store->bucket->Client();
  auto plain = store->bucket->Client();
  if (!client.ok() || !plain.ok()) ADD_FAILURE() << client.status() << plain.status();
  if (!client.ok() || !plain.ok()) return nullptr;
  store->plain = std::move(*plain);
  auto service = S3BlobService::Create(std::shared_ptr<s3::S3Client>(std::move(*client)));
  if (!service.ok()) ADD_FAILURE() << service.status();
  if (!service.ok()) return nullptr;
  store->service = *service;
  return store;
}

}  // namespace
}  // namespace castor::s3store

namespace castor::castore {
INSTANTIATE_TEST_SUITE_P(S3, BlobServiceConformance,
                         ::testing::Values(BlobBackend{"s3",
                                                       []() -> std::shared_ptr<BlobService> {
                                                         auto store = s3store::MakeStore("castor");
                                                         if (store == nullptr) return nullptr;
                                                         return std::shared_ptr<BlobService>(
                                                             store, store->service.get());
                                                       }}),
                         BackendName);
}  // namespace castor::castore

namespace castor::s3store {
namespace {

class S3BlobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = MakeStore();
    ASSERT_NE(store_, nullptr);
  }
  S3BlobService& service() { return *store_->service; }
  s3::S3Client& plain() { return *store_->plain; }

  std::set<std::string> Keys(std::string_view prefix) {
    std::set<std::string> keys;
    EXPECT_TRUE(plain()
                    .ForEach(prefix,
                             [&](const s3::ObjectEntry& e) {
                               keys.insert(e.key);
                               return absl::OkStatus();
                             })
                    .ok());
    return keys;
  }
  uint64_t StoredBytes() {
    uint64_t total = 0;
    EXPECT_TRUE(plain()
                    .ForEach("",
                             [&](const s3::ObjectEntry& e) {
                               total += e.size;
                               return absl::OkStatus();
                             })
                    .ok());
    return total;
  }
  std::string Read(const B3Digest& d, uint64_t offset, size_t n,
                   absl::StatusCode want = absl::StatusCode::kOk) {
    auto reader = service().OpenRead(d);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok() || *reader == nullptr) return "<none>";
    std::string buf(n, '\0');
    auto got = (*reader)->ReadAt(offset, {reinterpret_cast<uint8_t*>(buf.data()), n});
    EXPECT_EQ(got.status().code(), want) << got.status();
    if (!got.ok()) return std::string(got.status().message());
    buf.resize(*got);
    return buf;
  }

  std::shared_ptr<Store> store_;
};

TEST_F(S3BlobServiceTest, BlobIsCompressedChunksUnderTheirDigestsAChunkListAndAnOutboard) {
  const std::string data = RandomData(3 << 20, 1) + std::string(1 << 20, 'a');
  auto d = castore::PutBlob(service(), data);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Keys(kBlobsPrefix), std::set<std::string>{DigestKey(kBlobsPrefix, *d)});
  // A small blob is one chunk under its own digest, with an empty list.
  auto small = castore::PutBlob(service(), "small");
  ASSERT_TRUE(small.ok());
  auto list = plain().Get(DigestKey(kBlobsPrefix, *small));
  ASSERT_TRUE(list.ok() && list->has_value());
  EXPECT_EQ((*list)->data, "");
  auto chunk = plain().Get(DigestKey(kChunksPrefix, *small));
  ASSERT_TRUE(chunk.ok() && chunk->has_value());
  EXPECT_EQ(*Decompress((*chunk)->data, 100, "chunk"), "small");
  ASSERT_TRUE(plain().Delete(DigestKey(kBlobsPrefix, *small)).ok());
  ASSERT_TRUE(plain().Delete(DigestKey(kChunksPrefix, *small)).ok());
  EXPECT_EQ(Keys(kOutboardsPrefix), std::set<std::string>{DigestKey(kOutboardsPrefix, *d)});
  auto chunks = service().Chunks(*d);
  ASSERT_TRUE(chunks.ok() && chunks->has_value()) << chunks.status();
  ASSERT_GE((*chunks)->size(), 6u);
  std::set<std::string> want;
  uint64_t offset = 0;
  for (const castore::ChunkMeta& c : **chunks) {
    // FastCDC with snix's parameters: 128 KiB..512 KiB (the last may be less).
    EXPECT_LE(c.size, 512u << 10);
    EXPECT_EQ(c.digest, B3Digest::Of(std::string_view(data).substr(offset, c.size)));
    want.insert(DigestKey(kChunksPrefix, c.digest));
    // Each chunk is a blob of its own too.
    auto has = service().Has(c.digest);
    ASSERT_TRUE(has.ok()) << has.status();
    EXPECT_TRUE(*has);
    offset += c.size;
  }
  EXPECT_EQ(offset, data.size());
  EXPECT_EQ(Keys(kChunksPrefix), want);
  // The run of 'a's compresses: the bucket holds less than the blob.
  EXPECT_LT(StoredBytes(), data.size() - (1 << 19));
  auto size = service().StoredSize(*d);
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, data.size());
}

TEST_F(S3BlobServiceTest, ASecondVersionWithOneChangedMebibyteStoresOnlyChunksNearTheChange) {
  std::string v1 = RandomData(16 << 20, 2);
  std::string v2 = v1;
  const std::string changed = RandomData(1 << 20, 3);
  v2.replace(8 << 20, changed.size(), changed);
  ASSERT_TRUE(castore::PutBlob(service(), v1).ok());
  const uint64_t before = StoredBytes();
  auto d2 = castore::PutBlob(service(), v2);
  ASSERT_TRUE(d2.ok()) << d2.status();
  const uint64_t extra = StoredBytes() - before;
  // The changed MiB plus at most a couple of chunks around it each side,
  // plus the chunk list and outboard.
  EXPECT_GT(extra, 1u << 20);
  EXPECT_LT(extra, (1u << 20) + (4u << 19) + (64u << 10));
  EXPECT_EQ(Read(*d2, (8 << 20) - 10, 20), v2.substr((8 << 20) - 10, 20));
}

TEST_F(S3BlobServiceTest, ADamagedOrDeletedChunkFailsOnlyTheReadsThatNeedIt) {
  const std::string data = RandomData(4 << 20, 4);
  auto d = castore::PutBlob(service(), data);
  ASSERT_TRUE(d.ok()) << d.status();
  auto chunks = service().Chunks(*d);
  ASSERT_TRUE(chunks.ok() && chunks->has_value() && (*chunks)->size() >= 4);
  const castore::ChunkMeta& victim = (**chunks)[1];
  const uint64_t at = (**chunks)[0].size;  // where the victim starts
  // A chunk replaced by another valid zstd frame of other bytes of that size.
  ASSERT_TRUE(
      plain()
          .Put(DigestKey(kChunksPrefix, victim.digest), Compress(RandomData(victim.size, 5)))
          .ok());
  std::string msg = Read(*d, at + 100, 100, absl::StatusCode::kDataLoss);
  EXPECT_NE(msg.find(victim.digest.ToB3()), std::string::npos) << msg;
  // Far from it, reads still serve the exact bytes.
  EXPECT_EQ(Read(*d, 3 << 20, 4096), data.substr(3 << 20, 4096));
  EXPECT_EQ(Read(*d, 0, 1000), data.substr(0, 1000));
  // Garbage instead of zstd, and a deleted chunk: DataLoss too.
  ASSERT_TRUE(plain().Put(DigestKey(kChunksPrefix, victim.digest), "garbage").ok());
  Read(*d, at + 100, 100, absl::StatusCode::kDataLoss);
  ASSERT_TRUE(plain().Delete(DigestKey(kChunksPrefix, victim.digest)).ok());
  msg = Read(*d, at + 100, 100, absl::StatusCode::kDataLoss);
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  EXPECT_EQ(Read(*d, 3 << 20, 4096), data.substr(3 << 20, 4096));
}

TEST_F(S3BlobServiceTest, AKeptLayoutOpensABlobWithoutItsChunkListOrOutboard) {
  const std::string data = RandomData(4 << 20, 6);
  auto d = castore::PutBlob(service(), data);
  ASSERT_TRUE(d.ok()) << d.status();
  std::shared_ptr<const castore::ChunkLayout> layout;
  {
    auto reader = service().OpenRead(*d);
    ASSERT_TRUE(reader.ok() && *reader != nullptr);
    layout = (*reader)->KnownLayout();
  }
  ASSERT_NE(layout, nullptr);
  EXPECT_TRUE(layout->content_defined());
  // Without the chunk list and outboard in the bucket, OpenRead finds no
  // blob; a reader from the kept layout still serves it (it asks for neither).
  ASSERT_TRUE(plain().Delete(DigestKey(kBlobsPrefix, *d)).ok());
  ASSERT_TRUE(plain().Delete(DigestKey(kOutboardsPrefix, *d)).ok());
  EXPECT_EQ(*service().OpenRead(*d), nullptr);
  auto reader = service().OpenReadWithLayout(layout);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_NE(*reader, nullptr);
  EXPECT_TRUE((*reader)->Verified());
  std::string buf(data.size(), '\0');
  for (size_t done = 0; done < buf.size();) {
    auto n =
        (*reader)->ReadAt(done, {reinterpret_cast<uint8_t*>(buf.data()) + done, buf.size() - done});
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GT(*n, 0u);
    done += *n;
  }
  EXPECT_TRUE(buf == data);
}

TEST_F(S3BlobServiceTest, AChunkListOrOutboardThatLiesIsCaughtBeforeAnyByteIsServed) {
  const std::string a = RandomData(2 << 20, 6);
  const std::string b = RandomData(2 << 20, 7);
  auto da = castore::PutBlob(service(), a);
  auto db = castore::PutBlob(service(), b);
  ASSERT_TRUE(da.ok() && db.ok());
  // b's chunk list under a's name: b's chunks are all valid, but not a.
  auto list_b = plain().Get(DigestKey(kBlobsPrefix, *db));
  ASSERT_TRUE(list_b.ok() && list_b->has_value());
  ASSERT_TRUE(plain().Put(DigestKey(kBlobsPrefix, *da), (*list_b)->data).ok());
  // a's outboard still checks out, but no group of b's chunks matches it.
  Read(*da, 0, 100, absl::StatusCode::kDataLoss);
  Read(*da, (1 << 20) + 5, 100, absl::StatusCode::kDataLoss);
  // And with b's outboard too: the CVs do not hash to a's digest.
  auto outboard_b = plain().Get(DigestKey(kOutboardsPrefix, *db));
  ASSERT_TRUE(outboard_b.ok() && outboard_b->has_value());
  ASSERT_TRUE(plain().Put(DigestKey(kOutboardsPrefix, *da), (*outboard_b)->data).ok());
  auto reader = service().OpenRead(*da);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << reader.status();
  // A small blob (one chunk under its own digest) holding another's bytes.
  auto small = castore::PutBlob(service(), "small blob");
  auto other = castore::PutBlob(service(), "other blob");
  ASSERT_TRUE(small.ok() && other.ok());
  auto chunk_other = plain().Get(DigestKey(kChunksPrefix, *other));
  ASSERT_TRUE(chunk_other.ok() && chunk_other->has_value());
  ASSERT_TRUE(plain().Put(DigestKey(kChunksPrefix, *small), (*chunk_other)->data).ok());
  reader = service().OpenRead(*small);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << reader.status();
}

TEST_F(S3BlobServiceTest, ABlobWrittenAgainWhileOthersReadItIsNeverMissingAPiece) {
  // Two imports of files with the same bytes at once, and readers checking
  // the blob meanwhile: once seen, the blob stays whole for every reader.
  const std::string data = RandomData(100000, 11);
  const B3Digest digest = B3Digest::Of(data);
  ASSERT_TRUE(castore::PutBlob(service(), data).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, checks{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (!castore::PutBlob(service(), data).ok()) ++errors;
      }
    });
  }
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&] {
      while (!stop) {
        auto size = service().StoredSize(digest);
        auto read = castore::ReadBlob(service(), digest);
        ++checks;
        if (!size.ok() || *size != data.size() || !read.ok() || !read->has_value()) ++errors;
      }
    });
  }
  for (int w = 0; w < 4; ++w) threads[w].join();
  stop = true;
  for (size_t i = 4; i < threads.size(); ++i) threads[i].join();
  EXPECT_GT(checks.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

TEST_F(S3BlobServiceTest, TwoServicesOnOneBucketSeeEachOthersBlobs) {
  auto other = S3BlobService::Create(std::shared_ptr<s3::S3Client>(*store_->bucket->Client()));
  ASSERT_TRUE(other.ok());
  const std::string data = RandomData(1 << 20, 8);
  auto d = castore::PutBlob(**other, data);
  ASSERT_TRUE(d.ok()) << d.status();
  auto back = castore::ReadBlob(service(), *d);
  ASSERT_TRUE(back.ok() && back->has_value()) << back.status();
  EXPECT_EQ(**back, data);
}

}  // namespace
}  // namespace castor::s3store
