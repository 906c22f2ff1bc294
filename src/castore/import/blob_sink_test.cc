#include "castore/import/blob_sink.h"

#include <string>
#include <thread>
#include <vector>

#include "castore/blob/memory_blob_service.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

// Counts the writers opened, to see which puts wrote nothing.
class CountingWrites : public MemoryBlobService {
 public:
  absl::StatusOr<std::unique_ptr<PrehashedBlobWriter>> OpenPrehashedWrite(
      uint64_t size_hint) override {
    ++writers;
    return MemoryBlobService::OpenPrehashedWrite(size_hint);
  }
  int writers = 0;
};

std::span<const uint8_t> Bytes(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

B3Digest DigestOf(const std::string& s) {
  Blake3Hasher h;
  h.Update(s);
  return h.Finalize();
}

TEST(BlobSinkTest, PutWholeWritesAMissingBlobAndSkipsAStoredOne) {
  CountingWrites blobs;
  const std::string data = "hello world\n";
  auto first = BlobSink::PutWhole(blobs, Bytes(data));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->digest, DigestOf(data));
  EXPECT_EQ(first->size, data.size());
  EXPECT_TRUE(first->is_new);
  EXPECT_EQ(blobs.writers, 1);
  auto stored = blobs.StoredSize(first->digest);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, std::optional<uint64_t>(data.size()));

  auto second = BlobSink::PutWhole(blobs, Bytes(data));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->digest, first->digest);
  EXPECT_FALSE(second->is_new);
  EXPECT_EQ(blobs.writers, 1);  // hashed and asked, not written
}

TEST(BlobSinkTest, PutWholeOfNothingIsTheEmptyBlob) {
  CountingWrites blobs;
  auto put = BlobSink::PutWhole(blobs, {});
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->digest, EmptyDigest());
  EXPECT_EQ(put->size, 0u);
}

TEST(BlobSinkTest, StreamedAndWholeBlobsAgree) {
  // Longer than the sink buffers: streamed through a writer.
  std::string data(BlobSink::kBuffered + 12345, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  CountingWrites blobs;
  BlobSink sink(blobs, data.size());
  const auto bytes = Bytes(data);
  for (size_t at = 0; at < bytes.size(); at += 100000) {
    ASSERT_TRUE(sink.Append(bytes.subspan(at, std::min<size_t>(100000, bytes.size() - at))).ok());
  }
  auto streamed = sink.Finish();
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_TRUE(streamed->is_new);
  EXPECT_EQ(streamed->digest, DigestOf(data));

  auto whole = BlobSink::PutWhole(blobs, bytes);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->digest, streamed->digest);
  EXPECT_EQ(whole->size, data.size());
  EXPECT_FALSE(whole->is_new);
  EXPECT_EQ(blobs.writers, 1);
}

TEST(BlobSinkTest, HashAndStoreOnTwoThreadsStoreWhatAppendStores) {
  std::string data(3 * BlobSink::kBuffered + 777, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13 + i / 4096);
  const auto bytes = Bytes(data);
  const size_t piece = 100003;
  CountingWrites blobs;
  BlobSink sink(blobs, data.size());
  absl::Status stored;
  std::thread store([&] {
    for (size_t at = 0; at < bytes.size() && stored.ok(); at += piece) {
      stored = sink.Store(bytes.subspan(at, std::min(piece, bytes.size() - at)));
    }
  });
  for (size_t at = 0; at < bytes.size(); at += piece) {
    sink.Hash(bytes.subspan(at, std::min(piece, bytes.size() - at)));
  }
  store.join();
  ASSERT_TRUE(stored.ok()) << stored;
  auto result = sink.Finish();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->is_new);
  EXPECT_EQ(result->digest, DigestOf(data));
  EXPECT_EQ(result->size, data.size());
  auto read = ReadBlob(blobs, result->digest);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_TRUE(**read == data);
}

TEST(BlobSinkTest, ABufferedBlobAlreadyStoredIsNotWrittenAgain) {
  CountingWrites blobs;
  const std::string data = "small";
  ASSERT_TRUE(BlobSink::PutWhole(blobs, Bytes(data)).ok());
  BlobSink sink(blobs);
  ASSERT_TRUE(sink.Append(Bytes(data)).ok());
  auto again = sink.Finish();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->digest, DigestOf(data));
  EXPECT_FALSE(again->is_new);
  EXPECT_EQ(blobs.writers, 1);
}

}  // namespace
}  // namespace castor::castore
