#include "nix/store_path.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '-' || c == '.' || c == '_' || c == '?' || c == '=';
}

}  // namespace

absl::Status ValidateStoreDir(std::string_view store_dir) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid store directory ", QuoteText(store_dir), ": ", ToAbslView(why)));
  };
  if (store_dir.empty() || store_dir[0] != '/') return bad("not an absolute path");
  if (store_dir.size() == 1) return bad("the root directory cannot be a store");
  if (store_dir.back() == '/') return bad("trailing slash");
  if (store_dir.find("//") != std::string_view::npos) return bad("empty path component");
  if (store_dir.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
  return absl::OkStatus();
}

absl::Status ValidateStorePathName(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid store path name ", QuoteText(name), ": ", ToAbslView(why)));
  };
  if (name.empty()) return bad("empty");
  if (name.size() > StorePath::kMaxNameLength) {
    return bad(absl::StrCat(name.size(), " characters, at most ", StorePath::kMaxNameLength,
                            " are allowed"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i])) {
      return bad(
          absl::StrCat("character ", i, " is not allowed (only A-Z a-z 0-9 and + - . _ ? =)"));
    }
  }
  std::string_view first = name.substr(0, name.find('-'));
  if (first == "." || first == "..") {
    return bad(absl::StrCat("its first dash-separated part must not be '", ToAbslView(first), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<StorePath> StorePath::FromDigestAndName(std::string_view digest,
                                                       std::string_view name) {
  if (digest.size() != kDigestSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("store path digest must be ", kDigestSize, " bytes, got ", digest.size()));
  }
  RETURN_IF_ERROR(ValidateStorePathName(name));
  Digest d;
  std::memcpy(d.data(), digest.data(), kDigestSize);
  return StorePath(d, std::string(name));
}

absl::StatusOr<StorePath> StorePath::FromBaseName(std::string_view base_name) {
  if (base_name.size() < kHashLength + 2 || base_name[kHashLength] != '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid store path base name ", QuoteText(base_name),
                     ": expected a 32-character hash, '-' and a name"));
  }
  absl::StatusOr<std::string> digest = NixBase32Decode(base_name.substr(0, kHashLength));
  if (!digest.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid store path base name ",
                                                   QuoteText(base_name),
                                                   ": hash part: ", digest.status().message()));
  }
  auto path = FromDigestAndName(*digest, base_name.substr(kHashLength + 1));
  if (!path.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid store path base name ", QuoteText(base_name), ": ", path.status().message()));
  }
  return path;
}

absl::StatusOr<StorePath> StorePath::FromAbsolutePath(std::string_view path,
                                                      std::string_view store_dir) {
  RETURN_IF_ERROR(ValidateStoreDir(store_dir));
  if (!path.starts_with(store_dir) || path.size() <= store_dir.size() ||
      path[store_dir.size()] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("invalid store path ", QuoteText(path),
                                                   ": not in the store directory ",
                                                   QuoteText(store_dir)));
  }
  std::string_view base = path.substr(store_dir.size() + 1);
  if (base.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid store path ", QuoteText(path), ": not a direct child of ", QuoteText(store_dir)));
  }
  auto parsed = FromBaseName(base);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid store path ", QuoteText(path), ": ", parsed.status().message()));
  }
  return parsed;
}

std::string StorePath::HashPart() const { return NixBase32Encode(digest_bytes()); }

std::string StorePath::BaseName() const { return absl::StrCat(HashPart(), "-", name_); }

std::string StorePath::ToAbsolutePath(std::string_view store_dir) const {
  return absl::StrCat(ToAbslView(store_dir), "/", BaseName());
}

std::strong_ordering operator<=>(const StorePath& a, const StorePath& b) {
  int c = a.BaseName().compare(b.BaseName());
  return c < 0   ? std::strong_ordering::less
         : c > 0 ? std::strong_ordering::greater
                 : std::strong_ordering::equal;
}

}  // namespace castor::nix
