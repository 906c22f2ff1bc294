// BoundedBlobStore: the local store of a cache (`--cache DIR`, see
// caching_blob_service.h) kept within a size bound (`--cache-size`).
//
// It wraps the cache's BlobService and tracks every blob in it with its size
// and when it was last used (opened or written). After each write that
// takes the total past the bound, the least recently used blobs are deleted
// until it fits again; a blob bigger than the whole bound is not kept at
// all (its reads go to the remote every time). Blobs with a reader open (a file open through a
// mount) are pinned: never evicted while read; the cache may then hold more
// than the bound, and shrinks back as readers close. A big remote blob
// fetched in chunks keeps each chunk here as a blob of its own, pinned only
// while it is read: under a tight bound its chunks may be evicted and
// fetched again (checked again), never served wrong.
// When the disk itself is full (a write fails with ResourceExhausted:
// ENOSPC, EDQUOT) it evicts down to half of what it holds and the write
// fails once; the caller retries (CachingBlobService does) instead of
// failing the read.
//
// At open, the blobs already in the store are listed and count as used
// before anything used since (in no particular order among themselves):
// recency is not kept across restarts. Outboards beside big blobs are not
// counted (they are 0.4 % of their blob) and go with it. Chunks kept by a
// chunked reader (ChunkedBlobReader::KeepChunksIn) are blobs here like any
// other. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "castore/blob/blob_service.h"

namespace castor::castore {

class BoundedBlobStore : public BlobService {
 public:
  // Lists `inner` (every blob in it counts) and evicts down to `max_bytes`
  // if it holds more. UINT64_MAX: no bound, only the handling of a full disk.
  static absl::StatusOr<std::shared_ptr<BoundedBlobStore>> Open(std::shared_ptr<BlobService> inner,
                                                                uint64_t max_bytes);
  ~BoundedBlobStore() override;

  absl::StatusOr<bool> Has(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenReadUnverified(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override;
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) override;
  absl::StatusOr<std::optional<uint64_t>> StoredSize(const B3Digest& digest) override;
  absl::Status Sync() override;
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override;
  absl::Status Delete(const B3Digest& digest) override;

  // Bytes of the blobs it holds (tests, stats).
  uint64_t used_bytes() const;
  // Blobs it deleted to stay within the bound or to make room (tests, stats).
  uint64_t evicted() const;

  struct State;

 private:
  explicit BoundedBlobStore(std::shared_ptr<State> state);
  absl::StatusOr<std::unique_ptr<BlobReader>> Pin(const B3Digest& digest,
                                                  std::unique_ptr<BlobReader> reader);

  const std::shared_ptr<State> state_;
};

}  // namespace castor::castore
