#include "nix/hash.h"

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {
namespace {

const EVP_MD* Md(HashAlgo algo) {
  switch (algo) {
    case HashAlgo::kMd5:
      return EVP_md5();
    case HashAlgo::kSha1:
      return EVP_sha1();
    case HashAlgo::kSha256:
      return EVP_sha256();
    case HashAlgo::kSha512:
      return EVP_sha512();
  }
  CASTOR_CHECK(false);
  return nullptr;
}

}  // namespace

std::string_view HashAlgoName(HashAlgo algo) {
  switch (algo) {
    case HashAlgo::kMd5:
      return "md5";
    case HashAlgo::kSha1:
      return "sha1";
    case HashAlgo::kSha256:
      return "sha256";
    case HashAlgo::kSha512:
      return "sha512";
  }
  CASTOR_CHECK(false);
  return "";
}

absl::StatusOr<HashAlgo> ParseHashAlgo(std::string_view name) {
  for (HashAlgo a : {HashAlgo::kMd5, HashAlgo::kSha1, HashAlgo::kSha256, HashAlgo::kSha512}) {
    if (name == HashAlgoName(a)) return a;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown hash algorithm ", QuoteText(name),
                                                 ": expected md5, sha1, sha256 or sha512"));
}

size_t HashSize(HashAlgo algo) {
  switch (algo) {
    case HashAlgo::kMd5:
      return 16;
    case HashAlgo::kSha1:
      return 20;
    case HashAlgo::kSha256:
      return 32;
    case HashAlgo::kSha512:
      return 64;
  }
  CASTOR_CHECK(false);
  return 0;
}

absl::StatusOr<NixHash> NixHash::FromDigest(HashAlgo algo, std::string_view digest) {
  if (digest.size() != HashSize(algo)) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbslView(HashAlgoName(algo)),
                                                   " digest must be ", HashSize(algo),
                                                   " bytes, got ", digest.size()));
  }
  return NixHash(algo, std::string(digest));
}

absl::StatusOr<NixHash> NixHash::ParseDigest(HashAlgo algo, std::string_view text) {
  const size_t size = HashSize(algo);
  absl::StatusOr<std::string> raw;
  if (text.size() == 2 * size) {
    raw = HexDecode(text);
  } else if (text.size() == NixBase32Length(size)) {
    raw = NixBase32Decode(text);
  } else if (text.size() == Base64Length(size)) {
    raw = Base64Decode(text);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", ToAbslView(HashAlgoName(algo)), " digest ", QuoteText(text), ": ",
                     text.size(), " characters; expected ", 2 * size, " (hex), ",
                     NixBase32Length(size), " (Nix base32) or ", Base64Length(size), " (base64)"));
  }
  if (!raw.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", ToAbslView(HashAlgoName(algo)),
                                                   " digest: ", raw.status().message()));
  }
  // Unpadded base64 of the padded length decodes to more bytes.
  if (raw->size() != size) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", ToAbslView(HashAlgoName(algo)),
                                                   " digest ", QuoteText(text), ": ", raw->size(),
                                                   " bytes, expected ", size));
  }
  return NixHash(algo, *std::move(raw));
}

absl::StatusOr<NixHash> NixHash::Parse(std::string_view text) {
  size_t colon = text.find(':');
  if (colon != std::string_view::npos) {
    ASSIGN_OR_RETURN(HashAlgo algo, ParseHashAlgo(text.substr(0, colon)));
    return ParseDigest(algo, text.substr(colon + 1));
  }
  size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    ASSIGN_OR_RETURN(HashAlgo algo, ParseHashAlgo(text.substr(0, dash)));
    std::string_view b64 = text.substr(dash + 1);
    absl::StatusOr<std::string> raw = Base64Decode(b64);
    if (!raw.ok() || raw->size() != HashSize(algo)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid SRI hash ", QuoteText(text), ": expected ", ToAbslView(HashAlgoName(algo)),
          "- and ", Base64Length(HashSize(algo)), " characters of base64"));
    }
    return NixHash(algo, *std::move(raw));
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid hash ", QuoteText(text),
                                                 ": expected <algo>:<digest> or <algo>-<base64>"));
}

NixHash NixHash::Of(HashAlgo algo, std::string_view data) {
  Hasher h(algo);
  h.Update(data);
  return h.Finish();
}

std::string NixHash::ToNixBase32() const {
  return absl::StrCat(ToAbslView(HashAlgoName(algo_)), ":", NixBase32Encode(digest_));
}
std::string NixHash::ToSri() const {
  return absl::StrCat(ToAbslView(HashAlgoName(algo_)), "-", Base64Encode(digest_));
}
std::string NixHash::ToHex() const {
  return absl::StrCat(ToAbslView(HashAlgoName(algo_)), ":", HexEncode(digest_));
}
std::string NixHash::DigestNixBase32() const { return NixBase32Encode(digest_); }

Hasher::Hasher(HashAlgo algo) : algo_(algo), ctx_(EVP_MD_CTX_new()) {
  CASTOR_CHECK(ctx_ != nullptr);
  CASTOR_CHECK(EVP_DigestInit_ex(ctx_, Md(algo_), nullptr) == 1);
}

Hasher::~Hasher() { EVP_MD_CTX_free(ctx_); }

void Hasher::Update(std::string_view data) {
  CASTOR_CHECK(EVP_DigestUpdate(ctx_, data.data(), data.size()) == 1);
}

NixHash Hasher::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CASTOR_CHECK(EVP_DigestFinal_ex(ctx_, out, &len) == 1);
  CASTOR_CHECK(len == HashSize(algo_));
  CASTOR_CHECK(EVP_DigestInit_ex(ctx_, Md(algo_), nullptr) == 1);
  return *NixHash::FromDigest(algo_, std::string_view(reinterpret_cast<const char*>(out), len));
}

absl::Status HashingSink::Write(std::string_view data) {
  hasher_.Update(data);
  bytes_ += data.size();
  return downstream_ != nullptr ? downstream_->Write(data) : absl::OkStatus();
}

absl::StatusOr<size_t> HashingSource::Read(std::span<char> buf) {
  ASSIGN_OR_RETURN(size_t n, upstream_.Read(buf));
  hasher_.Update(std::string_view(buf.data(), n));
  bytes_ += n;
  return n;
}

}  // namespace castor::nix
