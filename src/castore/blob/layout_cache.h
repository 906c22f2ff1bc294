// LayoutCache: ChunkLayouts by blob digest, each computed once and shared.
// Concurrent callers asking for one blob's layout wait for a single
// computation (single flight); a failed computation is not remembered (the
// next caller computes again). The most recently used layouts stay in
// memory, bounded by their total number of chunks (the newest layout stays
// even when it alone is over the bound). Used for the daemon's chunked
// layouts (ChunkIndex) and for the trees of local blobs (LocalBlobService).
// Thread-safe; `compute` runs without the cache's lock held.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "castore/blob/chunk_layout.h"

namespace castor::castore {

class LayoutCache {
 public:
  // Computes a layout; null means "no layout" (returned, not kept).
  using Compute = std::function<absl::StatusOr<std::shared_ptr<const ChunkLayout>>()>;

  explicit LayoutCache(uint64_t max_chunks) : max_chunks_(max_chunks) {}

  // The layout of `digest`: kept, or computed now by `compute` (once for all
  // concurrent callers). `evicted`, when given, receives the layouts this
  // call pushed out of the cache.
  absl::StatusOr<std::shared_ptr<const ChunkLayout>> Get(
      const B3Digest& digest, const Compute& compute,
      std::vector<std::shared_ptr<const ChunkLayout>>* evicted = nullptr);

  // The layouts kept now and their total number of chunks (tests).
  size_t size() const;
  uint64_t chunks() const;

 private:
  struct Entry {
    std::shared_ptr<const ChunkLayout> layout;
    std::list<B3Digest>::iterator lru;
  };

  const uint64_t max_chunks_;
  mutable castor::Mutex mu_;
  absl::flat_hash_map<B3Digest, Entry> layouts_ ABSL_GUARDED_BY(mu_);
  std::list<B3Digest> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  absl::flat_hash_set<B3Digest> computing_ ABSL_GUARDED_BY(mu_);
  uint64_t total_chunks_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace castor::castore
