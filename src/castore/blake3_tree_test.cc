#include "castore/blake3_tree.h"

#include <random>

#include "gtest/gtest.h"

namespace castor::castore::blake3_tree {
namespace {

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::vector<Cv> Cvs(std::span<const uint8_t> data, uint64_t group) {
  std::vector<Cv> out;
  for (uint64_t off = 0; off < data.size(); off += group) {
    out.push_back(GroupCv(data.subspan(off, std::min<uint64_t>(group, data.size() - off)), off));
  }
  return out;
}

TEST(Blake3Tree, GroupSizesArePowersOfTwoOfAtLeastOneChunk) {
  EXPECT_TRUE(IsValidGroupSize(1024));
  EXPECT_TRUE(IsValidGroupSize(1 << 20));
  EXPECT_FALSE(IsValidGroupSize(0));
  EXPECT_FALSE(IsValidGroupSize(512));
  EXPECT_FALSE(IsValidGroupSize(3072));
  EXPECT_EQ(GroupCount(0, 1024), 0u);
  EXPECT_EQ(GroupCount(1, 1024), 1u);
  EXPECT_EQ(GroupCount(1024, 1024), 1u);
  EXPECT_EQ(GroupCount(1025, 1024), 2u);
}

TEST(Blake3Tree, RootFromGroupCvsIsThePlainDigestAtManySizes) {
  const uint64_t kMiB = 1 << 20;
  struct Case {
    uint64_t size, group;
  };
  std::vector<Case> cases = {
      {1025, 1024},          {2048, 1024},          {2049, 1024},          {3 * 1024, 1024},
      {5 * 1024 + 7, 1024},  {7 * 1024, 1024},      {9 * 1024 - 1, 1024},  {4097, 2048},
      {1 << 16, 4096},       {(1 << 16) + 1, 4096}, {100003, 8192},        {kMiB, 64 * 1024},
      {kMiB + 1, kMiB},      {2 * kMiB, kMiB},      {kMiB * 11 / 2, kMiB}, {3 * kMiB + 1023, kMiB},
      {5 * kMiB + 64, kMiB}, {kMiB + 63, 1024},
  };
  for (const Case& c : cases) {
    auto data = Random(c.size, static_cast<uint32_t>(c.size));
    auto cvs = Cvs(data, c.group);
    ASSERT_GE(cvs.size(), 2u);
    EXPECT_EQ(RootFromGroupCvs(cvs), B3Digest::Of(data)) << c.size << " / " << c.group;
  }
}

TEST(Blake3Tree, SmallerGroupsCombineIntoTheBiggerGroupsCv) {
  auto data = Random(5 * 4096 + 300, 7);
  auto small = Cvs(data, 2048);
  auto big = Cvs(data, 4096);
  ASSERT_EQ(small.size(), 11u);
  ASSERT_EQ(big.size(), 6u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(ParentCv(small[2 * i], small[2 * i + 1]), big[i]);
  EXPECT_EQ(small[10], big[5]);  // a lone short group is its own parent's whole
}

TEST(Blake3Tree, OutboardRoundTripsAndYieldsTheGroupCvs) {
  for (uint64_t size : {2049ull, 3000ull, 8192ull, 9000ull, 33 * 1024ull + 5}) {
    auto data = Random(size, static_cast<uint32_t>(size) + 1);
    auto cvs = Cvs(data, 1024);
    std::string ob = EncodeOutboard(size, cvs);
    EXPECT_EQ(ob.size(), 8 + 64 * (cvs.size() - 1));
    auto got = VerifyOutboard(ob, size, 1024, B3Digest::Of(data));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, cvs);
  }
}

TEST(Blake3Tree, VerifyingAGroupCatchesAFlippedByte) {
  auto data = Random(6 * 1024 + 100, 3);
  auto cvs = Cvs(data, 2048);
  for (size_t pos : {0ul, 1023ul, 2048ul + 5, 6 * 1024ul + 99}) {
    auto bad = data;
    bad[pos] ^= 1;
    uint64_t g = pos / 2048;
    std::span<const uint8_t> group(bad.data() + g * 2048,
                                   std::min<uint64_t>(2048, bad.size() - g * 2048));
    EXPECT_NE(GroupCv(group, g * 2048), cvs[g]) << pos;
  }
}

TEST(Blake3Tree, AGroupAtTheWrongOffsetDoesNotVerify) {
  // Chunk counters bind a group to its position: identical bytes at another
  // offset have another CV.
  std::vector<uint8_t> data(4 * 2048, 0xab);
  auto cvs = Cvs(data, 2048);
  EXPECT_NE(cvs[0], cvs[1]);
  EXPECT_EQ(GroupCv(std::span<const uint8_t>(data).subspan(2048, 2048), 2048), cvs[1]);
}

TEST(Blake3Tree, AWrongCvOrLengthInTheOutboardIsDataLoss) {
  const uint64_t size = 7 * 1024 + 11;
  auto data = Random(size, 9);
  auto cvs = Cvs(data, 1024);
  const B3Digest digest = B3Digest::Of(data);
  std::string ob = EncodeOutboard(size, cvs);
  for (size_t pos = 8; pos < ob.size(); pos += 13) {
    std::string bad = ob;
    bad[pos] ^= 0x40;
    auto got = VerifyOutboard(bad, size, 1024, digest);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << pos;
  }
  // Every group CV replaced: the tree no longer hashes to the digest.
  auto other = cvs;
  other[3][0] ^= 1;
  EXPECT_EQ(VerifyOutboard(EncodeOutboard(size, other), size, 1024, digest).status().code(),
            absl::StatusCode::kDataLoss);
  // Length header, truncation, extra bytes, another digest.
  EXPECT_EQ(VerifyOutboard(ob, size + 1, 1024, digest).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyOutboard(ob.substr(0, ob.size() - 64), size, 1024, digest).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyOutboard(ob + std::string(64, 'x'), size, 1024, digest).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyOutboard(ob.substr(0, 5), size, 1024, digest).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyOutboard(ob, size, 1024, B3Digest::Of(std::string_view("x"))).status().code(),
            absl::StatusCode::kDataLoss);
  // A claimed tree of another shape fails too.
  EXPECT_EQ(VerifyOutboard(ob, size, 2048, digest).status().code(), absl::StatusCode::kDataLoss);
  // Unusable parameters are InvalidArgument, not a crash.
  EXPECT_EQ(VerifyOutboard(ob, size, 1000, digest).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyOutboard(ob, 1024, 1024, digest).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Blake3Tree, GroupHasherGivesTheGroupCvsAndTheDigestWhateverThePieces) {
  const uint64_t group = 4096;
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{4096}, size_t{4097}, size_t{8192}, size_t{50000}}) {
    SCOPED_TRACE(size);
    std::vector<uint8_t> data = Random(size, static_cast<uint32_t>(size));
    for (size_t piece : {size_t{1}, size_t{1000}, size_t{4096}, size_t{70000}}) {
      GroupHasher hasher(group);
      for (size_t off = 0; off < size; off += piece) {
        hasher.Update(std::span<const uint8_t>(data).subspan(off, std::min(piece, size - off)));
      }
      GroupHasher::Result r = hasher.Finish();
      EXPECT_EQ(r.size, size);
      EXPECT_EQ(r.digest, B3Digest::Of(std::span<const uint8_t>(data)));
      if (size <= group) {
        EXPECT_TRUE(r.cvs.empty());
      } else {
        EXPECT_EQ(r.cvs, Cvs(data, group));
      }
    }
  }
}

}  // namespace
}  // namespace castor::castore::blake3_tree
