// PathInfo: what castor knows about one Nix store path: its castore node
// (the contents), references, the NAR's size and SHA-256, signatures,
// deriver and content address. A validated value (thread-compatible),
// convertible to tvix's `tvix.store.v1.PathInfo` and to a narinfo.
//
// Rules, checked by Create and on every decode (InvalidArgument naming the
// store path and the rule):
//   - the store path, references and deriver are valid store paths
//     (store_path.h); references appear once each (kept in the given
//     order); the deriver's name ends in ".drv" with a valid name before it
//     (the proto keeps the name without ".drv");
//   - the NAR size is not 0 and the NAR hash is sha256;
//   - signatures are 64 bytes with valid key names (signing.h);
//   - in the proto, the node's name is the store path's base name, every
//     reference is 20 bytes, narinfo is present, reference_names match the
//     references one to one (same count, same digests), the CA type is known
//     and its digest has the length of its algorithm.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/node.h"
#include "nix/content_address.h"
#include "nix/hash.h"
#include "nix/narinfo.h"
#include "nix/signing.h"
#include "nix/store_path.h"

namespace tvix::store::v1 {
class PathInfo;
}

namespace castor::nix {

class PathInfo {
 public:
  struct Fields {
    StorePath store_path;
    castore::Node node;
    std::vector<StorePath> references;
    uint64_t nar_size = 0;
    NixHash nar_sha256;
    std::vector<Signature> signatures;
    std::optional<StorePath> deriver;
    std::optional<ContentAddress> ca;
    friend bool operator==(const Fields&, const Fields&) = default;
  };

  static absl::StatusOr<PathInfo> Create(Fields fields);
  // From untrusted protobuf (a peer's Put, a stored value).
  static absl::StatusOr<PathInfo> FromProto(const tvix::store::v1::PathInfo& proto);
  static absl::StatusOr<PathInfo> Decode(std::string_view bytes);
  // From a narinfo and the node holding the NAR's contents (the NAR itself
  // is not checked here: whoever imported it computed nar_size and
  // nar_sha256 and compares them with the narinfo's).
  static absl::StatusOr<PathInfo> FromNarInfo(const NarInfo& narinfo, castore::Node node);

  const StorePath& store_path() const { return f_.store_path; }
  const castore::Node& node() const { return f_.node; }
  const std::vector<StorePath>& references() const { return f_.references; }
  uint64_t nar_size() const { return f_.nar_size; }
  const NixHash& nar_sha256() const { return f_.nar_sha256; }
  const std::vector<Signature>& signatures() const { return f_.signatures; }
  const std::optional<StorePath>& deriver() const { return f_.deriver; }
  const std::optional<ContentAddress>& ca() const { return f_.ca; }
  const Fields& fields() const { return f_; }

  tvix::store::v1::PathInfo ToProto() const;
  std::string Encode() const;

  // The narinfo of this path for a NAR served at `url` with `compression`
  // (file hash and size when known).
  NarInfo ToNarInfo(std::string url, std::string compression,
                    std::optional<NixHash> file_hash = std::nullopt,
                    std::optional<uint64_t> file_size = std::nullopt) const;
  // The signature fingerprint (narinfo.h).
  std::string Fingerprint(std::string_view store_dir = kDefaultStoreDir) const;
  // A copy with key's signature added (replacing one by the same key name).
  PathInfo WithSignature(const SecretKey& key, std::string_view store_dir = kDefaultStoreDir) const;

  friend bool operator==(const PathInfo& a, const PathInfo& b) { return a.f_ == b.f_; }

 private:
  explicit PathInfo(Fields f) : f_(std::move(f)) {}
  Fields f_;
};

}  // namespace castor::nix
