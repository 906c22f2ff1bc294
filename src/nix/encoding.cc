#include "nix/encoding.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/hex.h"
#include "base/status.h"

namespace castor::nix {
namespace {

// Value of a Nix base32 character, -1 outside the alphabet.
int NixBase32Value(char c) {
  size_t pos = kNixBase32Alphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

}  // namespace

std::string QuoteText(std::string_view text) {
  constexpr size_t kShown = 80;
  std::string shown = absl::CHexEscape(ToAbslView(text.substr(0, kShown)));
  if (text.size() > kShown) absl::StrAppend(&shown, "...");
  return absl::StrCat("'", shown, "'");
}

std::string NixBase32Encode(std::string_view raw) {
  const size_t len = NixBase32Length(raw.size());
  const size_t bits = raw.size() * 8;
  std::string out(len, '0');
  for (size_t i = 0; i < len; ++i) {
    size_t group = len - 1 - i;  // the first character is the most significant group
    unsigned value = 0;
    for (unsigned t = 0; t < 5; ++t) {
      size_t k = group * 5 + t;
      if (k < bits && (static_cast<uint8_t>(raw[k / 8]) >> (k % 8)) & 1) value |= 1u << t;
    }
    out[i] = kNixBase32Alphabet[value];
  }
  return out;
}

absl::StatusOr<std::string> NixBase32Decode(std::string_view text) {
  const size_t raw_size = text.size() * 5 / 8;
  if (NixBase32Length(raw_size) != text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid Nix base32 ", QuoteText(text), ": ",
                                                   text.size(),
                                                   " characters is no encoded length"));
  }
  const size_t bits = raw_size * 8;
  std::string raw(raw_size, '\0');
  for (size_t i = 0; i < text.size(); ++i) {
    int value = NixBase32Value(text[i]);
    if (value < 0) {
      return absl::InvalidArgumentError(absl::StrCat("invalid Nix base32 ", QuoteText(text),
                                                     ": character ", i, " is not in ",
                                                     ToAbslView(kNixBase32Alphabet)));
    }
    size_t group = text.size() - 1 - i;
    for (unsigned t = 0; t < 5; ++t) {
      if (((value >> t) & 1) == 0) continue;
      size_t k = group * 5 + t;
      if (k >= bits) {
        return absl::InvalidArgumentError(absl::StrCat("invalid Nix base32 ", QuoteText(text),
                                                       ": value exceeds ", raw_size, " bytes"));
      }
      raw[k / 8] = static_cast<char>(static_cast<uint8_t>(raw[k / 8]) | (1u << (k % 8)));
    }
  }
  return raw;
}

std::string HexEncode(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(raw.size() * 2, '0');
  for (size_t i = 0; i < raw.size(); ++i) {
    out[2 * i] = kDigits[static_cast<uint8_t>(raw[i]) >> 4];
    out[2 * i + 1] = kDigits[static_cast<uint8_t>(raw[i]) & 0xf];
  }
  return out;
}

absl::StatusOr<std::string> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid hex ", QuoteText(text), ": odd number of digits"));
  }
  std::string raw(text.size() / 2, '\0');
  for (size_t i = 0; i < text.size(); ++i) {
    int v = HexDigitValue(text[i]);
    if (v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid hex ", QuoteText(text), ": character ", i, " is not a hex digit"));
    }
    raw[i / 2] = static_cast<char>(static_cast<uint8_t>(raw[i / 2]) | (v << (i % 2 == 0 ? 4 : 0)));
  }
  return raw;
}

std::string Base64Encode(std::string_view raw) { return absl::Base64Escape(ToAbslView(raw)); }

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  std::string raw;
  // absl accepts unpadded and whitespace-containing input too; the
  // round-trip check below keeps only the canonical padded form.
  if (text.size() % 4 != 0 || !absl::Base64Unescape(ToAbslView(text), &raw) ||
      Base64Encode(raw) != text) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid base64 ", QuoteText(text), ": expected standard padded base64"));
  }
  return raw;
}

}  // namespace castor::nix
