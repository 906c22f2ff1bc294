// ChunkedBlobReader: random access to a big blob through its ChunkLayout,
// fetching only the chunks a read overlaps. The layout's CVs were checked
// against the blob digest (VerifyChunkLayout); every chunk fetched is checked
// against its CV before a byte of it is served (DataLoss otherwise), so
// Verified() is true without the blob ever being hashed whole. A read that
// reaches the end of the blob always checks the last chunk, which
// authenticates the blob's size. A few recently used chunks stay in memory;
// a read that continues a sequential run starts fetching the next chunk in
// the background. With KeepChunksIn(store) chunks are also kept in a local
// BlobService (under their digests) and looked up there first; once every
// chunk is there, the whole blob is assembled in that store too (checked
// against its digest), so a later open needs neither the remote nor the
// layout.
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
  // Returns the bytes of chunk `index` of the layout, as received (the reader
  // checks them). Called from any thread, including a background one, so it
  // must not refer to anything that dies with the reader's creator.
  using FetchChunk = std::function<absl::StatusOr<std::string>(size_t index)>;

  struct Options {
    size_t cached_chunks = 4;  // kept in memory, least recently used dropped
    bool prefetch = true;      // fetch chunk i+1 in the background on sequential reads
  };

  ChunkedBlobReader(std::shared_ptr<const ChunkLayout> layout, FetchChunk fetch)
      : ChunkedBlobReader(std::move(layout), std::move(fetch), Options{}) {}
  ChunkedBlobReader(std::shared_ptr<const ChunkLayout> layout, FetchChunk fetch, Options options);
  ~ChunkedBlobReader() override;

  uint64_t size() const override;
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override;
  bool Verified() const override { return true; }
  bool KeepChunksIn(std::shared_ptr<BlobService> store) override;

  const ChunkLayout& layout() const;
  // Chunks that went through FetchChunk so far (tests, stats).
  uint64_t chunks_fetched() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with background prefetches
};

}  // namespace castor::castore
