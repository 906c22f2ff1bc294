// ContentAddress: the CA field of a path info ("text:sha256:<nixbase32>",
// "fixed:<algo>:<digest>", "fixed:r:<algo>:<digest>"): how the store path
// was computed from the contents. Text addressing always uses sha256.
// Parsing accepts the digest in hex, Nix base32 or base64 (by length, as
// Nix does) and prints Nix base32. Immutable value (thread-compatible).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nix/hash.h"

namespace castor::nix {

class ContentAddress {
 public:
  enum class Method {
    kText,        // "text:": builtins.toFile, .drv files
    kFlat,        // "fixed:": a single file's flat hash
    kNixArchive,  // "fixed:r:": the hash of the NAR ("recursive")
  };

  // InvalidArgument when kText is given a hash other than sha256.
  static absl::StatusOr<ContentAddress> Create(Method method, NixHash hash);
  // InvalidArgument naming the text when it is none of the three forms.
  static absl::StatusOr<ContentAddress> Parse(std::string_view text);

  Method method() const { return method_; }
  const NixHash& hash() const { return hash_; }
  std::string ToString() const;

  friend bool operator==(const ContentAddress&, const ContentAddress&) = default;

 private:
  ContentAddress(Method method, NixHash hash) : method_(method), hash_(std::move(hash)) {}
  Method method_;
  NixHash hash_;
};

}  // namespace castor::nix
