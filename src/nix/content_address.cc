#include "nix/content_address.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {

absl::StatusOr<ContentAddress> ContentAddress::Create(Method method, NixHash hash) {
  if (method == Method::kText && hash.algo() != HashAlgo::kSha256) {
    return absl::InvalidArgumentError(absl::StrCat("text content addresses use sha256, not ",
                                                   ToAbslView(HashAlgoName(hash.algo()))));
  }
  return ContentAddress(method, std::move(hash));
}

absl::StatusOr<ContentAddress> ContentAddress::Parse(std::string_view text) {
  Method method;
  std::string_view rest;
  if (text.starts_with("text:")) {
    method = Method::kText;
    rest = text.substr(5);
  } else if (text.starts_with("fixed:r:")) {
    method = Method::kNixArchive;
    rest = text.substr(8);
  } else if (text.starts_with("fixed:")) {
    method = Method::kFlat;
    rest = text.substr(6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("invalid content address ", QuoteText(text),
                                                   ": expected text:, fixed: or fixed:r:"));
  }
  // "<algo>:<digest>" only: NixHash::Parse would take SRI too.
  absl::StatusOr<NixHash> hash = rest.find(':') == std::string_view::npos
                                     ? absl::InvalidArgumentError("expected <algo>:<digest>")
                                     : NixHash::Parse(rest);
  absl::StatusOr<ContentAddress> ca =
      hash.ok() ? Create(method, *std::move(hash)) : absl::StatusOr<ContentAddress>(hash.status());
  if (ca.ok()) return ca;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid content address ", QuoteText(text), ": ", ca.status().message()));
}

std::string ContentAddress::ToString() const {
  std::string_view prefix = method_ == Method::kText   ? "text:"
                            : method_ == Method::kFlat ? "fixed:"
                                                       : "fixed:r:";
  return absl::StrCat(ToAbslView(prefix), hash_.ToNixBase32());
}

}  // namespace castor::nix
