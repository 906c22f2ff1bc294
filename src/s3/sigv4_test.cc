#include "s3/sigv4.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace castor::s3 {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Cases of the AWS SigV4 test suite (aws-sig-v4-test-suite, as AWS's SDKs
// vendor it): credentials AKIDEXAMPLE, region us-east-1, service "service",
// 2015-08-30T12:36:00Z. The suite's signer adds X-Amz-Date, and for
// body-signing cases x-amz-content-sha256; the rest is the request as given.
struct SuiteCase {
  std::string name;
  std::string method;
  std::string path;  // decoded
  Pairs query;       // decoded
  Pairs headers;
  std::string body;
  bool sign_body = false;
  std::string token;
  std::string canonical_request;
  std::string string_to_sign;  // "" when not checked
  std::string signature;
};

constexpr char kEmptyHash[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::vector<SuiteCase> SuiteCases() {
  const std::string host = "example.amazonaws.com";
  const std::string date = "20150830T123600Z";
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  auto simple = [&](std::string path_line, std::string query_line, std::string extra = "",
                    std::string signed_extra = "") {
    return "GET\n" + path_line + "\n" + query_line + "\nhost:" + host + "\n" + extra +
           "x-amz-date:" + date + "\n\nhost;" + signed_extra + "x-amz-date\n" + kEmptyHash;
  };
  return {
      {.name = "get-vanilla",
       .method = "GET",
       .path = "/",
       .headers = {{"Host", host}},
       .canonical_request = simple("/", ""),
       .string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                         "aws4_request\n"
                         "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {.name = "get-vanilla-query-order-key-case",
       .method = "GET",
       .path = "/",
       .query = {{"Param2", "value2"}, {"Param1", "value1"}},
       .headers = {{"Host", host}},
       .canonical_request = simple("/", "Param1=value1&Param2=value2"),
       .string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                         "aws4_request\n"
                         "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
       .signature = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {.name = "get-vanilla-query-order-encoded",
       .method = "GET",
       .path = "/",
       .query = {{"Param-3", "Value3"}, {"Param", "Value2"}, {"\xE1\x88\xB4", "Value1"}},
       .headers = {{"Host", host}},
       .canonical_request = simple("/", "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"),
       .signature = "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
      {.name = "get-vanilla-query-unreserved",
       .method = "GET",
       .path = "/",
       .query = {{unreserved, unreserved}},
       .headers = {{"Host", host}},
       .canonical_request = simple("/", unreserved + "=" + unreserved),
       .signature = "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {.name = "get-vanilla-utf8-query",
       .method = "GET",
       .path = "/",
       .query = {{"\xE1\x88\xB4", "bar"}},
       .headers = {{"Host", host}},
       .canonical_request = simple("/", "%E1%88%B4=bar"),
       .signature = "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {.name = "get-unreserved",
       .method = "GET",
       .path = "/" + unreserved,
       .headers = {{"Host", host}},
       .canonical_request = simple("/" + unreserved, ""),
       .signature = "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {.name = "get-utf8",
       .method = "GET",
       .path = "/\xE1\x88\xB4",
       .headers = {{"Host", host}},
       .canonical_request = simple("/%E1%88%B4", ""),
       .signature = "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      // S3 signs paths as they are (the suite's "unnormalized" cases).
      {.name = "get-space-unnormalized",
       .method = "GET",
       .path = "/example space/",
       .headers = {{"Host", host}},
       .canonical_request = simple("/example%20space/", ""),
       .signature = "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {.name = "get-slashes-unnormalized",
       .method = "GET",
       .path = "//example//",
       .headers = {{"Host", host}},
       .canonical_request = simple("//example//", ""),
       .signature = "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"},
      {.name = "get-header-value-trim",
       .method = "GET",
       .path = "/",
       .headers = {{"Host", host}, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
       .canonical_request =
           simple("/", "", "my-header1:value1\nmy-header2:\"a b c\"\n", "my-header1;my-header2;"),
       .string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                         "aws4_request\n"
                         "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
       .signature = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {.name = "get-header-key-duplicate",
       .method = "GET",
       .path = "/",
       .headers = {{"Host", host},
                   {"My-Header1", "value2"},
                   {"My-Header1", "value2"},
                   {"My-Header1", "value1"}},
       .canonical_request = simple("/", "", "my-header1:value2,value2,value1\n", "my-header1;"),
       .signature = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {.name = "get-vanilla-with-session-token",
       .method = "GET",
       .path = "/",
       .headers = {{"Host", host}},
       .token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
       .canonical_request = "GET\n/\n\nhost:" + host + "\nx-amz-date:" + date +
                            "\nx-amz-security-token:"
                            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\n"
                            "host;x-amz-date;x-amz-security-token\n" +
                            kEmptyHash,
       .signature = "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
      {.name = "post-vanilla-query",
       .method = "POST",
       .path = "/",
       .query = {{"Param1", "value1"}},
       .headers = {{"Host", host}},
       .canonical_request = "POST\n/\nParam1=value1\nhost:" + host + "\nx-amz-date:" + date +
                            "\n\nhost;x-amz-date\n" + kEmptyHash,
       .signature = "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {.name = "post-x-www-form-urlencoded",
       .method = "POST",
       .path = "/",
       .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Host", host},
                   {"Content-Length", "13"}},
       .body = "Param1=value1",
       .sign_body = true,
       .canonical_request =
           "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:" +
           host +
           "\nx-amz-content-sha256:"
           "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:" +
           date +
           "\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
           "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       .string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                         "aws4_request\n"
                         "b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
       .signature = "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
  };
}

TEST(SigV4Test, MatchesTheAwsTestSuite) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  for (const SuiteCase& c : SuiteCases()) {
    SCOPED_TRACE(c.name);
    SigV4Request r;
    r.method = c.method;
    r.canonical_uri = UriEncode(c.path, false);
    r.query = c.query;
    r.headers = c.headers;
    r.headers.emplace_back("X-Amz-Date", "20150830T123600Z");
    r.payload_hash = Sha256Hex(c.body);
    if (c.sign_body) r.headers.emplace_back("x-amz-content-sha256", r.payload_hash);
    if (!c.token.empty()) r.headers.emplace_back("X-Amz-Security-Token", c.token);
    std::string signed_headers;
    const std::string canonical = CanonicalRequest(r, &signed_headers);
    EXPECT_EQ(canonical, c.canonical_request);
    const std::string sts = StringToSign(
        "20150830T123600Z", CredentialScope("20150830", "us-east-1", "service"), canonical);
    if (!c.string_to_sign.empty()) {
      EXPECT_EQ(sts, c.string_to_sign);
    }
    EXPECT_EQ(SignatureHex(SigningKey(secret, "20150830", "us-east-1", "service"), sts),
              c.signature);
  }
}

// The examples of the S3 documentation ("Signature Calculations for the
// Authorization Header"), signed end to end by SignRequest.
class S3DocExamplesTest : public ::testing::Test {
 protected:
  std::string Sign(SigV4Request& r) {
    SigningIdentity id{.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                       .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                       .region = "us-east-1"};
    absl::Time t = absl::FromCivil(absl::CivilSecond(2013, 5, 24, 0, 0, 0), absl::UTCTimeZone());
    return SignRequest(r, id, t);
  }
  static std::string Auth(std::string_view signed_headers, std::string_view signature) {
    return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
           "SignedHeaders=" +
           std::string(signed_headers) + ", Signature=" + std::string(signature);
  }
};

TEST_F(S3DocExamplesTest, GetObjectWithRange) {
  SigV4Request r{.method = "GET",
                 .canonical_uri = "/test.txt",
                 .headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}},
                 .payload_hash = Sha256Hex("")};
  EXPECT_EQ(Sign(r), Auth("host;range;x-amz-content-sha256;x-amz-date",
                          "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
}

TEST_F(S3DocExamplesTest, PutObjectWithHashedPayload) {
  SigV4Request r{.method = "PUT",
                 .canonical_uri = UriEncode("/test$file.text", false),
                 .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                             {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                             {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                 .payload_hash = Sha256Hex("Welcome to Amazon S3.")};
  EXPECT_EQ(r.payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(Sign(r), Auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                          "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"));
  // The intermediate forms of the same example.
  std::string signed_headers;
  const std::string canonical = CanonicalRequest(r, &signed_headers);
  EXPECT_EQ(
      canonical,
      "PUT\n/test%24file.text\n\n"
      "date:Fri, 24 May 2013 00:00:00 GMT\n"
      "host:examplebucket.s3.amazonaws.com\n"
      "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
      "x-amz-date:20130524T000000Z\n"
      "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(
      StringToSign("20130524T000000Z", CredentialScope("20130524", "us-east-1", "s3"), canonical),
      "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
      "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
}

TEST_F(S3DocExamplesTest, GetBucketLifecycle) {
  SigV4Request r{.method = "GET",
                 .canonical_uri = "/",
                 .query = {{"lifecycle", ""}},
                 .headers = {{"Host", "examplebucket.s3.amazonaws.com"}},
                 .payload_hash = Sha256Hex("")};
  EXPECT_EQ(Sign(r), Auth("host;x-amz-content-sha256;x-amz-date",
                          "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
}

TEST_F(S3DocExamplesTest, ListObjects) {
  SigV4Request r{.method = "GET",
                 .canonical_uri = "/",
                 .query = {{"max-keys", "2"}, {"prefix", "J"}},
                 .headers = {{"Host", "examplebucket.s3.amazonaws.com"}},
                 .payload_hash = Sha256Hex("")};
  EXPECT_EQ(Sign(r), Auth("host;x-amz-content-sha256;x-amz-date",
                          "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

// The presigned-URL example of the S3 documentation: the one published
// vector with UNSIGNED-PAYLOAD as the payload hash.
TEST_F(S3DocExamplesTest, UnsignedPayloadInAPresignedGet) {
  SigV4Request r{
      .method = "GET",
      .canonical_uri = "/test.txt",
      .query = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
                {"X-Amz-Date", "20130524T000000Z"},
                {"X-Amz-Expires", "86400"},
                {"X-Amz-SignedHeaders", "host"}},
      .headers = {{"Host", "examplebucket.s3.amazonaws.com"}},
      .payload_hash = std::string(kUnsignedPayload)};
  std::string signed_headers;
  const std::string canonical = CanonicalRequest(r, &signed_headers);
  EXPECT_TRUE(canonical.ends_with("\n\nhost\nUNSIGNED-PAYLOAD")) << canonical;
  const std::string sts =
      StringToSign("20130524T000000Z", CredentialScope("20130524", "us-east-1", "s3"), canonical);
  EXPECT_EQ(SignatureHex(SigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524",
                                    "us-east-1", "s3"),
                         sts),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST_F(S3DocExamplesTest, SignRequestAddsTheSessionTokenAndSignsIt) {
  SigV4Request r{.method = "GET",
                 .canonical_uri = "/test.txt",
                 .headers = {{"Host", "examplebucket.s3.amazonaws.com"}},
                 .payload_hash = Sha256Hex("")};
  SigningIdentity id{.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                     .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                     .session_token = "the-token",
                     .region = "us-east-1"};
  std::string auth = SignRequest(r, id, absl::FromUnixSeconds(1369353600));
  EXPECT_NE(auth.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos)
      << auth;
  bool has_token = false;
  for (const auto& [name, value] : r.headers) has_token |= name == "x-amz-security-token";
  EXPECT_TRUE(has_token);
}

TEST(UriEncodeTest, EncodesEverythingButUnreservedAndOptionallySlash) {
  EXPECT_EQ(UriEncode("a b+c/d~e_f.g-h", false), "a%20b%2Bc/d~e_f.g-h");
  EXPECT_EQ(UriEncode("a/b", true), "a%2Fb");
  EXPECT_EQ(UriEncode("=&?#%", true), "%3D%26%3F%23%25");
  EXPECT_EQ(UriEncode("\xD0\xBA", false), "%D0%BA");
  EXPECT_EQ(UriEncode("", true), "");
}

TEST(AmzDateTest, FormatsUtcBasicIso8601) {
  EXPECT_EQ(AmzDate(absl::FromUnixSeconds(1440938160)), "20150830T123600Z");
}

}  // namespace
}  // namespace castor::s3
