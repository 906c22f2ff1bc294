#include "castore/digest.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "castore/testing/paths.h"

namespace castor::castore {
namespace {

nlohmann::json Vectors() {
  std::ifstream in(castor::castore::testing::TestDataDir() + "/castore.json");
  EXPECT_TRUE(in.good()) << "castore.json not found in " << castor::castore::testing::TestDataDir();
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::string Fixture(const std::string& name) {
  if (name == "EMPTY") return "";
  if (name == "HELLOWORLD") return "Hello World!";
  if (name == "BLOB_A") return std::string("\x00\x01", 2);
  if (name == "BLOB_B") {
    std::string out;
    for (int r = 0; r < 4096; ++r)
      for (int b = 0; b <= 254; ++b) out.push_back(static_cast<char>(b));
    return out;
  }
  ADD_FAILURE() << "unknown fixture " << name;
  return "";
}

TEST(B3Digest, BlobVectorsMatchReferenceDigests) {
  auto v = Vectors();
  ASSERT_EQ(v["blobs"].size(), 4u);
  for (auto& [name, blob] : v["blobs"].items()) {
    std::string data = Fixture(name);
    EXPECT_EQ(data.size(), blob["size"].get<size_t>()) << name;
    EXPECT_EQ(B3Digest::Of(data).ToHex(), blob["b3"].get<std::string>()) << name;
  }
}

TEST(B3Digest, IncrementalHashingEqualsOneShot) {
  std::string data = Fixture("BLOB_B");
  Blake3Hasher h;
  for (size_t i = 0; i < data.size(); i += 1000) h.Update(std::string_view(data).substr(i, 1000));
  EXPECT_EQ(h.Finalize(), B3Digest::Of(data));
}

TEST(B3Digest, ParsesHexAndB3FormsToTheSameDigest) {
  B3Digest d = B3Digest::Of(std::string_view("Hello World!"));
  auto from_hex = B3Digest::Parse(d.ToHex());
  ASSERT_TRUE(from_hex.ok()) << from_hex.status();
  EXPECT_EQ(*from_hex, d);
  auto from_b3 = B3Digest::Parse(d.ToB3());
  ASSERT_TRUE(from_b3.ok()) << from_b3.status();
  EXPECT_EQ(*from_b3, d);
  std::string upper = d.ToHex();
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  EXPECT_EQ(*B3Digest::Parse(upper), d);
  EXPECT_TRUE(d.ToB3().starts_with("b3:"));
}

TEST(B3Digest, RejectsWrongLengthsAndBadText) {
  EXPECT_EQ(B3Digest::FromBytes(std::string(31, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(B3Digest::FromBytes(std::string(33, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(B3Digest::FromBytes(std::string(32, 'a')).ok());
  for (std::string bad :
       {std::string(""), std::string(63, 'a'), std::string(65, 'a'), std::string(63, 'a') + "g",
        std::string("b3:abc"), std::string("b3:") + std::string(44, '!'),
        std::string("sha256:") + std::string(64, 'a')}) {
    auto d = B3Digest::Parse(bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  // 33 bytes in base64 is 44 characters too, but not 32 bytes.
  EXPECT_FALSE(B3Digest::Parse("b3:" + std::string(44, 'A')).ok());
}

TEST(B3Digest, EmptyDigestIsBlake3OfNothing) {
  EXPECT_EQ(EmptyDigest().ToHex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
}

}  // namespace
}  // namespace castor::castore
