// Test-only: wrappers around a BlobService and a DirectoryService whose calls
// for chosen digests block until the test releases them. Served by a real
// daemon, they make a server that accepts a call and then never answers it
// (or stops after the first message), which is what a client's timeouts and
// a mount's shutdown must cope with. A blocked call ignores everything but
// Release(): release before shutting the server down.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"

namespace castor::castore::testing {

class Staller {
 public:
  // BlobService::Chunks and Has of `blob` block (a daemon's Stat).
  void StallStat(const B3Digest& blob);
  // BlobService::OpenRead of `blob` blocks (a daemon's Read sends nothing).
  void StallOpen(const B3Digest& blob);
  // ReadAt of a reader of `blob` blocks for reads at or past `offset` (a
  // daemon's Read sends what lies before and then nothing).
  void StallReadsFrom(const B3Digest& blob, uint64_t offset);
  // Every ReadAt of a reader of `blob` sleeps `delay` first (a slow but
  // steady daemon).
  void SlowReads(const B3Digest& blob, absl::Duration delay);
  // DirectoryService::Get and GetRecursive of `directory` block.
  void StallDirectory(const B3Digest& directory);

  // Lets every blocked call and every later one proceed.
  void Release();
  // Waits up to `timeout` until `n` calls are blocked at the same time.
  bool AwaitBlocked(int n, absl::Duration timeout);

  // For the wrappers: blocks while `stalled` and not released.
  void BlockIf(bool stalled);
  bool StatStalls(const B3Digest& blob);
  bool OpenStalls(const B3Digest& blob);
  // UINT64_MAX when reads of `blob` never stall.
  uint64_t ReadStallOffset(const B3Digest& blob);
  absl::Duration ReadDelay(const B3Digest& blob);
  bool DirectoryStalls(const B3Digest& directory);

 private:
  castor::Mutex mu_;
  absl::flat_hash_set<B3Digest> stat_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<B3Digest> open_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<B3Digest, uint64_t> read_from_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<B3Digest, absl::Duration> slow_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<B3Digest> directories_ ABSL_GUARDED_BY(mu_);
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  int blocked_ ABSL_GUARDED_BY(mu_) = 0;
};

std::shared_ptr<BlobService> StallingBlobService(std::shared_ptr<BlobService> inner,
                                                 std::shared_ptr<Staller> staller);
std::shared_ptr<DirectoryService> StallingDirectoryService(std::shared_ptr<DirectoryService> inner,
                                                           std::shared_ptr<Staller> staller);

}  // namespace castor::castore::testing
