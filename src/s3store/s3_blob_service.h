// S3BlobService: a BlobService in an S3 bucket (docs/s3.md). A blob is cut
// into content-defined chunks (FastCDC with snix's parameters), each stored
// zstd-compressed under its BLAKE3 digest (chunks/b3/...), the blob itself
// as its chunk list (blobs/b3/...; empty for a blob of one chunk, which is
// the chunk under the blob's digest), and, for a blob of more than one chunk
// and group, the bao outboard of its groups (castor/outboards/b3/...). The chunk list
// goes up last, so a blob is visible only once all it needs is readable.
//
// Reads are verified before a byte is served: every chunk against its own
// digest, the chunk list against the blob digest through the outboard's
// group CVs (ChunkedBlobReader), or, for a blob of one group, the assembled
// blob against its digest. A damaged or missing chunk fails exactly the
// reads that need it, with DataLoss naming the chunk and the blob.
//
// A chunk is a blob too (as in tvix): Has/OpenRead of a chunk's digest
// answer with the chunk (StoredSize answers for blobs written as such only), so a daemon over S3
// serves the chunks its chunk lists name. Stateless: two services on one bucket see the same blobs.
// Enumeration and deletion (gc) are not supported (Unimplemented).
// Thread-safe; writers and readers as BlobService says.
#pragma once

#include <memory>

#include "castore/blob/blob_service.h"
#include "chunking/fastcdc.h"
#include "s3/s3_client.h"

namespace castor::s3store {

struct S3BlobServiceOptions {
  chunking::FastCdcParams cdc = chunking::FastCdcParams::Snix();
  // The verification groups of a blob's outboard (a power of two).
  uint64_t group_size = 256 << 10;
  int zstd_level = 0;  // 0: zstd's default
  // Chunk uploads in flight per writer.
  int uploads_per_writer = 4;
};

class S3BlobService : public castore::BlobService,
                      public std::enable_shared_from_this<S3BlobService> {
 public:
  // InvalidArgument for bad chunking or group parameters.
  static absl::StatusOr<std::shared_ptr<S3BlobService>> Create(std::shared_ptr<s3::S3Client> client,
                                                               S3BlobServiceOptions options = {});

  absl::StatusOr<bool> Has(const castore::B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenRead(
      const castore::B3Digest& digest) override;
  absl::StatusOr<std::optional<uint64_t>> StoredSize(const castore::B3Digest& digest) override;
  // No request until a read needs a chunk (fetched as OpenRead's are).
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenReadWithLayout(
      std::shared_ptr<const castore::ChunkLayout> layout) override;
  absl::StatusOr<std::unique_ptr<castore::BlobWriter>> OpenWrite() override;
  absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> Chunks(
      const castore::B3Digest& digest) override;
  absl::StatusOr<std::string> ChunksOutboard(const castore::B3Digest& digest) override;
  // A PUT that was answered is durable: nothing to do.
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status ForEach(
      const std::function<absl::Status(const castore::B3Digest&, uint64_t size)>& fn) override;
  absl::Status Delete(const castore::B3Digest& digest) override;

  const s3::S3Client& client() const { return *client_; }

 private:
  class Writer;
  S3BlobService(std::shared_ptr<s3::S3Client> client, S3BlobServiceOptions options,
                chunking::FastCdc cdc)
      : client_(std::move(client)), options_(options), cdc_(cdc) {}

  // The reader of a laid-out blob; `first`, when given, is the bytes of its
  // only chunk, fetched already.
  std::unique_ptr<castore::BlobReader> ReaderOf(std::shared_ptr<const castore::ChunkLayout> layout,
                                                std::shared_ptr<const std::string> first);
  // The chunk list of `digest`; nullopt when there is no blob object.
  absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> ChunkList(
      const castore::B3Digest& digest);
  // Uploads a chunk; with `ask_first`, only when it is not there already.
  absl::Status PutChunk(const castore::B3Digest& digest, std::string_view data, bool ask_first);
  // Chunk `digest` decompressed, at most `max_size` bytes and checked
  // against its digest; nullopt when absent. `what` names it in errors.
  absl::StatusOr<std::optional<std::string>> GetChunk(const castore::B3Digest& digest,
                                                      uint64_t max_size, std::string_view what);

  const std::shared_ptr<s3::S3Client> client_;
  const S3BlobServiceOptions options_;
  const chunking::FastCdc cdc_;  // copied per writer
};

}  // namespace castor::s3store
