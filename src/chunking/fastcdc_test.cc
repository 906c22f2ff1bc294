#include "chunking/fastcdc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "castore/testing/paths.h"

namespace castor::chunking {
namespace {

std::vector<uint8_t> ReadFixture() {
  std::ifstream in(castore::testing::TestDataDir() + "/fastcdc/SekienAkashita.jpg",
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> RandomBytes(size_t size, uint64_t seed) {
  std::vector<uint8_t> out(size);
  std::mt19937_64 rng(seed);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::string Md5Hex(std::span<const uint8_t> data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", md[i]);
  return hex;
}

FastCdc Make(uint32_t min, uint32_t avg, uint32_t max, int level = 1) {
  auto cdc =
      FastCdc::Create({.min_size = min, .avg_size = avg, .max_size = max, .normalization = level});
  EXPECT_TRUE(cdc.ok()) << cdc.status();
  return *std::move(cdc);
}

struct Expected {
  uint64_t hash;
  uint64_t length;
};

void ExpectChunks(const std::vector<ChunkSpan>& got, const std::vector<Expected>& want) {
  ASSERT_EQ(got.size(), want.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].offset, offset) << "chunk " << i;
    EXPECT_EQ(got[i].length, want[i].length) << "chunk " << i;
    EXPECT_EQ(got[i].hash, want[i].hash) << "chunk " << i;
    offset += want[i].length;
  }
}

// Chunks `data` through FastCdcChunker, fed in pieces of the given sizes
// (cycled), and returns the chunks' bytes.
std::vector<std::string> ChunkStreamed(FastCdc cdc, std::span<const uint8_t> data,
                                       const std::vector<size_t>& pieces) {
  FastCdcChunker chunker(std::move(cdc));
  std::vector<std::string> out;
  auto collect = [&](std::span<const uint8_t> chunk) {
    out.emplace_back(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    return absl::OkStatus();
  };
  size_t next = 0;
  while (!data.empty()) {
    size_t n = std::min(pieces[next++ % pieces.size()], data.size());
    EXPECT_TRUE(chunker.Write(data.first(n), collect).ok());
    data = data.subspan(n);
  }
  EXPECT_TRUE(chunker.Finish(collect).ok());
  return out;
}

std::vector<std::string> Slices(std::span<const uint8_t> data, const std::vector<ChunkSpan>& c) {
  std::vector<std::string> out;
  for (const ChunkSpan& s : c) {
    out.emplace_back(reinterpret_cast<const char*>(data.data()) + s.offset, s.length);
  }
  return out;
}

// The fastcdc crate's own expectations over its SekienAkashita.jpg fixture
// (v2020 tests test_iter_sekien_16k_chunks, test_cut_sekien_*).
TEST(FastCdcTest, MatchesTheCrateOnItsFixtureWith16KiBChunks) {
  std::vector<uint8_t> data = ReadFixture();
  ASSERT_EQ(data.size(), 109466u);
  ASSERT_EQ(Md5Hex(data), "d8e98fb5f0ee8a4af37b14a0c605f17c");
  FastCdc cdc = Make(4096, 16384, 65535);
  std::vector<ChunkSpan> chunks = ChunkAll(cdc, data);
  ExpectChunks(chunks, {{17968276318003433923u, 21325},
                        {8197189939299398838u, 17140},
                        {13019990849178155730u, 28084},
                        {4509236223063678303u, 18217},
                        {2504464741100432583u, 24700}});
  const std::vector<std::string> md5 = {
      "2bb52734718194617c957f5e07ee6054", "badfb0757fe081c20336902e7131f768",
      "18412d7414de6eb42f638351711f729d", "04fe1405fc5f960363bfcd834c056407",
      "1aa7ad95f274d6ba34a983946ebc5af3"};
  ASSERT_EQ(chunks.size(), md5.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(Md5Hex(std::span(data).subspan(chunks[i].offset, chunks[i].length)), md5[i]);
  }
}

TEST(FastCdcTest, MatchesTheCrateOnItsFixtureWith32KiBAnd64KiBChunks) {
  std::vector<uint8_t> data = ReadFixture();
  FastCdc cdc32 = Make(8192, 32768, 131072);
  ExpectChunks(ChunkAll(cdc32, data),
               {{15733367461443853673u, 66549}, {6321136627705800457u, 42917}});
  FastCdc cdc64 = Make(16384, 65536, 262144);
  ExpectChunks(ChunkAll(cdc64, data), {{2504464741100432583u, 109466}});
}

TEST(FastCdcTest, MatchesTheCrateOnItsFixtureWithNormalizationLevels0And3) {
  std::vector<uint8_t> data = ReadFixture();
  FastCdc level0 = Make(4096, 16384, 65535, 0);
  ExpectChunks(ChunkAll(level0, data), {{443122261039895162u, 6634},
                                        {15733367461443853673u, 59915},
                                        {10460176299449652894u, 25597},
                                        {6197802202431009942u, 5237},
                                        {6321136627705800457u, 12083}});
  FastCdc level3 = Make(8192, 16384, 32768, 3);
  ExpectChunks(ChunkAll(level3, data), {{10718006254707412376u, 17350},
                                        {13104072099671895560u, 19911},
                                        {12322483109039221194u, 17426},
                                        {16009206469796846404u, 17519},
                                        {2473608525189754172u, 19940},
                                        {2504464741100432583u, 17320}});
}

TEST(FastCdcTest, CutsAllZerosAtTheMaximum) {
  std::vector<uint8_t> zeros(10240, 0);
  FastCdc cdc = Make(64, 256, 1024);
  std::vector<ChunkSpan> chunks = ChunkAll(cdc, zeros);
  ASSERT_EQ(chunks.size(), 10u);
  for (const ChunkSpan& c : chunks) {
    EXPECT_EQ(c.length, 1024u);
    EXPECT_EQ(c.hash, 14169102344523991076u);  // the crate's test_cut_all_zeros
  }
}

TEST(FastCdcTest, StreamingInAnyPieceSizesGivesTheSameChunks) {
  std::vector<uint8_t> fixture = ReadFixture();
  std::vector<uint8_t> random = RandomBytes(3 << 20, 7);
  struct Case {
    std::span<const uint8_t> data;
    FastCdcParams params;
  };
  // Odd sizes make the crate skip odd last bytes; one-byte pieces put every
  // candidate end at the edge of a piece.
  for (const Case& c :
       {Case{fixture, {4096, 16384, 65535, 1}}, Case{fixture, {4097, 16385, 32769, 2}},
        Case{random, {8191, 32768, 131071, 1}}, Case{random, FastCdcParams::Snix()}}) {
    auto cdc = FastCdc::Create(c.params);
    ASSERT_TRUE(cdc.ok());
    std::vector<std::string> want = Slices(c.data, ChunkAll(*cdc, c.data));
    ASSERT_GT(want.size(), 1u);
    for (const std::vector<size_t>& pieces :
         std::vector<std::vector<size_t>>{{1}, {2}, {3, 1, 4096}, {65536}, {1 << 20}}) {
      if (pieces == std::vector<size_t>{1} && c.data.size() > 200000) continue;  // slow
      EXPECT_EQ(ChunkStreamed(*cdc, c.data, pieces), want)
          << "min " << c.params.min_size << " pieces[0] " << pieces[0];
    }
  }
}

TEST(FastCdcTest, SnixParametersKeepChunksWithinMinAndMax) {
  std::vector<uint8_t> data = RandomBytes(16 << 20, 1);
  auto cdc = FastCdc::Create(FastCdcParams::Snix());
  ASSERT_TRUE(cdc.ok());
  std::vector<ChunkSpan> chunks = ChunkAll(*cdc, data);
  ASSERT_GT(chunks.size(), 16u);
  uint64_t total = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].offset, total);
    EXPECT_LE(chunks[i].length, 512u * 1024);
    if (i + 1 < chunks.size()) {
      EXPECT_GE(chunks[i].length, 128u * 1024);
    }
    total += chunks[i].length;
  }
  EXPECT_EQ(total, data.size());
  // Normalized chunking keeps the mean near the average size.
  double mean = static_cast<double>(total) / static_cast<double>(chunks.size());
  EXPECT_GT(mean, 200.0 * 1024);
  EXPECT_LT(mean, 400.0 * 1024);
}

TEST(FastCdcTest, IsDeterministic) {
  std::vector<uint8_t> data = RandomBytes(4 << 20, 3);
  auto a = FastCdc::Create(FastCdcParams::Snix());
  auto b = FastCdc::Create(FastCdcParams::Snix());
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<ChunkSpan> first = ChunkAll(*a, data);
  std::vector<ChunkSpan> again = ChunkAll(*a, data);  // the same object, reused
  std::vector<ChunkSpan> other = ChunkAll(*b, data);
  ASSERT_EQ(first.size(), again.size());
  ASSERT_EQ(first.size(), other.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].offset, again[i].offset);
    EXPECT_EQ(first[i].offset, other[i].offset);
    EXPECT_EQ(first[i].hash, other[i].hash);
  }
}

TEST(FastCdcTest, OneByteInsertedEarlyChangesOnlyTheChunksNearIt) {
  std::vector<uint8_t> data = RandomBytes(8 << 20, 11);
  std::vector<uint8_t> edited = data;
  edited.insert(edited.begin() + 300000, uint8_t{0x5a});
  auto cdc = FastCdc::Create(FastCdcParams::Snix());
  ASSERT_TRUE(cdc.ok());
  std::vector<std::string> before = Slices(data, ChunkAll(*cdc, data));
  std::vector<std::string> after = Slices(edited, ChunkAll(*cdc, edited));
  ASSERT_GT(before.size(), 10u);
  std::set<std::string> known(before.begin(), before.end());
  size_t changed = 0;
  for (const std::string& chunk : after) changed += known.count(chunk) == 0;
  EXPECT_GE(changed, 1u);
  EXPECT_LE(changed, 2u) << "of " << after.size() << " chunks";
}

TEST(FastCdcTest, ShortAndEmptyStreams) {
  auto cdc = FastCdc::Create(FastCdcParams::Snix());
  ASSERT_TRUE(cdc.ok());
  EXPECT_TRUE(ChunkAll(*cdc, {}).empty());
  std::vector<uint8_t> small = RandomBytes(1000, 5);
  std::vector<ChunkSpan> chunks = ChunkAll(*cdc, small);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].length, 1000u);
  EXPECT_EQ(chunks[0].hash, 0u);  // shorter than the minimum: nothing hashed
}

TEST(FastCdcTest, RejectsParametersOutsideTheCratesBounds) {
  auto make = [](uint32_t min, uint32_t avg, uint32_t max, int level = 1) {
    return FastCdc::Create(
               {.min_size = min, .avg_size = avg, .max_size = max, .normalization = level})
        .status();
  };
  EXPECT_TRUE(make(64, 256, 1024).ok());
  EXPECT_THAT(make(63, 256, 1024).message(), testing::HasSubstr("minimum size 63"));
  EXPECT_THAT(make(64, 255, 1024).message(), testing::HasSubstr("average size 255"));
  EXPECT_THAT(make(64, 256, 1023).message(), testing::HasSubstr("maximum size 1023"));
  EXPECT_THAT(make(64, 256, (16 << 20) + 1).message(), testing::HasSubstr("maximum size"));
  EXPECT_THAT(make(4096, 2048, 8192).message(), testing::HasSubstr("min <= avg <= max"));
  EXPECT_EQ(make(64, 256, 1024, 4).code(), absl::StatusCode::kInvalidArgument);
}

TEST(FastCdcChunkerTest, StopsAtTheFirstCallbackError) {
  std::vector<uint8_t> data = RandomBytes(4 << 20, 9);
  auto cdc = FastCdc::Create(FastCdcParams::Snix());
  ASSERT_TRUE(cdc.ok());
  FastCdcChunker chunker(*std::move(cdc));
  int calls = 0;
  absl::Status s = chunker.Write(data, [&](std::span<const uint8_t>) {
    ++calls;
    return absl::UnavailableError("upload failed");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace castor::chunking
