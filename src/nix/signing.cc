#include "nix/signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// Splits "<name>:<base64>" and decodes the base64 to exactly `size` bytes.
absl::StatusOr<std::pair<std::string, std::string>> SplitNamed(std::string_view text, size_t size,
                                                               std::string_view what) {
  size_t colon = text.find(':');
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", ToAbslView(what), " ", QuoteText(text), ": ", ToAbslView(why)));
  };
  if (colon == std::string_view::npos) return bad("expected <name>:<base64>");
  std::string_view name = text.substr(0, colon);
  absl::Status name_ok = ValidateKeyName(name);
  if (!name_ok.ok()) return bad(ToStdView(name_ok.message()));
  absl::StatusOr<std::string> raw = Base64Decode(text.substr(colon + 1));
  if (!raw.ok()) return bad(ToStdView(raw.status().message()));
  if (raw->size() != size) {
    return bad(absl::StrCat("expected ", size, " bytes, got ", raw->size()));
  }
  return std::make_pair(std::string(name), *std::move(raw));
}

template <size_t N>
std::array<uint8_t, N> ToArray(std::string_view s) {
  std::array<uint8_t, N> a;
  CASTOR_CHECK(s.size() == N);
  std::memcpy(a.data(), s.data(), N);
  return a;
}

template <size_t N>
std::string_view View(const std::array<uint8_t, N>& a) {
  return {reinterpret_cast<const char*>(a.data()), N};
}

}  // namespace

absl::Status ValidateKeyName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("key name ", QuoteText(name), " must be 1 to 128 characters"));
  }
  for (char c : name) {
    if (c <= ' ' || c > '~' || c == ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "key name ", QuoteText(name), " may hold only printable ASCII without ':' or spaces"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Signature> Signature::Create(std::string_view key_name, std::string_view bytes) {
  RETURN_IF_ERROR(ValidateKeyName(key_name));
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature must be ", kSize, " bytes, got ", bytes.size()));
  }
  return Signature(std::string(key_name), ToArray<kSize>(bytes));
}

absl::StatusOr<Signature> Signature::Parse(std::string_view text) {
  ASSIGN_OR_RETURN(auto parts, SplitNamed(text, kSize, "signature"));
  return Signature(std::move(parts.first), ToArray<kSize>(parts.second));
}

std::string Signature::ToString() const {
  return absl::StrCat(key_name_, ":", Base64Encode(bytes_view()));
}

absl::StatusOr<PublicKey> PublicKey::Parse(std::string_view text) {
  ASSIGN_OR_RETURN(auto parts, SplitNamed(text, kSize, "public key"));
  return PublicKey(std::move(parts.first), ToArray<kSize>(parts.second));
}

std::string PublicKey::ToString() const {
  return absl::StrCat(name_, ":", Base64Encode(View(key_)));
}

bool PublicKey::Verify(std::string_view message, const Signature& signature) const {
  if (signature.key_name() != name_) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key_.data(), key_.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  if (key == nullptr || ctx == nullptr) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature.bytes().data(), signature.bytes().size(),
                          reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

absl::StatusOr<std::array<uint8_t, PublicKey::kSize>> SecretKey::Derive(
    const std::array<uint8_t, kSeedSize>& seed) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  std::array<uint8_t, PublicKey::kSize> pub;
  size_t len = pub.size();
  if (key == nullptr || EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 ||
      len != pub.size()) {
    return absl::InternalError("OpenSSL could not derive an Ed25519 public key");
  }
  return pub;
}

absl::StatusOr<SecretKey> SecretKey::Parse(std::string_view text) {
  // Never echo a secret key in an error: name the key only.
  size_t colon = text.find(':');
  std::string name(text.substr(0, colon == std::string_view::npos ? 0 : colon));
  auto parts = SplitNamed(text, kSeedSize + PublicKey::kSize, "secret key");
  if (!parts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid secret key ", QuoteText(name),
                     ": expected <name>:<base64 of 64 bytes> (nix-store "
                     "--generate-binary-cache-key)"));
  }
  std::string_view raw = parts->second;
  auto seed = ToArray<kSeedSize>(raw.substr(0, kSeedSize));
  auto stored_pub = ToArray<PublicKey::kSize>(raw.substr(kSeedSize));
  OPENSSL_cleanse(parts->second.data(), parts->second.size());
  ASSIGN_OR_RETURN(auto pub, Derive(seed));
  if (pub != stored_pub) {
    OPENSSL_cleanse(seed.data(), seed.size());
    return absl::InvalidArgumentError(absl::StrCat("invalid secret key ", QuoteText(name),
                                                   ": its public half does not match its seed"));
  }
  SecretKey key(std::move(parts->first), seed, PublicKey(name, pub));
  OPENSSL_cleanse(seed.data(), seed.size());
  return key;
}

absl::StatusOr<SecretKey> SecretKey::Generate(std::string_view name) {
  RETURN_IF_ERROR(ValidateKeyName(name));
  std::array<uint8_t, kSeedSize> seed;
  if (RAND_bytes(seed.data(), seed.size()) != 1) {
    return absl::UnavailableError("no random bytes for a new key");
  }
  ASSIGN_OR_RETURN(auto pub, Derive(seed));
  SecretKey key(std::string(name), seed, PublicKey(std::string(name), pub));
  OPENSSL_cleanse(seed.data(), seed.size());
  return key;
}

SecretKey::~SecretKey() { OPENSSL_cleanse(seed_.data(), seed_.size()); }

std::string SecretKey::ToString() const {
  std::string raw = absl::StrCat(ToAbslView(View(seed_)), ToAbslView(View(public_key_.key_)));
  std::string out = absl::StrCat(name_, ":", Base64Encode(raw));
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

Signature SecretKey::Sign(std::string_view message) const {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed_.data(), seed_.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  CASTOR_CHECK(key != nullptr && ctx != nullptr);
  CASTOR_CHECK(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1);
  Signature::Bytes sig;
  size_t len = sig.size();
  CASTOR_CHECK(EVP_DigestSign(ctx.get(), sig.data(), &len,
                              reinterpret_cast<const unsigned char*>(message.data()),
                              message.size()) == 1);
  CASTOR_CHECK(len == sig.size());
  return *Signature::Create(name_, View(sig));
}

void AddOrReplaceSignature(std::vector<Signature>& sigs, Signature sig) {
  std::erase_if(sigs, [&](const Signature& s) { return s.key_name() == sig.key_name(); });
  sigs.push_back(std::move(sig));
}

}  // namespace castor::nix
