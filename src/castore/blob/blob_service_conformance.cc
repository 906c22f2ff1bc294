#include "castore/blob/blob_service_conformance.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace castor::castore {
namespace {

// Reference vectors (tests/data/castore.json).
constexpr char kEmptyHex[] = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
constexpr char kHelloWorldHex[] =
    "5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c";
constexpr char kBlobAHex[] = "7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63";
constexpr char kBlobBHex[] = "a82c5154a7a0c262c6fdb929a317585646f8fbcf80326d0a7b8747edaf2d99d2";

std::string BlobB() {
  std::string out;
  out.reserve(255 * 4096);
  for (int i = 0; i < 4096; ++i) {
    for (int b = 0; b < 255; ++b) out.push_back(static_cast<char>(b));
  }
  return out;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// Writes `data` in pieces of `piece` bytes and closes.
absl::StatusOr<B3Digest> WriteInPieces(BlobService& s, std::string_view data, size_t piece) {
  auto w = s.OpenWrite();
  if (!w.ok()) return w.status();
  for (size_t off = 0; off < data.size(); off += piece) {
    absl::Status st = (*w)->Write(data.substr(off, piece));
    if (!st.ok()) return st;
  }
  return (*w)->Close();
}

std::string ReadAtString(const BlobReader& r, uint64_t offset, size_t len) {
  std::string buf(len, '\0');
  auto n = r.ReadAt(offset, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), len));
  EXPECT_TRUE(n.ok()) << n.status();
  if (!n.ok()) return "<error>";
  buf.resize(*n);
  return buf;
}

std::string ReadString(BlobReader& r, size_t len) {
  std::string buf(len, '\0');
  auto n = r.Read(std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), len));
  EXPECT_TRUE(n.ok()) << n.status();
  if (!n.ok()) return "<error>";
  buf.resize(*n);
  return buf;
}

}  // namespace

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BlobServiceConformance);

void BlobServiceConformance::SetUp() {
  service_ = GetParam().make();
  ASSERT_NE(service_, nullptr) << "backend " << GetParam().name << " made no service";
}

TEST_P(BlobServiceConformance, MissingBlobIsAbsentNotAnError) {
  B3Digest d = B3Digest::Of(std::string_view("never stored"));
  auto has = service().Has(d);
  ASSERT_TRUE(has.ok()) << has.status();
  EXPECT_FALSE(*has);
  auto reader = service().OpenRead(d);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(*reader, nullptr);
  auto chunks = service().Chunks(d);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  EXPECT_FALSE(chunks->has_value());
  auto read = ReadBlob(service(), d);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE(read->has_value());
}

TEST_P(BlobServiceConformance, StoredSizeIsTheBlobsSizeOrNulloptWhenAbsent) {
  for (size_t size : {size_t{0}, size_t{5}, size_t{(1 << 20) + 7}}) {
    std::string data(size, 'z');
    auto digest = PutBlob(service(), data);
    ASSERT_TRUE(digest.ok()) << digest.status();
    auto stored = service().StoredSize(*digest);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(*stored, std::optional<uint64_t>(size));
  }
  auto absent = service().StoredSize(B3Digest::Of(std::string_view("never stored")));
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(*absent, std::nullopt);
}

TEST_P(BlobServiceConformance, PutHasReadRoundTripOfReferenceBlobs) {
  struct Case {
    std::string name;
    std::string data;
    const char* hex;
  };
  std::vector<Case> cases = {
      {"EMPTY", "", kEmptyHex},
      {"BLOB_A", std::string("\x00\x01", 2), kBlobAHex},
      {"HELLOWORLD", "Hello World!", kHelloWorldHex},
      {"BLOB_B", BlobB(), kBlobBHex},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto digest = PutBlob(service(), c.data);
    ASSERT_TRUE(digest.ok()) << digest.status();
    EXPECT_EQ(digest->ToHex(), c.hex);
    auto has = service().Has(*digest);
    ASSERT_TRUE(has.ok()) << has.status();
    EXPECT_TRUE(*has);
    auto reader = service().OpenRead(*digest);
    ASSERT_TRUE(reader.ok()) << reader.status();
    ASSERT_NE(*reader, nullptr);
    EXPECT_EQ((*reader)->size(), c.data.size());
    auto read = ReadBlob(service(), *digest);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(read->has_value());
    EXPECT_TRUE(**read == c.data) << "contents differ";
  }
}

TEST_P(BlobServiceConformance, LargeBlobWrittenInOddPiecesRoundTrips) {
  std::string data = RandomBytes(3 * (1 << 20) + 12345, 7);
  auto digest = WriteInPieces(service(), data, 65537);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, B3Digest::Of(std::string_view(data)));
  auto read = ReadBlob(service(), *digest);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_TRUE(**read == data);
  EXPECT_TRUE(VerifyBlob(service(), *digest).ok());
}

TEST_P(BlobServiceConformance, WriterCountsBytesAndRejectsUseAfterClose) {
  auto w = service().OpenWrite();
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write(std::string_view("abc")).ok());
  ASSERT_TRUE((*w)->Write(std::string_view("")).ok());
  ASSERT_TRUE((*w)->Write(std::string_view("defg")).ok());
  EXPECT_EQ((*w)->bytes_written(), 7u);
  auto d = (*w)->Close();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, B3Digest::Of(std::string_view("abcdefg")));
  EXPECT_FALSE((*w)->Write(std::string_view("x")).ok());
  EXPECT_FALSE((*w)->Close().ok());
  auto read = ReadBlob(service(), *d);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value_or("<absent>"), "abcdefg");
}

TEST_P(BlobServiceConformance, ReadAtHandlesEdges) {
  std::string data = RandomBytes(100000, 1);
  auto d = PutBlob(service(), data);
  ASSERT_TRUE(d.ok()) << d.status();
  auto r = service().OpenRead(*d);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(*r, nullptr);
  const BlobReader& reader = **r;
  EXPECT_EQ(ReadAtString(reader, 0, 10), data.substr(0, 10));
  EXPECT_EQ(ReadAtString(reader, 54321, 4096), data.substr(54321, 4096));
  // A read crossing the end is short; a read at or past the end is empty.
  EXPECT_EQ(ReadAtString(reader, data.size() - 5, 100), data.substr(data.size() - 5));
  EXPECT_EQ(ReadAtString(reader, data.size(), 100), "");
  EXPECT_EQ(ReadAtString(reader, data.size() + 1, 100), "");
  EXPECT_EQ(ReadAtString(reader, uint64_t{1} << 62, 100), "");
  EXPECT_EQ(ReadAtString(reader, 10, 0), "");
  // A buffer bigger than the blob.
  EXPECT_EQ(ReadAtString(reader, 0, data.size() + 1000), data);
}

TEST_P(BlobServiceConformance, ReadAtOnEmptyBlobReturnsNothing) {
  auto d = PutBlob(service(), "");
  ASSERT_TRUE(d.ok()) << d.status();
  auto r = service().OpenRead(*d);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(*r, nullptr);
  EXPECT_EQ((*r)->size(), 0u);
  EXPECT_EQ(ReadAtString(**r, 0, 16), "");
  EXPECT_EQ(ReadString(**r, 16), "");
}

TEST_P(BlobServiceConformance, SeekAndReadMoveTheCursor) {
  std::string data = RandomBytes(5000, 2);
  auto d = PutBlob(service(), data);
  ASSERT_TRUE(d.ok()) << d.status();
  auto r = service().OpenRead(*d);
  ASSERT_TRUE(r.ok() && *r != nullptr);
  BlobReader& reader = **r;
  EXPECT_EQ(reader.Tell(), 0u);
  EXPECT_EQ(ReadString(reader, 100), data.substr(0, 100));
  EXPECT_EQ(reader.Tell(), 100u);
  EXPECT_EQ(ReadString(reader, 50), data.substr(100, 50));
  reader.Seek(4990);
  EXPECT_EQ(ReadString(reader, 100), data.substr(4990));
  EXPECT_EQ(reader.Tell(), 5000u);
  EXPECT_EQ(ReadString(reader, 100), "");
  reader.Seek(1 << 20);
  EXPECT_EQ(ReadString(reader, 100), "");
  EXPECT_EQ(reader.Tell(), uint64_t{1} << 20);
  reader.Seek(7);
  EXPECT_EQ(ReadString(reader, 3), data.substr(7, 3));
}

TEST_P(BlobServiceConformance, NothingIsVisibleBeforeClose) {
  std::string data = RandomBytes(200000, 3);
  B3Digest expected = B3Digest::Of(std::string_view(data));
  auto w = service().OpenWrite();
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write(data).ok());
  auto has = service().Has(expected);
  ASSERT_TRUE(has.ok()) << has.status();
  EXPECT_FALSE(*has);
  auto reader = service().OpenRead(expected);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(*reader, nullptr);
  auto d = (*w)->Close();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, expected);
  has = service().Has(expected);
  ASSERT_TRUE(has.ok());
  EXPECT_TRUE(*has);
}

absl::StatusOr<bool> WritePrehashed(BlobService& s, std::string_view data, const B3Digest& digest,
                                    size_t piece) {
  auto w = s.OpenPrehashedWrite(data.size());
  if (!w.ok()) return w.status();
  for (size_t off = 0; off < data.size(); off += piece) {
    std::string_view p = data.substr(off, piece);
    absl::Status st =
        (*w)->Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
    if (!st.ok()) return st;
  }
  if ((*w)->bytes_written() != data.size()) return absl::InternalError("bytes_written is wrong");
  return (*w)->Close(digest);
}

TEST_P(BlobServiceConformance, PrehashedWriterStoresAndReportsWhetherItWasNew) {
  for (size_t size : {size_t{0}, size_t{5}, size_t{300000}, size_t{(2 << 20) + 3}}) {
    SCOPED_TRACE(size);
    std::string data = RandomBytes(size, 11);
    B3Digest digest = B3Digest::Of(std::string_view(data));
    auto stored = WritePrehashed(service(), data, digest, 65536);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(*stored);
    auto read = ReadBlob(service(), digest);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(read->has_value());
    EXPECT_TRUE(**read == data) << "contents differ";
    stored = WritePrehashed(service(), data, digest, 100000);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_FALSE(*stored) << "a second write of a stored blob is dropped";
  }
}

// Every backend instantiated here checks prehashed digests (a LocalBlobService
// in the suite is opened with verify_prehashed).
TEST_P(BlobServiceConformance, PrehashedWriterRefusesADigestTheBytesDoNotHashTo) {
  std::string data = RandomBytes(400000, 12);
  B3Digest wrong = B3Digest::Of(std::string_view("something else"));
  auto stored = WritePrehashed(service(), data, wrong, 65536);
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kDataLoss) << stored.status();
  auto has = service().Has(wrong);
  ASSERT_TRUE(has.ok()) << has.status();
  EXPECT_FALSE(*has);
}

TEST_P(BlobServiceConformance, PrehashedWriterDestroyedWithoutCloseStoresNothing) {
  std::string data = RandomBytes(300000, 13);
  B3Digest digest = B3Digest::Of(std::string_view(data));
  {
    auto w = service().OpenPrehashedWrite(data.size());
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()),
                                                     data.size()))
                    .ok());
  }
  auto has = service().Has(digest);
  ASSERT_TRUE(has.ok()) << has.status();
  EXPECT_FALSE(*has);
}

TEST_P(BlobServiceConformance, WriterDestroyedWithoutCloseStoresNothing) {
  std::string data = RandomBytes(300000, 4);
  B3Digest expected = B3Digest::Of(std::string_view(data));
  {
    auto w = service().OpenWrite();
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Write(data).ok());
  }
  auto has = service().Has(expected);
  ASSERT_TRUE(has.ok()) << has.status();
  EXPECT_FALSE(*has);
  int count = 0;
  absl::Status s = service().ForEach([&](const B3Digest&, uint64_t) {
    ++count;
    return absl::OkStatus();
  });
  if (s.code() != absl::StatusCode::kUnimplemented) {
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(count, 0);
  }
}

TEST_P(BlobServiceConformance, ConcurrentWritersOfTheSameBlobEndWithOneCorrectBlob) {
  std::string data = RandomBytes((1 << 20) + 777, 5);
  B3Digest expected = B3Digest::Of(std::string_view(data));
  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<B3Digest>> results(kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { results[i] = WriteInPieces(service(), data, 4096 + i * 1000); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(results[i].ok()) << "writer " << i << ": " << results[i].status();
    EXPECT_EQ(*results[i], expected);
  }
  EXPECT_TRUE(VerifyBlob(service(), expected).ok());
  auto read = ReadBlob(service(), expected);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_TRUE(**read == data);
  int count = 0;
  absl::Status s = service().ForEach([&](const B3Digest& d, uint64_t size) {
    ++count;
    EXPECT_EQ(d, expected);
    EXPECT_EQ(size, data.size());
    return absl::OkStatus();
  });
  if (s.code() != absl::StatusCode::kUnimplemented) {
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(count, 1);
  }
}

TEST_P(BlobServiceConformance, ConcurrentReadAtOnOneReader) {
  std::string data = RandomBytes(1 << 20, 6);
  auto d = PutBlob(service(), data);
  ASSERT_TRUE(d.ok()) << d.status();
  auto r = service().OpenRead(*d);
  ASSERT_TRUE(r.ok() && *r != nullptr);
  const BlobReader& reader = **r;
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      std::string buf;
      for (int i = 0; i < 200; ++i) {
        uint64_t off = rng() % (data.size() + 100);
        size_t len = rng() % 20000;
        buf.assign(len, '\0');
        auto n =
            reader.ReadAt(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), len));
        if (!n.ok()) {
          ++errors;
          continue;
        }
        size_t want = off >= data.size() ? 0 : std::min<uint64_t>(len, data.size() - off);
        if (*n != want ||
            std::memcmp(buf.data(), data.data() + std::min<uint64_t>(off, data.size()), want) !=
                0) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_P(BlobServiceConformance, ChunksAreEmptyForAWholeBlob) {
  auto d = PutBlob(service(), "Hello World!");
  ASSERT_TRUE(d.ok()) << d.status();
  auto chunks = service().Chunks(*d);
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  ASSERT_TRUE(chunks->has_value());
  EXPECT_TRUE((*chunks)->empty());
}

TEST_P(BlobServiceConformance, ForEachListsEveryBlobWithItsSize) {
  std::map<B3Digest, uint64_t> expected;
  for (int i = 0; i < 20; ++i) {
    std::string data = RandomBytes(i * 997, 1000 + i);
    auto d = PutBlob(service(), data);
    ASSERT_TRUE(d.ok()) << d.status();
    expected[*d] = data.size();
  }
  std::map<B3Digest, uint64_t> seen;
  absl::Status s = service().ForEach([&](const B3Digest& d, uint64_t size) {
    EXPECT_TRUE(seen.emplace(d, size).second) << "listed twice: " << d.ToHex();
    return absl::OkStatus();
  });
  if (s.code() == absl::StatusCode::kUnimplemented) GTEST_SKIP() << "ForEach: " << s;
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(seen, expected);

  // Stops at the first error of the callback and returns it.
  int calls = 0;
  s = service().ForEach([&](const B3Digest&, uint64_t) {
    ++calls;
    return absl::CancelledError("stop here");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST_P(BlobServiceConformance, DeleteRemovesOnlyThatBlob) {
  auto a = PutBlob(service(), "first");
  auto b = PutBlob(service(), "second");
  ASSERT_TRUE(a.ok() && b.ok());
  absl::Status s = service().Delete(*a);
  if (s.code() == absl::StatusCode::kUnimplemented) GTEST_SKIP() << "Delete: " << s;
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(*service().Has(*a));
  EXPECT_TRUE(*service().Has(*b));
  auto r = service().OpenRead(*a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  // Deleting what is not there is fine.
  EXPECT_TRUE(service().Delete(*a).ok());
  // And it can be stored again.
  auto again = PutBlob(service(), "first");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *a);
  EXPECT_TRUE(*service().Has(*a));
}

TEST_P(BlobServiceConformance, VerifyBlobAcceptsStoredAndReportsMissing) {
  auto d = PutBlob(service(), BlobB());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(VerifyBlob(service(), *d).ok());
  absl::Status missing = VerifyBlob(service(), B3Digest::Of(std::string_view("absent")));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
}

TEST_P(BlobServiceConformance, SyncSucceeds) {
  ASSERT_TRUE(PutBlob(service(), "durable").ok());
  EXPECT_TRUE(service().Sync().ok());
  // Concurrent callers are fine too.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (!service().Sync().ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(BlobServiceConformance, ManyDistinctBlobsFromSeveralThreads) {
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::vector<B3Digest>> digests(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto d = PutBlob(service(), absl::StrCat("blob ", t, "/", i));
        if (!d.ok()) {
          ++failures;
          continue;
        }
        digests[t].push_back(*d);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      auto read = ReadBlob(service(), digests[t][i]);
      ASSERT_TRUE(read.ok() && read->has_value());
      EXPECT_EQ(**read, absl::StrCat("blob ", t, "/", i));
    }
  }
}

}  // namespace castor::castore
