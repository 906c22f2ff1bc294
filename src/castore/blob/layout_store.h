// LayoutStore: chunk layouts kept on disk, one file per blob
// (DIR/<blob digest in hex>), so that a cache in front of a remote store
// (CachingBlobService) can open a blob it has read part of again, after a
// restart, without asking the remote for its chunk list and outboard: a
// reader built from a kept layout fetches only the chunks a read needs, and
// none that the cache holds already.
//
// A kept layout is never trusted: Load checks it against the blob digest as
// a layout received from a remote is checked (VerifyChunkLayout: the
// outboard's CVs must hash to the digest, the chunk sizes must add up), and
// a file that does not check out is removed and reported as absent. Files
// are written whole (temporary file, then rename), so a crash leaves either
// no file or a complete one. A layout takes about 40 bytes per stored chunk
// plus 32 per group (about 0.15% of a blob stored in 256 KiB chunks).
// Thread-safe (every call works on its own file).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "castore/blob/chunk_layout.h"

namespace castor::castore {

class LayoutStore {
 public:
  // Creates `dir` when missing.
  static absl::StatusOr<std::unique_ptr<LayoutStore>> Open(std::string dir);

  // The kept layout of `digest`, checked against it; null when none is kept
  // (or the kept one did not check out: it is removed).
  absl::StatusOr<std::shared_ptr<const ChunkLayout>> Load(const B3Digest& digest) const;

  // Keeps `layout` (already checked against its digest). A layout without
  // stored chunks or without group CVs (one group: nothing to look up) is
  // not kept.
  absl::Status Save(const ChunkLayout& layout) const;

  const std::string& dir() const { return dir_; }

 private:
  explicit LayoutStore(std::string dir) : dir_(std::move(dir)) {}
  std::string PathOf(const B3Digest& digest) const;

  const std::string dir_;
};

}  // namespace castor::castore
