// MemoryBlobService (`memory://`): blobs in a hash map, for tests and
// short-lived stores. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "castore/mutex.h"
#include "castore/blob/blob_service.h"

namespace castor::castore {

class MemoryBlobService : public BlobService {
 public:
  absl::StatusOr<bool> Has(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override;
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(
      const B3Digest& digest) override;
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status ForEach(
      const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override;
  absl::Status Delete(const B3Digest& digest) override;

  // Used by writers.
  void Insert(const B3Digest& digest, std::shared_ptr<const std::string> data);

 private:
  castor::Mutex mu_;
  absl::flat_hash_map<B3Digest, std::shared_ptr<const std::string>> blobs_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::castore
