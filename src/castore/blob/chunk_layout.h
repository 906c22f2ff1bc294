// ChunkLayout: a blob seen as fixed-size chunks aligned to BLAKE3's tree
// (castore/blake3_tree.h), with every chunk's chaining value, which lets a
// reader check one chunk's bytes without the rest of the blob. A daemon's
// layouts also carry each chunk's plain digest (a chunk is a blob of its
// own, as in tvix); a local blob's layout has only the CVs (its chunks are
// ranges of its file). Servers compute layouts (ComputeChunkLayout); clients
// check what a server sent (VerifyChunkLayout); readers check every chunk
// they read (VerifyChunk). Plain values and functions; a ChunkLayout is
// immutable once built and may be shared between threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/blake3_tree.h"
#include "castore/blob/blob_service.h"

namespace castor::castore {

struct ChunkLayout {
  B3Digest digest;          // the whole blob
  uint64_t size = 0;        // the whole blob's size
  uint64_t chunk_size = 0;  // every chunk's but the last (a power of two >= 1 KiB)
  // One per chunk, checked against `digest`. Empty for a blob of one chunk
  // (at most chunk_size bytes), whose bytes are checked against `digest`.
  std::vector<blake3_tree::Cv> cvs;
  // Each chunk's own digest and size, where chunks are blobs of their own
  // (a daemon serves them by these digests); empty otherwise.
  std::vector<ChunkMeta> chunks;

  size_t count() const { return cvs.empty() ? 1 : cvs.size(); }
  uint64_t offset(size_t index) const { return index * chunk_size; }
  uint64_t length(size_t index) const {
    return std::min<uint64_t>(chunk_size, size - offset(index));
  }
};

// The layout of a blob of at most `chunk_size` bytes: one chunk, checked
// against the digest itself.
ChunkLayout SingleChunkLayout(const B3Digest& digest, uint64_t size, uint64_t chunk_size);

// The largest chunk size a client accepts (it holds whole chunks in memory).
inline constexpr uint64_t kMaxLayoutChunkSize = 16 << 20;

// Reads the whole of `reader` once and lays it out in chunks of `chunk_size`
// (a valid group size; the blob must be bigger than one chunk:
// InvalidArgument otherwise), with every chunk's digest when `chunk_digests`.
// DataLoss when the bytes do not hash to `digest`; the reader's errors
// otherwise.
absl::StatusOr<ChunkLayout> ComputeChunkLayout(const BlobReader& reader, const B3Digest& digest,
                                               uint64_t chunk_size, bool chunk_digests = true);

// Checks a chunk list and outboard received for blob `digest`. nullopt when
// they do not describe a layout (no outboard, or chunks that are not
// fixed-size power-of-two pieces, e.g. tvix's content-defined chunks: the
// caller then has to verify the whole blob); DataLoss when they claim one
// that does not check out (sizes that disagree with the outboard, CVs that
// do not hash to `digest`).
absl::StatusOr<std::optional<ChunkLayout>> VerifyChunkLayout(const B3Digest& digest,
                                                             std::vector<ChunkMeta> chunks,
                                                             std::string_view outboard);

// OK when `data` is exactly chunk `index` of `layout`; DataLoss naming the
// chunk otherwise.
absl::Status VerifyChunk(const ChunkLayout& layout, size_t index, std::span<const uint8_t> data);

}  // namespace castor::castore
