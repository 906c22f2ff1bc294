// Where a castor store lives in object storage: the address
// `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&force_path_style=BOOL]`,
// parsed and validated once, and the request URLs derived from it.
// Immutable value type; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace castor::s3 {

struct S3Address {
  std::string bucket;
  // Key prefix without leading or trailing '/'; "" for the bucket's root.
  std::string prefix;
  // scheme://host[:port] without a trailing '/'. Without `endpoint=` it is
  // AWS's regional endpoint https://s3.REGION.amazonaws.com.
  std::string endpoint;
  bool custom_endpoint = false;  // endpoint= was given
  // Region for signing: region=, else us-east-1.
  std::string region;
  // Bucket in the path (endpoint/bucket/key) rather than in the host name
  // (bucket.endpoint/key). Defaults to true for a custom endpoint (Ceph RGW,
  // MinIO), false for AWS.
  bool path_style = false;

  // Parses an address. InvalidArgument naming the address and the problem
  // for a bad scheme, bucket name, endpoint, boolean or unknown parameter.
  static absl::StatusOr<S3Address> Parse(std::string_view address);

  // "s3://bucket/prefix": how messages name this store (no query, so no
  // endpoint details and never credentials).
  std::string Display() const;

  // The object key of `key` under the prefix.
  std::string FullKey(std::string_view key) const;

  // host[:port] as sent in the Host header (the bucket's own host name for
  // virtual-hosted style).
  std::string Host() const;

  // The encoded request path for an object key ("" = the bucket itself),
  // exactly as sent and signed.
  std::string Path(std::string_view full_key) const;

  // scheme://Host() for request URLs.
  std::string BaseUrl() const;
};

// Percent-decodes a query value ('+' is a space); InvalidArgument on a bad
// escape.
absl::StatusOr<std::string> PercentDecode(std::string_view s);

}  // namespace castor::s3
