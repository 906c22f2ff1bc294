// Text encodings of binary digests as Nix writes them: Nix's base32 (its own
// alphabet, without e o u t, and its own bit order), lowercase hex and
// standard padded base64. Decoders are strict: a text that is not exactly
// what the encoder produces for some input is InvalidArgument, so every
// accepted text has one byte string and back. Stateless; thread-safe.
//
// Nix base32 reads the bytes as one little-endian number (bit k is bit k%8
// of byte k/8) and prints it in groups of 5 bits, the most significant group
// first: character i of an n-character text holds bits 5(n-1-i) .. +4. The
// text is ceil(8 * bytes / 5) characters long; the unused high bits of the
// first character must be zero.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace castor::nix {

inline constexpr std::string_view kNixBase32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

// Characters of the Nix base32 text of `raw_size` bytes.
constexpr size_t NixBase32Length(size_t raw_size) { return (raw_size * 8 + 4) / 5; }

std::string NixBase32Encode(std::string_view raw);
// The bytes of a Nix base32 text. InvalidArgument when the length is not one
// an encoding has, a character is outside the alphabet, or the unused high
// bits are set.
absl::StatusOr<std::string> NixBase32Decode(std::string_view text);

std::string HexEncode(std::string_view raw);
// Upper- or lowercase hex digits, an even number of them.
absl::StatusOr<std::string> HexDecode(std::string_view text);

// Standard base64 with '=' padding.
std::string Base64Encode(std::string_view raw);
// Standard padded base64 only, canonical (unused bits of the last character
// zero): no whitespace, no URL-safe alphabet, no missing padding.
absl::StatusOr<std::string> Base64Decode(std::string_view text);
// Characters of the padded base64 text of `raw_size` bytes.
constexpr size_t Base64Length(size_t raw_size) { return (raw_size + 2) / 3 * 4; }

// For error messages: the text quoted, cut at 80 characters, non-printable
// bytes escaped.
std::string QuoteText(std::string_view text);

}  // namespace castor::nix
