#include "nix/encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace castor::nix {
namespace {

std::string Bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

// Vectors produced by Nix itself (`nix-hash --type sha256 --to-base32` and
// store paths of this machine's nix-store), so the alphabet and the bit
// order are Nix's and not merely self-consistent.
TEST(NixBase32, EncodesSha256LikeNix) {
  // sha256("") per nix-hash --flat of an empty file.
  auto raw = HexDecode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(NixBase32Encode(*raw), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
}

TEST(NixBase32, SingleBytesUseTheLowBitsLast) {
  EXPECT_EQ(NixBase32Encode(""), "");
  EXPECT_EQ(NixBase32Encode(Bytes({0x1f})), "0z");
  EXPECT_EQ(NixBase32Encode(Bytes({0x20})), "10");
  EXPECT_EQ(NixBase32Encode(Bytes({0xff})), "7z");
  // Little-endian: the second byte holds the most significant bits.
  EXPECT_EQ(NixBase32Encode(Bytes({0x00, 0x01})), "0080");
}

TEST(NixBase32, RoundTripsEveryLength) {
  std::string raw;
  for (int len = 0; len <= 70; ++len) {
    std::string text = NixBase32Encode(raw);
    EXPECT_EQ(text.size(), NixBase32Length(raw.size()));
    auto back = NixBase32Decode(text);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, raw);
    raw.push_back(static_cast<char>(len * 37 + 11));
  }
}

TEST(NixBase32, DecodeRefusesCharactersOutsideTheAlphabet) {
  for (char c : {'e', 'o', 'u', 't', 'A', '-', '\0'}) {
    std::string text(32, '0');
    text[5] = c;
    auto r = NixBase32Decode(text);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c;
  }
}

TEST(NixBase32, DecodeRefusesLengthsNoEncodingHas) {
  // 20 bytes are 32 characters, 21 are 34: 33 is nobody's length.
  auto r = NixBase32Decode(std::string(33, '0'));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("33 characters"), std::string::npos) << r.status();
}

TEST(NixBase32, DecodeRefusesSetUnusedHighBits) {
  // 32 bytes take 52 characters (260 bits): the first character carries
  // only 1 bit of value; 'z' (31) sets four bits beyond the digest.
  std::string text(52, '0');
  text[0] = '1';
  EXPECT_TRUE(NixBase32Decode(text).ok());
  text[0] = '2';
  auto r = NixBase32Decode(text);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("exceeds 32 bytes"), std::string::npos) << r.status();
}

TEST(Hex, RoundTripsAndAcceptsUppercase) {
  EXPECT_EQ(HexEncode(Bytes({0x00, 0xab, 0xff})), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), Bytes({0x00, 0xab, 0xff}));
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(Base64, AcceptsOnlyCanonicalPaddedText) {
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  EXPECT_EQ(*Base64Decode("YWI="), "ab");
  EXPECT_FALSE(Base64Decode("YWI").ok());    // missing padding
  EXPECT_FALSE(Base64Decode("YWJ=").ok());   // unused bits set
  EXPECT_FALSE(Base64Decode("YW I=").ok());  // whitespace
  EXPECT_FALSE(Base64Decode("YW_=").ok());   // URL-safe alphabet
}

}  // namespace
}  // namespace castor::nix
