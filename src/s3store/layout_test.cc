// The object layout's keys and encodings (no S3 needed).
#include "s3store/layout.h"

#include <gtest/gtest.h>

#include <random>

namespace castor::s3store {
namespace {

TEST(DigestKey, IsThePrefixTheFirstTwoBytesAndTheHexDigestAndParsesBack) {
  const B3Digest d = B3Digest::Of(std::string_view("hello"));
  const std::string hex = d.ToHex();
  const std::string key = DigestKey(kChunksPrefix, d);
  EXPECT_EQ(key, "chunks/b3/" + hex.substr(0, 4) + "/" + hex);
  EXPECT_EQ(DigestFromKey(std::string_view(key).substr(sizeof(kChunksPrefix) - 1)), d);
  EXPECT_EQ(DigestFromKey("abcd/" + hex), std::nullopt);  // wrong shard
  EXPECT_EQ(DigestFromKey(hex.substr(0, 4) + "/" + hex.substr(1)), std::nullopt);
  EXPECT_EQ(DigestFromKey("whatever"), std::nullopt);
}

TEST(RootKey, EscapesEveryByteButSafeOnesAndDecodesBack) {
  for (std::string name :
       {std::string("nixos-24.05_x"), std::string("a/b c%"), std::string("\xff\x01z", 3)}) {
    const std::string key = RootKey(name);
    EXPECT_TRUE(key.starts_with(kRootsPrefix));
    EXPECT_EQ(key.find('/', sizeof(kRootsPrefix) - 1), std::string::npos) << key;
    auto back = RootNameFromKey(key);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, name);
  }
  EXPECT_EQ(RootKey("a/b"), "castor/roots/a%2fb");
  EXPECT_FALSE(RootNameFromKey("castor/roots/bad%2").ok());
  EXPECT_FALSE(RootNameFromKey("castor/roots/bad%zz").ok());
  EXPECT_FALSE(RootNameFromKey("castor/roots/").ok());
  EXPECT_FALSE(RootNameFromKey("elsewhere/x").ok());
}

TEST(Compression, RoundTripsAndRefusesTruncatedGarbageAndTooLongOutput) {
  std::string data(300000, '\0');
  std::mt19937 rng(7);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 97 ? rng() % 4 : 'x');
  const std::string z = Compress(data);
  EXPECT_LT(z.size(), data.size());
  auto back = Decompress(z, data.size(), "chunk X");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, data);
  EXPECT_EQ(*Decompress(Compress(""), 10, "empty"), "");

  auto cut = Decompress(std::string_view(z).substr(0, z.size() - 5), data.size(), "chunk X");
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(cut.status().message().find("chunk X"), std::string_view::npos);
  EXPECT_EQ(Decompress("not zstd at all", 100, "c").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decompress("", 100, "c").status().code(), absl::StatusCode::kDataLoss);
  // A small object must not expand without bound (a zstd bomb).
  EXPECT_EQ(Decompress(z, data.size() - 1, "c").status().code(), absl::StatusCode::kDataLoss);
}

TEST(ChunkList, RoundTripsAndRefusesBadDigestsAndSizes) {
  std::vector<castore::ChunkMeta> chunks{{B3Digest::Of(std::string_view("a")), 1},
                                         {B3Digest::Of(std::string_view("bc")), 2}};
  auto back = DecodeChunkList(EncodeChunkList(chunks), "blob");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, chunks);
  EXPECT_TRUE(DecodeChunkList(EncodeChunkList({}), "blob")->empty());
  chunks[1].size = 0;
  EXPECT_EQ(DecodeChunkList(EncodeChunkList(chunks), "blob").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeChunkList("\xff\xff\xff", "blob").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace castor::s3store
