// ChunkLayout: a blob seen as fixed-size chunks aligned to BLAKE3's tree
// (castore/blake3_tree.h), with every chunk's chaining value, which lets a
// reader check one chunk's bytes without the rest of the blob. A daemon's
// layouts also carry each chunk's plain digest (a chunk is a blob of its
// own, as in tvix); a local blob's layout has only the CVs (its chunks are
// ranges of its file). Servers compute layouts (ComputeChunkLayout); clients
// check what a server sent (VerifyChunkLayout); readers check every chunk
// they read (VerifyChunk).
//
// A blob stored in content-defined chunks (object storage, snix's FastCDC
// chunks of any size, cut where the content says) has a layout too: its
// fixed-size pieces (called chunks above, and "groups" below where the two
// meet) still carry the CVs, while `chunks` lists the stored chunks with
// where each starts (`chunk_offsets`). A reader then fetches the stored
// chunks a group overlaps, checks each against its own digest, assembles
// the group and checks it against its CV (VerifyStoredChunk, VerifyChunk).
// Plain values and functions; a ChunkLayout is immutable once built and may
// be shared between threads.
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
  uint64_t chunk_size = 0;  // every group's but the last (a power of two >= 1 KiB)
  // One per group, checked against `digest`. Empty for a blob of one group
  // (at most chunk_size bytes), whose bytes are checked against `digest`.
  std::vector<blake3_tree::Cv> cvs;
  // Each stored chunk's own digest and size, where chunks are blobs (or
  // objects) of their own that a reader fetches by digest; empty otherwise.
  // Without chunk_offsets, chunks[i] is group i.
  std::vector<ChunkMeta> chunks;
  // Where each of `chunks` starts in the blob when they are content-defined
  // (not the groups); empty otherwise.
  std::vector<uint64_t> chunk_offsets;

  // The groups: count, where group `index` starts, its length.
  size_t count() const { return cvs.empty() ? 1 : cvs.size(); }
  uint64_t offset(size_t index) const { return index * chunk_size; }
  uint64_t length(size_t index) const {
    return std::min<uint64_t>(chunk_size, size - offset(index));
  }
  bool content_defined() const { return !chunk_offsets.empty(); }
  // Content-defined chunks: the index of the chunk holding byte `at` (< size).
  size_t ChunkAt(uint64_t at) const;
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

// Checks a chunk list and outboard received for blob `digest`. Fixed-size
// power-of-two chunks are the groups of the outboard; chunks of other sizes
// (content-defined, e.g. snix's FastCDC chunks) are stored chunks whose
// groups the outboard describes, its group size read from its length (for
// a blob of at least two groups the length fits exactly one power of two).
// nullopt when they do not describe a layout (no outboard, or fewer than
// two chunks: the caller then has to verify the whole blob); DataLoss when
// they claim one that does not check out (sizes that disagree with the
// outboard, an outboard length no group size fits, CVs that do not hash to
// `digest`).
absl::StatusOr<std::optional<ChunkLayout>> VerifyChunkLayout(const B3Digest& digest,
                                                             std::vector<ChunkMeta> chunks,
                                                             std::string_view outboard);

// The layout of a blob stored in content-defined `chunks` (in order, sizes
// adding up to the blob's) whose group CVs in groups of `group_size` are
// `cvs` (already checked against `digest`; empty for a blob of one group).
ChunkLayout ContentDefinedLayout(const B3Digest& digest, std::vector<ChunkMeta> chunks,
                                 uint64_t group_size, std::vector<blake3_tree::Cv> cvs);

// OK when `data` is exactly group `index` of `layout`; DataLoss naming it
// otherwise.
absl::Status VerifyChunk(const ChunkLayout& layout, size_t index, std::span<const uint8_t> data);

// OK when `data` is exactly stored chunk `index` of `layout` (its size and
// digest); DataLoss naming the chunk otherwise.
absl::Status VerifyStoredChunk(const ChunkLayout& layout, size_t index,
                               std::span<const uint8_t> data);

}  // namespace castor::castore
