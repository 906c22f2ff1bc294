#include "nix/hash.h"

#include <gtest/gtest.h>

#include <string>

#include "nix/encoding.h"

namespace castor::nix {
namespace {

// The NAR hash of a small tree as `nix path-info --json` printed it (SRI),
// with `nix hash to-base32` / `to-base16` of the same.
constexpr std::string_view kSri = "sha256-fVKIfK8TmVBDWN892VJe57huJu9W3Akrpg8BuUlhEZg=";
constexpr std::string_view kBase32 = "sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx";
constexpr std::string_view kHex =
    "sha256:7d52887caf1399504358df3dd9525ee7b86e26ef56dc092ba60f01b949611198";

TEST(NixHash, ParsesEveryFormNixPrintsToTheSameDigest) {
  auto sri = NixHash::Parse(kSri);
  auto b32 = NixHash::Parse(kBase32);
  auto hex = NixHash::Parse(kHex);
  auto b64 = NixHash::Parse("sha256:fVKIfK8TmVBDWN892VJe57huJu9W3Akrpg8BuUlhEZg=");
  ASSERT_TRUE(sri.ok()) << sri.status();
  ASSERT_TRUE(b32.ok()) << b32.status();
  ASSERT_TRUE(hex.ok()) << hex.status();
  ASSERT_TRUE(b64.ok()) << b64.status();
  EXPECT_EQ(*sri, *b32);
  EXPECT_EQ(*sri, *hex);
  EXPECT_EQ(*sri, *b64);
  EXPECT_EQ(sri->algo(), HashAlgo::kSha256);
  EXPECT_EQ(sri->ToSri(), kSri);
  EXPECT_EQ(sri->ToNixBase32(), kBase32);
  EXPECT_EQ(sri->ToHex(), kHex);
}

TEST(NixHash, OtherAlgorithmsUseTheirOwnLengths) {
  // `nix hash to-base32 --type sha1`, `to-base64 --type md5`, `to-sri --type sha512`.
  auto sha1 = NixHash::Parse("sha1:0123456789abcdef0123456789abcdef01234567");
  ASSERT_TRUE(sha1.ok()) << sha1.status();
  EXPECT_EQ(sha1->ToNixBase32(), "sha1:cx2j60ggrnmqjrs54c0yzkdbi5kla8q1");
  auto md5 = NixHash::Parse("md5:0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(md5.ok()) << md5.status();
  EXPECT_EQ(md5->ToSri(), "md5-ASNFZ4mrze8BI0VniavN7w==");
  auto sha512 = NixHash::Parse(std::string("sha512:") + std::string(127, '0') + "7");
  ASSERT_TRUE(sha512.ok()) << sha512.status();
  EXPECT_EQ(sha512->ToSri(), "sha512-" + std::string(84, 'A') + "Bw==");
}

TEST(NixHash, RefusesMalformedText) {
  for (std::string_view bad : {
           "",
           "sha256",
           "sha257:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx",
           "sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlk",   // one short
           "sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlke",  // 'e'
           "sha256-160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx",  // SRI wants base64
           "sha256-fVKIfK8TmVBDWN892VJe57huJu9W3Akrpg8BuUlhEZg",           // unpadded
           "SHA256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx",  // algo case
           "sha1:7d52887caf1399504358df3dd9525ee7b86e26ef56dc092ba60f01b949611198",
       }) {
    auto r = NixHash::Parse(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(r.status().message().empty());
  }
}

// Found by narinfo_fuzz: 44 base64 characters without padding are 33 bytes,
// not a sha256 digest, although 44 is the length of a padded sha256 in
// base64.
TEST(NixHash, RefusesBase64OfTheRightLengthButTheWrongSize) {
  auto r = NixHash::Parse("sha256:10a83a91g1r50bdw8g4hn47m7j7m6ang9c16nx11cw9d");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  auto ca = NixHash::ParseDigest(HashAlgo::kMd5, "ASNFZ4mrze8BI0VniavN7w==");
  EXPECT_TRUE(ca.ok());
  EXPECT_FALSE(NixHash::ParseDigest(HashAlgo::kMd5, "ASNFZ4mrze8BI0VniavN7wAB").ok());
}

TEST(NixHash, FromDigestChecksTheLength) {
  EXPECT_TRUE(NixHash::FromDigest(HashAlgo::kSha256, std::string(32, 'x')).ok());
  EXPECT_EQ(NixHash::FromDigest(HashAlgo::kSha256, std::string(20, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Hasher, StreamingEqualsOneShotAndKnownVectors) {
  // NIST: sha256("abc").
  EXPECT_EQ(NixHash::Of(HashAlgo::kSha256, "abc").ToHex(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(NixHash::Of(HashAlgo::kMd5, "").ToHex(), "md5:d41d8cd98f00b204e9800998ecf8427e");
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  Hasher h(HashAlgo::kSha256);
  for (size_t off = 0; off < data.size(); off += 4097) {
    h.Update(std::string_view(data).substr(off, 4097));
  }
  EXPECT_EQ(h.Finish(), NixHash::Of(HashAlgo::kSha256, data));
  // Finish starts over.
  h.Update("abc");
  EXPECT_EQ(h.Finish(), NixHash::Of(HashAlgo::kSha256, "abc"));
}

TEST(HashingSink, PassesBytesOnAndCountsThem) {
  StringSink out;
  HashingSink sink(HashAlgo::kSha1, &out);
  ASSERT_TRUE(sink.Write("hello ").ok());
  ASSERT_TRUE(sink.Write("world").ok());
  EXPECT_EQ(out.str(), "hello world");
  EXPECT_EQ(sink.bytes(), 11u);
  EXPECT_EQ(sink.Finish(), NixHash::Of(HashAlgo::kSha1, "hello world"));
}

TEST(HashingSource, HashesWhatIsRead) {
  StringSource in("some bytes");
  HashingSource source(HashAlgo::kSha512, in);
  std::string all;
  ASSERT_TRUE(ReadAll(source, &all).ok());
  EXPECT_EQ(all, "some bytes");
  EXPECT_EQ(source.bytes(), 10u);
  EXPECT_EQ(source.Finish(), NixHash::Of(HashAlgo::kSha512, "some bytes"));
}

}  // namespace
}  // namespace castor::nix
