// MemoryDirectoryService (`memory://`): Directories in a hash map, for tests
// and short-lived stores. Thread-safe.
#pragma once

#include <span>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "castore/directory/directory_service.h"

namespace castor::castore {

class MemoryDirectoryService : public DirectoryService {
 public:
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override;
  absl::StatusOr<B3Digest> Put(const Directory& directory) override;
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override;
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override;
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override;
  absl::Status Delete(std::span<const B3Digest> digests) override;

  // Stores already validated Directories at once (used by putters; children
  // are not checked here).
  void InsertAll(std::span<const Directory> directories);
  absl::StatusOr<std::optional<uint64_t>> StoredSize(const B3Digest& digest);

 private:
  castor::Mutex mu_;
  absl::flat_hash_map<B3Digest, Directory> dirs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::castore
