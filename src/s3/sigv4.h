// AWS Signature Version 4 for S3 requests (header-based), on OpenSSL's
// SHA-256 and HMAC: the canonical request, the string to sign, the signing
// key and the Authorization header. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace castor::s3 {

// The payload hash that tells S3 the body is not part of the signature.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string HmacSha256(std::string_view key, std::string_view data);

// S3's URI encoding: every byte except A-Z a-z 0-9 - . _ ~ becomes %XX
// (upper-case hex); '/' stays as it is unless `encode_slash`.
std::string UriEncode(std::string_view s, bool encode_slash);

// "20130524T000000Z" and "20130524".
std::string AmzDate(absl::Time t);

struct SigV4Request {
  std::string method;
  // The path exactly as sent (already encoded: S3 signs it as it is, with
  // no normalization and no second encoding).
  std::string canonical_uri;
  // Query parameters, not encoded (the canonical form encodes and sorts).
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, as sent; the canonical form lower-cases names, trims
  // values, folds runs of spaces and joins repeated names with ','.
  std::vector<std::pair<std::string, std::string>> headers;
  // Hex SHA-256 of the body, or kUnsignedPayload.
  std::string payload_hash;
};

// The query string both signed and sent: names and values encoded, sorted
// by name then value, "name=value" joined by '&'.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// The canonical request; `signed_headers` receives the ';'-joined list.
std::string CanonicalRequest(const SigV4Request& request, std::string* signed_headers);

// "yyyymmdd/region/service/aws4_request".
std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service);

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

// The key derived from the secret for one day, region and service.
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);

// Lower-case hex HMAC of the string to sign under the signing key.
std::string SignatureHex(std::string_view signing_key, std::string_view string_to_sign);

struct SigningIdentity {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
  std::string region;
  std::string service = "s3";
};

// Signs `request` at `now`: adds x-amz-date, x-amz-content-sha256 and, with a
// session token, x-amz-security-token to its headers (which must already
// hold host), and returns the Authorization header value.
std::string SignRequest(SigV4Request& request, const SigningIdentity& identity, absl::Time now);

}  // namespace castor::s3
