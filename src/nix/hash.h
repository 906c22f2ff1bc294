// NixHash: a digest with its algorithm (md5, sha1, sha256, sha512) in the
// text forms Nix reads and writes: "<algo>:<digest>" with the digest in
// lowercase hex, Nix base32 or base64 (told apart by their length, as Nix
// does), and SRI "<algo>-<base64>". Hasher computes one incrementally with
// OpenSSL's EVP interface; HashingSink and HashingSource hash (and count) the
// bytes that pass through them. NixHash is an immutable value
// (thread-compatible); the hashers belong to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nix/io.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace castor::nix {

enum class HashAlgo { kMd5, kSha1, kSha256, kSha512 };

// "md5", "sha1", "sha256", "sha512".
std::string_view HashAlgoName(HashAlgo algo);
// From one of those names; InvalidArgument naming the text otherwise.
absl::StatusOr<HashAlgo> ParseHashAlgo(std::string_view name);
// Digest size in bytes: 16, 20, 32, 64.
size_t HashSize(HashAlgo algo);

class NixHash {
 public:
  // From raw digest bytes, which must be HashSize(algo) long.
  static absl::StatusOr<NixHash> FromDigest(HashAlgo algo, std::string_view digest);
  // "<algo>:<hex | nixbase32 | base64>" or SRI "<algo>-<base64>".
  // InvalidArgument naming the text for anything else.
  static absl::StatusOr<NixHash> Parse(std::string_view text);
  // A digest of known algorithm without prefix, in hex, Nix base32 or base64
  // (by length).
  static absl::StatusOr<NixHash> ParseDigest(HashAlgo algo, std::string_view text);
  // The digest of `data`.
  static NixHash Of(HashAlgo algo, std::string_view data);

  HashAlgo algo() const { return algo_; }
  const std::string& digest() const { return digest_; }

  // "sha256:<nixbase32>": the form of narinfo and store path computations.
  std::string ToNixBase32() const;
  // "sha256-<base64>" (SRI).
  std::string ToSri() const;
  // "sha256:<hex>".
  std::string ToHex() const;
  // The digest alone, Nix base32 (no prefix).
  std::string DigestNixBase32() const;

  friend bool operator==(const NixHash&, const NixHash&) = default;

 private:
  NixHash(HashAlgo algo, std::string digest) : algo_(algo), digest_(std::move(digest)) {}
  HashAlgo algo_;
  std::string digest_;
};

// Incremental hashing (OpenSSL EVP).
class Hasher {
 public:
  explicit Hasher(HashAlgo algo);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(std::string_view data);
  // The digest of everything given since construction or the last Finish;
  // the hasher starts over afterwards.
  NixHash Finish();
  HashAlgo algo() const { return algo_; }

 private:
  HashAlgo algo_;
  EVP_MD_CTX* ctx_;
};

// Hashes and counts what it is given, passing it on to `downstream` (when
// not null) after hashing.
class HashingSink : public ByteSink {
 public:
  explicit HashingSink(HashAlgo algo, ByteSink* downstream = nullptr)
      : hasher_(algo), downstream_(downstream) {}
  absl::Status Write(std::string_view data) override;
  uint64_t bytes() const { return bytes_; }
  NixHash Finish() { return hasher_.Finish(); }

 private:
  Hasher hasher_;
  ByteSink* downstream_;
  uint64_t bytes_ = 0;
};

// Hashes and counts what is read through it from `upstream`.
class HashingSource : public ByteSource {
 public:
  HashingSource(HashAlgo algo, ByteSource& upstream) : hasher_(algo), upstream_(upstream) {}
  absl::StatusOr<size_t> Read(std::span<char> buf) override;
  uint64_t bytes() const { return bytes_; }
  NixHash Finish() { return hasher_.Finish(); }

 private:
  Hasher hasher_;
  ByteSource& upstream_;
  uint64_t bytes_ = 0;
};

}  // namespace castor::nix
