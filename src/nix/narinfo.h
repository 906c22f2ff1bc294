// NarInfo: the .narinfo file of a Nix binary cache, parsed strictly and
// rendered as Nix renders it, and its signature fingerprint.
//
// Format: lines "Key: value\n", every line ending in '\n'. Fields:
//   StorePath    absolute store path (required)
//   URL          where the (compressed) NAR is, relative to the cache (required)
//   Compression  none, xz, bzip2, zstd, ... (absent: bzip2, Nix's default)
//   FileHash     sha256 of the compressed NAR; FileSize its size
//   NarHash      sha256 of the NAR (required); NarSize its size (> 0, required)
//   References   space-separated base names of the referenced store paths
//   Deriver      base name of the .drv ("unknown-deriver": none)
//   System       the platform (old narinfos)
//   Sig          "<key name>:<base64>", repeatable
//   CA           content address (content_address.h)
// Parsing refuses a missing required field, a repeated field other than
// Sig, a malformed value, a line without ": " or a final newline, and hashes
// other than sha256 (all InvalidArgument naming the field or line). Unknown
// fields are skipped, as Nix skips them. References are kept sorted (Nix
// keeps a set; the fingerprint lists them sorted), duplicates refused.
//
// The fingerprint that Sig signs is
//   1;<store path>;<NarHash as sha256:nixbase32>;<NarSize>;<references as
//   absolute paths, sorted, comma-separated>
// A NarInfo is a value (thread-compatible).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nix/content_address.h"
#include "nix/hash.h"
#include "nix/signing.h"
#include "nix/store_path.h"

namespace castor::nix {

struct NarInfo {
  StorePath store_path;
  std::string url;
  std::string compression = "bzip2";
  std::optional<NixHash> file_hash;
  std::optional<uint64_t> file_size;
  NixHash nar_hash;
  uint64_t nar_size = 0;
  std::vector<StorePath> references;  // sorted, unique
  std::optional<StorePath> deriver;
  std::optional<std::string> system;
  std::vector<Signature> signatures;
  std::optional<ContentAddress> ca;

  static absl::StatusOr<NarInfo> Parse(std::string_view text,
                                       std::string_view store_dir = kDefaultStoreDir);
  // The narinfo text, fields in Nix's order. References are written sorted.
  std::string Render(std::string_view store_dir = kDefaultStoreDir) const;
  std::string Fingerprint(std::string_view store_dir = kDefaultStoreDir) const;
  // Adds key's signature of the fingerprint (replacing one by the same key).
  void Sign(const SecretKey& key, std::string_view store_dir = kDefaultStoreDir);
  // How many signatures verify under one of `keys` (each key counts once).
  size_t CountValidSignatures(std::span<const PublicKey> keys,
                              std::string_view store_dir = kDefaultStoreDir) const;
};

// The fingerprint of a path with these facts (references in any order).
// `nar_hash` must be sha256 (CHECKed: callers hold validated values).
std::string Fingerprint(const StorePath& path, const NixHash& nar_hash, uint64_t nar_size,
                        std::span<const StorePath> references,
                        std::string_view store_dir = kDefaultStoreDir);

}  // namespace castor::nix
