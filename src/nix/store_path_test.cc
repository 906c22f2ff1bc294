#include "nix/store_path.h"

#include <gtest/gtest.h>

#include <string>

namespace castor::nix {
namespace {

// A path `nix-store --add` printed on this machine.
constexpr std::string_view kPath = "/nix/store/5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t";

TEST(StorePath, ParsesAnAbsolutePathAndPrintsItBack) {
  auto p = StorePath::FromAbsolutePath(kPath);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name(), "t");
  EXPECT_EQ(p->HashPart(), "5klkkbyyd681lz12kb5jgyvjv3rjgq0n");
  EXPECT_EQ(p->BaseName(), "5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t");
  EXPECT_EQ(p->ToAbsolutePath(), kPath);
  auto again = StorePath::FromDigestAndName(p->digest_bytes(), "t");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *p);
}

TEST(StorePath, StoreDirectoryIsConfigurable) {
  auto p = StorePath::FromAbsolutePath("/tmp/my store/5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t",
                                       "/tmp/my store");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ToAbsolutePath("/other"), "/other/5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t");
  EXPECT_FALSE(StorePath::FromAbsolutePath(kPath, "/tmp/my store").ok());
}

TEST(StorePath, RefusesPathsOutsideOrBelowTheStore) {
  for (std::string_view bad : {
           "nix/store/5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t",
           "/nix/store5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t",
           "/nix/store/5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t/",
           "/nix/store/5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t/bin",
           "/nix//store/5klkkbyyd681lz12kb5jgyvjv3rjgq0n-t",
           "/nix/store/",
           "/nix/store",
       }) {
    auto r = StorePath::FromAbsolutePath(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(StorePath, RefusesBadHashParts) {
  for (std::string_view bad : {
           "5klkkbyyd681lz12kb5jgyvjv3rjgq0-t",    // 31 characters
           "5klkkbyyd681lz12kb5jgyvjv3rjgq0nn-t",  // 33
           "5klkkbyyd681lz12kb5jgyvjv3rjgq0e-t",   // 'e' is not Nix base32
           "5KLKKBYYD681LZ12KB5JGYVJV3RJGQ0N-t",   // uppercase
           "5klkkbyyd681lz12kb5jgyvjv3rjgq0n_t",   // no dash
           "5klkkbyyd681lz12kb5jgyvjv3rjgq0n-",    // no name
       }) {
    auto r = StorePath::FromBaseName(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(StorePathName, FollowsNixRules) {
  for (std::string_view good :
       {"hello-2.12", "a", "A+b-c.d_e?f=g", ".foo", "..foo", ".config-1.0", "x-.", "x-.."}) {
    EXPECT_TRUE(ValidateStorePathName(good).ok()) << good;
  }
  EXPECT_TRUE(ValidateStorePathName(std::string(211, 'x')).ok());
  for (std::string_view bad :
       {"", ".", "..", ".-x", "..-x", "a b", "a/b", "ä", "a:b", "a%b", "a\nb"}) {
    auto r = ValidateStorePathName(bad);
    EXPECT_EQ(r.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto r = ValidateStorePathName(std::string(212, 'x'));
  EXPECT_EQ(r.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.message().find("212 characters"), std::string::npos) << r;
}

TEST(StoreDir, MustBeAbsoluteAndClean) {
  EXPECT_TRUE(ValidateStoreDir("/nix/store").ok());
  EXPECT_TRUE(ValidateStoreDir("/s").ok());
  for (std::string_view bad : {"", "/", "nix/store", "/nix/store/", "/nix//store"}) {
    EXPECT_EQ(ValidateStoreDir(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(StorePath, OrdersLikeNixByBaseName) {
  auto a = *StorePath::FromBaseName("0000000000000000000000000000000z-b");
  auto b = *StorePath::FromBaseName("00000000000000000000000000000010-a");
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace castor::nix
