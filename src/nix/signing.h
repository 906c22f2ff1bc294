// Ed25519 signatures in Nix's formats (OpenSSL EVP_PKEY_ED25519):
//   secret key  "<name>:<base64 of 64 bytes: the 32-byte seed, then the
//               32-byte public key>" (what `nix-store
//               --generate-binary-cache-key` writes; libsodium's layout)
//   public key  "<name>:<base64 of 32 bytes>"
//   signature   "<name>:<base64 of 64 bytes>" (a narinfo's Sig field)
// Key names are 1 to 128 printable ASCII characters without ':' or spaces
// (they end up on narinfo lines). Ed25519 is deterministic: the same key and
// message give the same signature, Nix's or ours. Immutable values
// (thread-compatible); a secret key's bytes are wiped when it goes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace castor::nix {

// OK for a valid key name (see above), InvalidArgument otherwise.
absl::Status ValidateKeyName(std::string_view name);

class Signature {
 public:
  static constexpr size_t kSize = 64;
  using Bytes = std::array<uint8_t, kSize>;

  static absl::StatusOr<Signature> Create(std::string_view key_name, std::string_view bytes);
  // "<name>:<base64>"; InvalidArgument naming the text otherwise.
  static absl::StatusOr<Signature> Parse(std::string_view text);

  const std::string& key_name() const { return key_name_; }
  const Bytes& bytes() const { return bytes_; }
  std::string_view bytes_view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  std::string ToString() const;
  friend bool operator==(const Signature&, const Signature&) = default;

 private:
  Signature(std::string key_name, const Bytes& bytes)
      : key_name_(std::move(key_name)), bytes_(bytes) {}
  std::string key_name_;
  Bytes bytes_;
};

class PublicKey {
 public:
  static constexpr size_t kSize = 32;
  static absl::StatusOr<PublicKey> Parse(std::string_view text);

  const std::string& name() const { return name_; }
  std::string ToString() const;
  // True when `signature` is this key's (same name) and valid for `message`.
  bool Verify(std::string_view message, const Signature& signature) const;
  friend bool operator==(const PublicKey&, const PublicKey&) = default;

 private:
  friend class SecretKey;
  PublicKey(std::string name, const std::array<uint8_t, kSize>& key)
      : name_(std::move(name)), key_(key) {}
  std::string name_;
  std::array<uint8_t, kSize> key_;
};

class SecretKey {
 public:
  static constexpr size_t kSeedSize = 32;
  // Nix's format. InvalidArgument for a malformed text, or when the public
  // half does not belong to the seed (a damaged key).
  static absl::StatusOr<SecretKey> Parse(std::string_view text);
  // A fresh key from the system's random source.
  static absl::StatusOr<SecretKey> Generate(std::string_view name);
  ~SecretKey();
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;

  const std::string& name() const { return name_; }
  const PublicKey& public_key() const { return public_key_; }
  // Nix's format (contains the secret).
  std::string ToString() const;
  Signature Sign(std::string_view message) const;

 private:
  SecretKey(std::string name, const std::array<uint8_t, kSeedSize>& seed, PublicKey pub)
      : name_(std::move(name)), seed_(seed), public_key_(std::move(pub)) {}
  // The public key of `seed`.
  static absl::StatusOr<std::array<uint8_t, PublicKey::kSize>> Derive(
      const std::array<uint8_t, kSeedSize>& seed);
  std::string name_;
  std::array<uint8_t, kSeedSize> seed_;
  PublicKey public_key_;
};

// Adds `sig` to `sigs`, replacing a signature by the same key name.
void AddOrReplaceSignature(std::vector<Signature>& sigs, Signature sig);

}  // namespace castor::nix
