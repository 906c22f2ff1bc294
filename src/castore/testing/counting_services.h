// Test-only: a DirectoryService wrapper that counts what passes through it
// (Get calls per digest, recursive Gets, Directories handed out), so tests
// and benchmarks can check how much a layer above fetches: a cache that
// should fetch a Directory once, a lazy client that should not fetch a
// whole closure. Everything else is forwarded unchanged.
//
// Thread-safe: calls may come from any thread; the counters are read while
// calls run.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "castore/directory/directory_service.h"

namespace castor::castore::testing {

class CountingDirectoryService : public DirectoryService {
 public:
  explicit CountingDirectoryService(std::shared_ptr<DirectoryService> inner)
      : inner_(std::move(inner)) {}

  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override;
  absl::StatusOr<B3Digest> Put(const Directory& directory) override;
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override;
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override;
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override;
  absl::Status Delete(std::span<const B3Digest> digests) override;

  // Get calls for `digest` / for any digest.
  uint64_t gets(const B3Digest& digest) const;
  uint64_t gets() const;
  // GetRecursive calls.
  uint64_t recursive_gets() const;
  // Directories handed out by Get and GetRecursive together.
  uint64_t directories_sent() const;
  void Reset();

 private:
  const std::shared_ptr<DirectoryService> inner_;
  mutable castor::Mutex mu_;
  absl::flat_hash_map<B3Digest, uint64_t> gets_by_digest_ ABSL_GUARDED_BY(mu_);
  uint64_t gets_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t recursive_gets_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace castor::castore::testing
