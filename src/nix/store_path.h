// StorePath: a path in a Nix store, "<store dir>/<hash>-<name>", where
// <hash> is the Nix base32 text (32 characters) of a 20-byte digest and
// <name> follows Nix's name rules:
//   - 1 to 211 characters (211 leaves room for the hash and suffixes within
//     a 255-byte file name);
//   - only A-Z a-z 0-9 and + - . _ ? =;
//   - not "." or "..", and its first dash-separated part is not "." or ".."
//     (".-x", "..-x"): what current Nix refuses. Other names starting with a
//     period (".foo") are valid, as in Nix (2.8 creates them with
//     `nix-store --add .foo`), although tvix refuses them.
// The store directory is configurable (default /nix/store): an absolute
// path without a trailing slash. Paths are not canonicalised: "/nix/store/
// x-y/" or "/nix//store/x-y" are refused rather than cleaned up, since every
// input here is untrusted. Immutable values (thread-compatible).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace castor::nix {

inline constexpr std::string_view kDefaultStoreDir = "/nix/store";

// OK for an absolute directory path without a trailing slash, empty
// component or NUL; InvalidArgument naming it otherwise.
absl::Status ValidateStoreDir(std::string_view store_dir);

// OK for a valid store path name (see above); InvalidArgument naming the
// name and the rule otherwise.
absl::Status ValidateStorePathName(std::string_view name);

class StorePath {
 public:
  static constexpr size_t kDigestSize = 20;
  static constexpr size_t kHashLength = 32;  // characters of Nix base32
  static constexpr size_t kMaxNameLength = 211;
  using Digest = std::array<uint8_t, kDigestSize>;

  // From "<hash>-<name>".
  static absl::StatusOr<StorePath> FromBaseName(std::string_view base_name);
  // From "<store_dir>/<hash>-<name>" (nothing after the name).
  static absl::StatusOr<StorePath> FromAbsolutePath(std::string_view path,
                                                    std::string_view store_dir = kDefaultStoreDir);
  // From the 20 raw digest bytes and the name.
  static absl::StatusOr<StorePath> FromDigestAndName(std::string_view digest,
                                                     std::string_view name);

  const Digest& digest() const { return digest_; }
  std::string_view digest_bytes() const {
    return {reinterpret_cast<const char*>(digest_.data()), digest_.size()};
  }
  const std::string& name() const { return name_; }
  // The 32-character Nix base32 hash part.
  std::string HashPart() const;
  // "<hash>-<name>".
  std::string BaseName() const;
  // "<store_dir>/<hash>-<name>".
  std::string ToAbsolutePath(std::string_view store_dir = kDefaultStoreDir) const;

  friend bool operator==(const StorePath&, const StorePath&) = default;
  // Nix's order: by base name (hash part first), bytewise.
  friend std::strong_ordering operator<=>(const StorePath& a, const StorePath& b);

 private:
  StorePath(const Digest& digest, std::string name) : digest_(digest), name_(std::move(name)) {}
  Digest digest_;
  std::string name_;
};

}  // namespace castor::nix
