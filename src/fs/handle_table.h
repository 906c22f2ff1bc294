// The open handles of a CastoreFs mount: HandleTable<T> maps the handle
// numbers (fh) given to the kernel at OPEN or OPENDIR to what a later READ
// or READDIR needs; FileHandle and DirHandle are what it holds. Numbers come
// from a HandleNumbers shared by the tables of one filesystem, so a number
// names at most one handle of any kind and is never handed out twice: a
// stale fh can only miss, never reach a newer open.
// Thread-safe: HandleNumbers and HandleTable take no lock of the caller's
// and hold their own only inside a call; handles are shared_ptrs, so one
// removed while a request still uses it lives until that request is done,
// and is destroyed outside the table's lock. DirHandle's fetched Directory
// has its own mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "castore/blob/blob_service.h"
#include "castore/digest.h"
#include "castore/directory.h"
#include "fs/fuse/backing_files.h"

namespace castor::fs {

// Hands out handle numbers 1, 2, 3, ...: never 0, never one twice.
class HandleNumbers {
 public:
  uint64_t Next() { return next_.fetch_add(1, std::memory_order_relaxed); }
  // The number Next() hands out next (for a takeover).
  uint64_t Peek() const { return next_.load(std::memory_order_relaxed); }
  // Hands out numbers from `next` on (a takeover's successor, before any
  // handle exists).
  void Restore(uint64_t next) { next_.store(next, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> next_{1};
};

template <typename T>
class HandleTable {
 public:
  // `numbers` must outlive the table. `open`, when given, follows the
  // number of handles in the table (a process-wide gauge several tables
  // add to).
  explicit HandleTable(HandleNumbers* numbers, metrics::Gauge* open = nullptr)
      : numbers_(numbers), open_(open) {}
  ~HandleTable() {
    castor::MutexLock lock(&mu_);
    if (open_ != nullptr) open_->Add(-static_cast<int64_t>(handles_.size()));
  }
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // Adds `handle` under a new number and returns the number.
  uint64_t Add(std::shared_ptr<T> handle) ABSL_LOCKS_EXCLUDED(mu_) {
    castor::MutexLock lock(&mu_);
    uint64_t fh = numbers_->Next();
    handles_.emplace(fh, std::move(handle));
    if (open_ != nullptr) open_->Add(1);
    return fh;
  }

  // Adds `handle` under `fh`, a number a predecessor handed out (takeover);
  // false when the number is taken.
  bool Insert(uint64_t fh, std::shared_ptr<T> handle) ABSL_LOCKS_EXCLUDED(mu_) {
    castor::MutexLock lock(&mu_);
    if (!handles_.emplace(fh, std::move(handle)).second) return false;
    if (open_ != nullptr) open_->Add(1);
    return true;
  }

  // Every handle with its number (for a takeover).
  std::vector<std::pair<uint64_t, std::shared_ptr<T>>> List() const ABSL_LOCKS_EXCLUDED(mu_) {
    castor::MutexLock lock(&mu_);
    return {handles_.begin(), handles_.end()};
  }

  // The handle numbered `fh`; null when there is none (never added, or
  // removed).
  std::shared_ptr<T> Get(uint64_t fh) const ABSL_LOCKS_EXCLUDED(mu_) {
    castor::MutexLock lock(&mu_);
    auto it = handles_.find(fh);
    return it == handles_.end() ? nullptr : it->second;
  }

  // Takes the handle numbered `fh` out of the table and returns it (null
  // when there is none); it is destroyed when the caller drops it.
  std::shared_ptr<T> Remove(uint64_t fh) ABSL_LOCKS_EXCLUDED(mu_) {
    castor::MutexLock lock(&mu_);
    auto it = handles_.find(fh);
    if (it == handles_.end()) return nullptr;
    std::shared_ptr<T> handle = std::move(it->second);
    handles_.erase(it);
    if (open_ != nullptr) open_->Add(-1);
    return handle;
  }

  // Removes every handle.
  void Clear() ABSL_LOCKS_EXCLUDED(mu_) {
    // Declared before the lock: destroyed after it is released.
    absl::flat_hash_map<uint64_t, std::shared_ptr<T>> removed;
    castor::MutexLock lock(&mu_);
    removed.swap(handles_);
    if (open_ != nullptr) open_->Add(-static_cast<int64_t>(removed.size()));
  }

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_) {
    castor::MutexLock lock(&mu_);
    return handles_.size();
  }

 private:
  HandleNumbers* const numbers_;
  metrics::Gauge* const open_;
  mutable castor::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<T>> handles_ ABSL_GUARDED_BY(mu_);
};

// How the open files of one inode are served under FUSE passthrough, decided
// at the first open and shared by every handle of the inode while one is
// open (the kernel refuses to mix passthrough and ordinary opens of an
// inode, or two backing files for it): by the kernel from backing id `id`
// (> 0), or by this process (id 0). The id is dropped when the last handle
// lets go of it.
class PassthroughBacking {
 public:
  // `files` (null when id is 0) closes `id` at destruction; `registered`,
  // when given, counts the registered ids.
  PassthroughBacking(std::shared_ptr<fuse::BackingFiles> files, int32_t id,
                     metrics::Gauge* registered);
  ~PassthroughBacking();
  PassthroughBacking(const PassthroughBacking&) = delete;
  PassthroughBacking& operator=(const PassthroughBacking&) = delete;

  int32_t id() const { return id_; }

 private:
  const std::shared_ptr<fuse::BackingFiles> files_;
  const int32_t id_;
  metrics::Gauge* const registered_;
};

// An open file of inode `ino`: the blob's reader (shared by the opens of
// one inode), and under FUSE passthrough how it is served. The reader is
// null only for a handle a takeover carried over whose blob could not be
// opened again: its reads are EIO.
struct FileHandle {
  uint64_t ino = 0;
  castore::B3Digest digest;
  uint64_t size = 0;
  std::shared_ptr<castore::BlobReader> reader;
  std::shared_ptr<PassthroughBacking> backing;  // null without passthrough
};

// An open directory: the mount's top directory, or a directory inode whose Directory
// READDIR fetches once and keeps for the handle's later READDIRs.
class DirHandle {
 public:
  // The top directory, inode `ino`; `roots` are the named roots as of
  // OPENDIR, so offsets stay stable while listing (null: listing the root
  // is refused).
  DirHandle(uint64_t ino, std::shared_ptr<const std::vector<castore::Entry>> roots);
  // Directory inode `ino`, whose Directory has `digest` and `size`.
  DirHandle(uint64_t ino, const castore::B3Digest& digest, uint64_t size);
  DirHandle(const DirHandle&) = delete;
  DirHandle& operator=(const DirHandle&) = delete;

  uint64_t ino() const { return ino_; }
  bool is_top() const { return is_top_; }
  const castore::B3Digest& digest() const { return digest_; }
  uint64_t size() const { return size_; }
  const std::shared_ptr<const std::vector<castore::Entry>>& roots() const { return roots_; }

  // The Directory fetched for this handle so far, or null.
  std::shared_ptr<const castore::Directory> directory() const ABSL_LOCKS_EXCLUDED(mu_);
  void set_directory(std::shared_ptr<const castore::Directory> directory) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const uint64_t ino_;
  const bool is_top_;
  const castore::B3Digest digest_;
  const uint64_t size_ = 0;
  const std::shared_ptr<const std::vector<castore::Entry>> roots_;

  mutable castor::Mutex mu_;
  std::shared_ptr<const castore::Directory> directory_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::fs
