// CachingDirectoryService: a DirectoryService in front of a remote one,
// keeping what it reads in a local DirectoryCacheStore. A miss fetches just
// the Directory asked for (verified by the remote client: its digest is
// checked), so the first lookup in a huge remote tree costs one round trip,
// not its whole closure; optionally a background prefetcher then fetches a
// bounded part of what lies below it. The cache therefore holds parts of
// closures: a cached Directory's children may be missing locally, and
// GetRecursive fetches each missing subtree from the remote (one recursive
// Get per subtree) as its walk meets it. Fetched Directories are written to
// the local store by a background thread in batches (one transaction, one
// sync, for everything fetched meanwhile), so a walk does not wait for a
// disk sync per Directory; until written they are served from memory.
// Writes and ForEach go to the remote; Delete to both. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "castore/directory/directory_service.h"

namespace castor::castore {

// Where a CachingDirectoryService keeps what it fetched: Directories checked
// when they arrived, stored whether or not their children are. Kept apart
// from a store's own Directories: a store only holds complete closures (its
// Put requires the children), and a cached Directory must never pass for
// "already stored" there. Thread-safe.
class DirectoryCacheStore {
 public:
  virtual ~DirectoryCacheStore() = default;
  // The cached Directory or nullopt; a stored value that does not decode or
  // hash to `digest` is DataLoss naming the digest.
  virtual absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) = 0;
  // Stores `directories` (each under its own digest) at once, children not
  // required.
  virtual absl::Status Insert(std::span<const Directory> directories) = 0;
  // Drops Directories; missing ones are ignored.
  virtual absl::Status Delete(std::span<const B3Digest> digests) = 0;
};

// In memory, for tests.
std::shared_ptr<DirectoryCacheStore> NewMemoryDirectoryCacheStore();
// The LMDB database "cached_directories" of the environment at the absolute
// `path` (beside, never inside, a store's own "directories").
absl::StatusOr<std::shared_ptr<DirectoryCacheStore>> OpenLmdbDirectoryCacheStore(
    const std::string& path);

struct CachingDirectoryOptions {
  // After a Get fetched a Directory from the remote, a background thread
  // fetches up to this many Directories below it, breadth-first, in one
  // recursive Get (unless the level below is cached already). 0: no
  // prefetching. At most kMaxPrefetchQueue such requests wait; more are
  // dropped.
  size_t prefetch = 0;
};

class CachingDirectoryService : public DirectoryService {
 public:
  static constexpr size_t kMaxPrefetchQueue = 16;
  // Fetched Directories waiting to be written locally; a fetch waits while
  // this many are.
  static constexpr size_t kMaxPending = size_t{1} << 16;

  CachingDirectoryService(std::shared_ptr<DirectoryCacheStore> local,
                          std::shared_ptr<DirectoryService> remote,
                          CachingDirectoryOptions options = {});
  // Stops the prefetcher (its stream ends at the next Directory it
  // receives, or when the remote's deadline ends the call), writes what is
  // pending and joins both threads.
  ~CachingDirectoryService() override;

  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override;
  absl::StatusOr<B3Digest> Put(const Directory& directory) override;
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override;
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override;
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override;
  absl::Status Delete(std::span<const B3Digest> digests) override;

  // Directories the prefetcher has fetched so far; for tests.
  size_t prefetched() const;
  // Blocks until the prefetcher is idle with nothing queued and everything
  // fetched is written locally; for tests.
  void WaitIdle();

 private:
  // Queues fetched Directories for the writer.
  void Keep(std::span<const Directory> directories);
  // What the cache holds: pending for the writer, else in local_. A
  // damaged local entry counts as missing (it is fetched again and
  // replaced).
  std::optional<Directory> Cached(const B3Digest& digest);
  // Writes pending Directories locally. A cache that cannot store must not
  // fail reads: problems are logged.
  void Writer();
  void Prefetcher();
  void PrefetchBelow(const B3Digest& root);
  bool stopping() const;

  const std::shared_ptr<DirectoryCacheStore> local_;
  const std::shared_ptr<DirectoryService> remote_;
  const CachingDirectoryOptions options_;

  mutable castor::Mutex mu_;
  // Fetched, not yet written (also while the writer writes them).
  absl::flat_hash_map<B3Digest, Directory> pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_writer_ ABSL_GUARDED_BY(mu_) = false;
  // Prefetch requests: the Directories fetched by Get.
  std::deque<B3Digest> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t prefetched_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread prefetcher_;
  std::thread writer_;
};

}  // namespace castor::castore
