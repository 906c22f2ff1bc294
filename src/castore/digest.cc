#include "castore/digest.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/hex.h"
#include "base/status.h"

namespace castor::castore {
namespace {

std::string Shorten(std::string_view text) {
  if (text.size() <= 80) return std::string(text);
  return absl::StrCat(ToAbslView(text.substr(0, 77)), "...");
}

}  // namespace

B3Digest::B3Digest(const uint8_t* raw) { std::memcpy(bytes_.data(), raw, kSize); }

absl::StatusOr<B3Digest> B3Digest::FromBytes(std::string_view raw) {
  if (raw.size() != kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest must be ", kSize, " bytes, got ", raw.size()));
  }
  return B3Digest(reinterpret_cast<const uint8_t*>(raw.data()));
}

absl::StatusOr<B3Digest> B3Digest::Parse(std::string_view text) {
  if (text.starts_with("b3:")) {
    std::string_view b64 = text.substr(3);
    std::string raw;
    // Standard base64 with padding: 32 bytes are 44 characters.
    if (b64.size() != 44 || !absl::Base64Unescape(ToAbslView(b64), &raw) || raw.size() != kSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid digest '", Shorten(text),
                       "': expected b3: followed by 44 characters of base64 (32 bytes)"));
    }
    return B3Digest(reinterpret_cast<const uint8_t*>(raw.data()));
  }
  if (text.size() != 2 * kSize) {
    return absl::InvalidArgumentError(absl::StrCat("invalid digest '", Shorten(text),
                                                   "': expected 64 hex digits or b3:<base64>"));
  }
  std::array<uint8_t, kSize> raw;
  for (size_t i = 0; i < kSize; ++i) {
    int hi = HexDigitValue(text[2 * i]);
    int lo = HexDigitValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat("invalid digest '", Shorten(text),
                                                     "': not a hex digit at position ",
                                                     hi < 0 ? 2 * i : 2 * i + 1));
    }
    raw[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return B3Digest(raw.data());
}

B3Digest B3Digest::Of(std::string_view data) {
  Blake3Hasher h;
  h.Update(data);
  return h.Finalize();
}

B3Digest B3Digest::Of(std::span<const uint8_t> data) {
  Blake3Hasher h;
  h.Update(data);
  return h.Finalize();
}

std::string B3Digest::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * kSize, '0');
  for (size_t i = 0; i < kSize; ++i) {
    out[2 * i] = kDigits[bytes_[i] >> 4];
    out[2 * i + 1] = kDigits[bytes_[i] & 0xf];
  }
  return out;
}

std::string B3Digest::ToB3() const {
  return absl::StrCat("b3:", absl::Base64Escape(ToAbslView(raw())));
}

B3Digest EmptyDigest() {
  static const B3Digest kEmpty = B3Digest::Of(std::string_view());
  return kEmpty;
}

B3Digest Blake3Hasher::Finalize() const {
  uint8_t out[B3Digest::kSize];
  blake3_hasher_finalize(&hasher_, out, sizeof out);
  return *B3Digest::FromBytes(std::string_view(reinterpret_cast<const char*>(out), sizeof out));
}

}  // namespace castor::castore
