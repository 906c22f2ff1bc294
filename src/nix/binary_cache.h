// Reading a Nix binary cache, and substituting paths from one into castor
// (`castor nix copy --from URL`).
//
// BinaryCache reads a cache's files: file:///dir (a cache `nix copy --to
// file://` wrote) or http(s)://host/prefix (libcurl; redirects followed,
// connect timeout and a stall timeout, so a dead server fails instead of
// hanging). Files stream: a NAR is never held whole.
//
// Substitute copies store paths and their closure (references followed,
// each path once, dependencies added first): for each path it reads the
// narinfo, checks its signatures against the trusted keys (refused unless
// at least one verifies, or check_signatures is off), streams the NAR
// through decompression (bounded by its NarSize) into castore (ImportNar),
// checks FileHash/FileSize when the narinfo has them and always NarHash and
// NarSize, and adds the path (NixStore::Add, signatures kept). Paths the
// store has already are skipped. Thread-safety: a BinaryCache may be used
// by one thread at a time; Substitute is thread-safe when the store is.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nix/io.h"
#include "nix/signing.h"
#include "nix/store.h"
#include "nix/store_path.h"

namespace castor::nix {

class BinaryCache {
 public:
  virtual ~BinaryCache() = default;

  // file://, http:// or https://; InvalidArgument naming the URL otherwise.
  static absl::StatusOr<std::unique_ptr<BinaryCache>> Open(std::string_view url);

  // The file at `path` (relative to the cache) as a stream; NotFound naming
  // the URL when the cache has no such file.
  virtual absl::StatusOr<std::unique_ptr<ByteSource>> OpenFile(std::string_view path) = 0;

  // A small file whole: nullopt when absent; ResourceExhausted past `limit`.
  absl::StatusOr<std::optional<std::string>> ReadFile(std::string_view path, uint64_t limit);

  // The URL of `path`, for messages.
  virtual std::string UrlOf(std::string_view path) const = 0;
};

struct SubstituteOptions {
  std::vector<PublicKey> trusted_keys;
  bool check_signatures = true;
  // Called after each path is added (for progress output).
  std::function<void(const PathInfo&)> added;
};

struct SubstituteStats {
  uint64_t paths_added = 0;
  uint64_t paths_present = 0;  // already in the store
  uint64_t nar_bytes = 0;      // NAR bytes imported
  uint64_t file_bytes = 0;     // bytes downloaded (compressed)
};

absl::StatusOr<SubstituteStats> Substitute(BinaryCache& cache, const NixStore& store,
                                           const std::vector<StorePath>& paths,
                                           const SubstituteOptions& options);

}  // namespace castor::nix
