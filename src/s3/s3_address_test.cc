#include "s3/s3_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace castor::s3 {
namespace {

using ::testing::HasSubstr;

TEST(S3AddressTest, CustomEndpointDefaultsToPathStyle) {
  absl::StatusOr<S3Address> a = S3Address::Parse(
      "s3://my-bucket/castor/store/?endpoint=http%3A%2F%2F127.0.0.1%3A7480&region=default");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->bucket, "my-bucket");
  EXPECT_EQ(a->prefix, "castor/store");
  EXPECT_EQ(a->endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(a->region, "default");
  EXPECT_TRUE(a->custom_endpoint);
  EXPECT_TRUE(a->path_style);
  EXPECT_EQ(a->Display(), "s3://my-bucket/castor/store");
  EXPECT_EQ(a->Host(), "127.0.0.1:7480");
  EXPECT_EQ(a->BaseUrl(), "http://127.0.0.1:7480");
  EXPECT_EQ(a->FullKey("blobs/b3/x"), "castor/store/blobs/b3/x");
  EXPECT_EQ(a->Path(a->FullKey("a b+c")), "/my-bucket/castor/store/a%20b%2Bc");
  EXPECT_EQ(a->Path(""), "/my-bucket");
}

TEST(S3AddressTest, UnencodedEndpointAndExplicitVirtualHosting) {
  absl::StatusOr<S3Address> a =
      S3Address::Parse("s3://bkt?endpoint=https://minio.example:9000/&force_path_style=false");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->endpoint, "https://minio.example:9000");
  EXPECT_FALSE(a->path_style);
  EXPECT_EQ(a->region, "us-east-1");
  EXPECT_EQ(a->prefix, "");
  EXPECT_EQ(a->Host(), "bkt.minio.example:9000");
  EXPECT_EQ(a->BaseUrl(), "https://bkt.minio.example:9000");
  EXPECT_EQ(a->Path("k"), "/k");
  EXPECT_EQ(a->Path(""), "/");
  EXPECT_EQ(a->Display(), "s3://bkt");
}

TEST(S3AddressTest, AwsWithoutEndpointUsesTheRegionalVirtualHost) {
  absl::StatusOr<S3Address> a = S3Address::Parse("s3://bkt/p?region=eu-west-1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->custom_endpoint);
  EXPECT_FALSE(a->path_style);
  EXPECT_EQ(a->endpoint, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(a->Host(), "bkt.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(a->Path(a->FullKey("k")), "/p/k");
  absl::StatusOr<S3Address> forced = S3Address::Parse("s3://bkt?force_path_style=true");
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->Host(), "s3.us-east-1.amazonaws.com");
  EXPECT_EQ(forced->Path("k"), "/bkt/k");
}

TEST(S3AddressTest, RejectsBadAddressesNamingTheProblem) {
  struct Case {
    const char* address;
    const char* message;
  };
  for (const Case& c : {
           Case{"http://bkt", "the scheme must be s3://"},
           Case{"s3://", "bucket name \"\""},
           Case{"s3://ab", "bucket name \"ab\""},
           Case{"s3://Bad!bucket", "bucket name"},
           Case{"s3://-bkt", "bucket name"},
           Case{"s3://bkt/a//b", "empty path segment"},
           Case{"s3://bkt?endpoint=ftp://x", "must start with http:// or https://"},
           Case{"s3://bkt?endpoint=http://", "has no host"},
           Case{"s3://bkt?endpoint=http://h/path", "no path, query or user"},
           Case{"s3://bkt?endpoint=http://h:99999", "bad port"},
           Case{"s3://bkt?endpoint=http://h:", "bad port"},
           Case{"s3://bkt?region=", "region is empty"},
           Case{"s3://bkt?force_path_style=yes", "must be true or false"},
           Case{"s3://bkt?secret=x", "unknown parameter \"secret\""},
           Case{"s3://bkt?endpoint=%zz", "bad percent escape"},
       }) {
    absl::StatusOr<S3Address> a = S3Address::Parse(c.address);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << c.address;
    EXPECT_THAT(a.status().message(), HasSubstr(c.message)) << c.address;
  }
}

TEST(PercentDecodeTest, DecodesEscapesAndPlus) {
  EXPECT_EQ(*PercentDecode("a%2Fb+c%3a"), "a/b c:");
  EXPECT_FALSE(PercentDecode("%").ok());
  EXPECT_FALSE(PercentDecode("%4").ok());
  EXPECT_FALSE(PercentDecode("%g0").ok());
}

}  // namespace
}  // namespace castor::s3
