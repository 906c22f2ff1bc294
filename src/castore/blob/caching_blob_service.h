// CachingBlobService: a BlobService in front of a remote one, keeping every
// blob it reads in a local BlobService (e.g. file://) so a second read never
// leaves the machine. Reads try the local store first; on a miss the blob is
// fetched from the remote (whose readers verify what they hand out, see
// rpc/grpc_blob_service.h), written to the local store (which stores it
// under the digest its bytes hash to, checked against the one asked for) and
// served from there. A remote reader that fetches big blobs chunk by chunk
// (ChunkedBlobReader) is served as it is, keeping each chunk it fetches in the
// local store under the chunk's digest (and looking there first), so random
// reads never pull a whole blob. With a LayoutStore, such a reader's layout
// (chunk list and group CVs) is kept too, and a later open of the blob,
// also in another process, builds its reader from the kept layout
// (BlobService::OpenReadWithLayout, checked again against the digest) without
// asking the remote; the chunks the cache holds are then read without it,
// even while it is down. Writes, Sync, ForEach and Delete go to the remote: it
// stays the authority. Thread-safe (concurrent misses of one blob may both
// fetch it; the second store is a no-op).
#pragma once

#include <memory>

#include "castore/blob/blob_service.h"
#include "castore/blob/layout_store.h"

namespace castor::castore {

class CachingBlobService : public BlobService {
 public:
  CachingBlobService(std::shared_ptr<BlobService> local, std::shared_ptr<BlobService> remote,
                     std::shared_ptr<const LayoutStore> layouts = nullptr)
      : local_(std::move(local)), remote_(std::move(remote)), layouts_(std::move(layouts)) {}

  absl::StatusOr<bool> Has(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenReadSized(const B3Digest& digest,
                                                            uint64_t expected_size) override;
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override;
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) override;
  absl::StatusOr<std::string> ChunksOutboard(const B3Digest& digest) override;
  absl::Status Sync() override;
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override;
  absl::Status Delete(const B3Digest& digest) override;

 private:
  absl::StatusOr<std::unique_ptr<BlobReader>> Open(const B3Digest& digest,
                                                   std::optional<uint64_t> expected_size);

  std::shared_ptr<BlobService> local_;
  std::shared_ptr<BlobService> remote_;
  std::shared_ptr<const LayoutStore> layouts_;  // may be null
};

}  // namespace castor::castore
