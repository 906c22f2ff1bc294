// B3Digest, a BLAKE3-256 digest (32 bytes), and Blake3Hasher, an incremental
// BLAKE3 hasher. B3Digest is an immutable value type (thread-compatible);
// a Blake3Hasher is used by one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "blake3.h"

namespace castor::castore {

class B3Digest {
 public:
  static constexpr size_t kSize = 32;

  // The all-zero digest; only useful as a placeholder before assignment.
  B3Digest() : bytes_{} {}

  // From exactly 32 raw bytes; any other length is InvalidArgument.
  static absl::StatusOr<B3Digest> FromBytes(std::string_view raw);
  // From text: 64 lowercase (or uppercase) hex digits, or `b3:` + standard
  // base64 of the 32 bytes (tvix's display form). Anything else is
  // InvalidArgument naming the text.
  static absl::StatusOr<B3Digest> Parse(std::string_view text);

  // BLAKE3 of `data`.
  static B3Digest Of(std::string_view data);
  static B3Digest Of(std::span<const uint8_t> data);

  std::string_view raw() const { return {reinterpret_cast<const char*>(bytes_.data()), kSize}; }
  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  std::string ToHex() const;
  // "b3:" + base64, tvix's display form.
  std::string ToB3() const;

  friend bool operator==(const B3Digest&, const B3Digest&) = default;
  friend auto operator<=>(const B3Digest&, const B3Digest&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const B3Digest& d) {
    return H::combine_contiguous(std::move(h), d.bytes_.data(), kSize);
  }

 private:
  explicit B3Digest(const uint8_t* raw);
  std::array<uint8_t, kSize> bytes_;
};

// The digest of zero bytes: the empty blob and the empty Directory.
B3Digest EmptyDigest();

class Blake3Hasher {
 public:
  Blake3Hasher() { blake3_hasher_init(&hasher_); }
  void Update(std::string_view data) { blake3_hasher_update(&hasher_, data.data(), data.size()); }
  void Update(std::span<const uint8_t> data) {
    blake3_hasher_update(&hasher_, data.data(), data.size());
  }
  B3Digest Finalize() const;
  void Reset() { blake3_hasher_reset(&hasher_); }

 private:
  blake3_hasher hasher_;
};

}  // namespace castor::castore
