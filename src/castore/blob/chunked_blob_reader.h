// ChunkedBlobReader: verified reads by range, the one implementation behind
// every reader that checks what it serves piece by piece. A blob is seen
// through its ChunkLayout (fixed-size chunks whose chaining values were
// checked against the blob digest); a read fetches only the chunks it
// overlaps, checks each against its CV before a byte of it is served
// (DataLoss otherwise), so Verified() is true without the blob ever being
// hashed whole. A read that reaches the end of the blob always checks the
// last chunk, which authenticates the blob's size. A blob of one chunk is
// checked against its digest whole on every fetch.
//
// A content-defined layout (chunks of any size, as object storage keeps
// them; chunk_layout.h) is read the same way one level down: a read needs
// groups, a group is cut from the stored chunks it overlaps, each stored
// chunk is fetched once (shared, cached, prefetched on sequential reads) and
// checked against its own digest, and the assembled group is checked
// against its CV before a byte of it is served.
//
// Where chunks come from is the caller's: a remote daemon (rpc/), or the
// blob's own file (LocalBlobService, which also computes or loads the
// layout, at the first read that needs it). A few recently used chunks stay
// in memory (checked bytes; nothing is served that was not checked when it
// was fetched); a read that continues a sequential run can fetch the next
// chunk in the background, on a small shared pool of threads. Destroying a
// reader waits for its background fetch, so nothing its FetchChunk holds is
// used after the reader is gone. With KeepChunksIn(store) chunks are also
// kept in a local BlobService (under their digests) and looked up there
// first; once every chunk is there, the whole blob is assembled in that store
// too (checked against its digest), so a later open needs neither the remote
// nor the layout.
// Thread-safe: ReadAt may run concurrently; two reads needing one chunk share
// one fetch.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "castore/blob/blob_service.h"
#include "castore/blob/chunk_layout.h"

namespace castor::castore {

class ChunkedBlobReader : public BlobReader {
 public:
  // Returns the bytes of stored chunk `index` of the layout
  // (layout.chunks[index]), as received (the reader checks them). Called from
  // any thread, including a background one, until the reader is destroyed.
  using FetchChunk = std::function<absl::StatusOr<std::string>(size_t index)>;
  // Reads chunk `index` of the layout into `out` (exactly its length), as
  // stored (the reader checks it). Called from any thread until the reader
  // is destroyed.
  using ReadChunk = std::function<absl::Status(size_t index, std::span<uint8_t> out)>;
  // Returns the blob's layout (its CVs checked against the digest).
  using GetLayout = std::function<absl::StatusOr<std::shared_ptr<const ChunkLayout>>()>;

  struct Options {
    // Kept in memory, least recently used dropped (groups, and as many
    // stored chunks of a content-defined layout).
    size_t cached_chunks = 4;
    bool prefetch = true;  // fetch chunk i+1 in the background on sequential reads
  };

  ChunkedBlobReader(std::shared_ptr<const ChunkLayout> layout, FetchChunk fetch)
      : ChunkedBlobReader(std::move(layout), std::move(fetch), Options{}) {}
  ChunkedBlobReader(std::shared_ptr<const ChunkLayout> layout, FetchChunk fetch, Options options);
  // A reader of a blob of `size` bytes whose layout is asked for at the
  // first read that needs it (again after a failure; a layout of another
  // size is DataLoss), and whose chunks are read into buffers: a chunk that
  // a read covers whole goes straight into the caller's buffer and is
  // checked there (no copy; on a mismatch those bytes are zeroed before the
  // DataLoss returns).
  ChunkedBlobReader(uint64_t size, GetLayout get_layout, ReadChunk read, Options options);
  ~ChunkedBlobReader() override;

  uint64_t size() const override;
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override;
  bool Verified() const override { return true; }
  // False when the layout's chunks are not blobs of their own (or not known
  // yet).
  bool KeepChunksIn(std::shared_ptr<BlobService> store) override;
  // The layout given at construction; null for readers that get theirs
  // lazily.
  std::shared_ptr<const ChunkLayout> KnownLayout() const override;

  // Chunks that went through FetchChunk so far (tests, stats).
  uint64_t chunks_fetched() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with background fetches
};

}  // namespace castor::castore
