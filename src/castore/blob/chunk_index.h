// ChunkIndex: the server side of chunked random access. For a blob bigger
// than a threshold it computes (once, by one pass over the blob) a
// ChunkLayout of fixed-size chunks, keeps the most recently used layouts in
// memory (LayoutCache, bounded by their total number of chunks), and serves
// each chunk of a known layout as a blob of its own (a range of the stored
// blob, read through the store's own checks), so that a client — castor's,
// or tvix's, for which chunks are blobs — can Read it by its digest.
// Nothing is persisted: after a restart a chunk digest is unknown until its
// blob's layout is asked for again. Thread-safe; concurrent callers asking
// for the same layout wait for one computation.
#pragma once

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "castore/blob/blob_service.h"
#include "castore/blob/chunk_layout.h"
#include "castore/blob/layout_cache.h"

namespace castor::castore {

class ChunkIndex {
 public:
  struct Options {
    // Blobs bigger than this are laid out in chunks (must exceed chunk_size).
    uint64_t min_blob_size = 4 << 20;
    // A power of two of at least 1 KiB. Doubled for a blob that would have
    // more than max_chunks_per_blob chunks (so a Stat answer stays a few MiB);
    // a blob that would need chunks over kMaxLayoutChunkSize is not laid out.
    uint64_t chunk_size = 1 << 20;
    uint64_t max_chunks_per_blob = 1 << 16;
    // Layouts are forgotten, least recently used first, beyond this many
    // chunks in total (about 100 bytes each).
    uint64_t max_chunks = 1 << 18;
  };

  explicit ChunkIndex(std::shared_ptr<BlobService> blobs)
      : ChunkIndex(std::move(blobs), Options{}) {}
  ChunkIndex(std::shared_ptr<BlobService> blobs, Options options);

  const Options& options() const { return options_; }

  // The layout of blob `digest`, open in `reader` (which need not check what
  // it reads: laying a blob out hashes all of it): null when the blob is not
  // bigger than min_blob_size. DataLoss when the stored bytes do not hash to
  // the digest; the reader's errors otherwise.
  absl::StatusOr<std::shared_ptr<const ChunkLayout>> Layout(const B3Digest& digest,
                                                            const BlobReader& reader);

  // Whether `chunk` is a chunk of a layout held in memory.
  bool HasChunk(const B3Digest& chunk);

  // A reader of the bytes of `chunk` (a range of its blob, not verified by
  // this reader), or null when no layout held in memory has it.
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenChunk(const B3Digest& chunk);

 private:
  // Where a chunk's bytes are: a range of a stored blob.
  struct ChunkRef {
    B3Digest blob;
    uint64_t offset;
    uint64_t size;
  };

  // Makes every chunk of `layout` findable (again, after another blob that
  // shares chunks was evicted).
  void IndexChunks(const ChunkLayout& layout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<BlobService> blobs_;
  const Options options_;
  LayoutCache layouts_;
  castor::Mutex mu_;
  absl::flat_hash_map<B3Digest, ChunkRef> chunks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::castore
