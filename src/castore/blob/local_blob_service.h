// LocalBlobService (`file:///path`): one file per blob under
// PATH/b3/<first 2 hex digits>/<64 hex digits>. Thread-safe; its readers and
// writers belong to one thread at a time (ReadAt excepted).
//
// Writes go to a temp file in PATH/tmp (same filesystem), hashed while they
// are written, and are renamed into place once the digest is known, so a
// partially written blob is never visible and a blob is only ever stored under
// the digest of its bytes. No per-file fsync: Sync() makes everything renamed
// so far durable with one syncfs(2), shared by concurrent callers (group
// commit; see DESIGN.md "Durability without per-file fsync"). A dedup hit (the
// target already exists) is trusted only when its size matches; a file of the
// wrong size (e.g. short after a power loss) is replaced.
//
// Stale temp files (from a writer that crashed) are removed when the store is
// opened, if they are older than kStaleTempAge: younger ones may belong to a
// live writer in another process sharing the store.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "castore/mutex.h"
#include "castore/blob/blob_service.h"

namespace castor::castore {

class LocalBlobService : public BlobService, public std::enable_shared_from_this<LocalBlobService> {
 public:
  static constexpr std::chrono::seconds kStaleTempAge{3600};

  // Opens (creating PATH, PATH/b3 and PATH/tmp as needed) the store at the
  // absolute `path`. Errors name the path.
  static absl::StatusOr<std::shared_ptr<LocalBlobService>> Open(const std::string& path);
  ~LocalBlobService() override;

  absl::StatusOr<bool> Has(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override;
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) override;
  absl::Status Sync() override;
  // Walks the shards; names that are not a blob of the right shard (temp
  // files, junk) are ignored.
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override;
  absl::Status Delete(const B3Digest& digest) override;

  const std::string& root() const { return root_; }
  // Where the blob's file is (or would be).
  std::string BlobPath(const B3Digest& digest) const;
  std::string TempDir() const { return root_ + "/tmp"; }

  // Used by writers: moves the finished temp file into place (or drops it on
  // a dedup hit).
  absl::Status Commit(const std::string& temp_path, const B3Digest& digest, uint64_t size);

 private:
  LocalBlobService(std::string root, int dir_fd) : root_(std::move(root)), dir_fd_(dir_fd) {}
  void RemoveStaleTemps();
  bool SyncIdle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_) { return !sync_running_; }

  const std::string root_;
  const int dir_fd_;  // the store directory, for syncfs

  // Group commit of Sync(): rounds run one at a time; a caller waits for the
  // first round that starts after it arrived, and shares it with everyone
  // else waiting for the same round.
  castor::Mutex sync_mu_;
  uint64_t sync_started_ ABSL_GUARDED_BY(sync_mu_) = 0;
  uint64_t sync_finished_ ABSL_GUARDED_BY(sync_mu_) = 0;
  bool sync_running_ ABSL_GUARDED_BY(sync_mu_) = false;
  absl::flat_hash_map<uint64_t, absl::Status> sync_failures_ ABSL_GUARDED_BY(sync_mu_);
};

}  // namespace castor::castore
