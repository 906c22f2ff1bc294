// MemoryBlobService (`memory://`): blobs in a hash map, for tests and
// short-lived stores. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "castore/blob/blob_service.h"

namespace castor::castore {

class MemoryBlobService : public BlobService {
 public:
  absl::StatusOr<bool> Has(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override;
  // Its Close checks the digest and stores atomically: of concurrent writers
  // of one blob, exactly one reports that it stored it.
  absl::StatusOr<std::unique_ptr<PrehashedBlobWriter>> OpenPrehashedWrite(
      uint64_t size_hint) override;
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) override;
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override;
  absl::Status Delete(const B3Digest& digest) override;

  // Used by writers. False when the digest was stored already (kept as it was).
  bool Insert(const B3Digest& digest, std::shared_ptr<const std::string> data);

 private:
  castor::Mutex mu_;
  absl::flat_hash_map<B3Digest, std::shared_ptr<const std::string>> blobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::castore
