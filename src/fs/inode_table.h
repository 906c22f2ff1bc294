// InodeTable: the inodes of a CastoreFs mount and their lifetimes. Inode 1
// (FUSE_ROOT_ID) is the mount's top directory and is always there; every other inode is
// a castore node, deduplicated: equal blob digest and equal executable bit
// (the mode depends on it), equal symlink target or equal Directory digest
// share one inode. An inode lives while the kernel holds lookup references
// to it (Acquire takes one, Forget drops them); its number is never reused.
// While it lives, a directory inode may keep its decoded Directory (within
// a budget of entries in all) and a file inode the reader its open handles
// share; both go with the inode.
// Thread-safe: every method takes the table's own mutex, never held across
// a call out of the table; what a Forget releases is destroyed after it is
// unlocked.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "base/mutex.h"
#include "castore/blob/blob_service.h"
#include "castore/directory.h"
#include "castore/node.h"

namespace castor::fs {

enum class InodeKind : uint8_t { kTop, kDirectory, kFile, kSymlink };

// 56 bytes: the table holds one per inode the kernel knows, so it is kept
// small (a symlink's target is held beside it, see SymlinkTarget).
struct Inode {
  // The dedup identity: blob digest, Directory digest, or for a symlink the
  // BLAKE3 of its target.
  castore::B3Digest digest;
  uint64_t size = 0;  // blob size, Directory size, or target length
  uint64_t nlookup = 0;
  InodeKind kind = InodeKind::kTop;
  bool executable = false;
};

// An inode as a takeover carries it to the next process (TakeoverState).
struct SavedInode {
  uint64_t ino = 0;
  Inode inode;
  std::string symlink_target;  // symlinks only
};

class InodeTable {
 public:
  static constexpr uint64_t kTopIno = 1;  // FUSE_ROOT_ID
  // Set in the numbers Peek makes up for nodes without an inode.
  static constexpr uint64_t kSyntheticInoBit = uint64_t{1} << 63;

  // Keeps the Directories of directory inodes up to `kept_directory_entries`
  // entries in all (KeepDirectory).
  explicit InodeTable(uint64_t kept_directory_entries);
  ~InodeTable();
  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  // Finds or creates the inode of `node` and takes one lookup reference on
  // it; returns its number and sets `*inode` to its state.
  uint64_t Acquire(const castore::Node& node, Inode* inode) ABSL_LOCKS_EXCLUDED(mu_);
  // The number `node`'s inode has now, or a stable synthetic one (with
  // kSyntheticInoBit) when it has none. Takes no reference (plain READDIR).
  uint64_t Peek(const castore::Node& node) const ABSL_LOCKS_EXCLUDED(mu_);
  // Drops up to `nlookup` references on `ino`; at none the inode goes, with
  // what it kept. The root, and unknown numbers, are left alone.
  void Forget(uint64_t ino, uint64_t nlookup) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops every inode but the root (which is left as new).
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

  // Every inode but the root, and the next number to hand out (for a
  // takeover; kept Directories and shared readers are not part of it).
  std::vector<SavedInode> Save(uint64_t* next_ino) const ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces the table's inodes by `saved` (validated by
  // ParseTakeoverState: unique numbers and identities, below `next_ino`),
  // and numbers new ones from `next_ino`. FailedPrecondition when the table
  // holds more than the root; InvalidArgument for an inconsistent entry.
  absl::Status Restore(const std::vector<SavedInode>& saved, uint64_t next_ino)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The state of `ino`; nullopt when it is unknown (never was, or forgotten).
  std::optional<Inode> Get(uint64_t ino) const ABSL_LOCKS_EXCLUDED(mu_);
  // The target of symlink inode `ino`; nullopt when it is unknown or not a
  // symlink.
  std::optional<std::string> SymlinkTarget(uint64_t ino) const ABSL_LOCKS_EXCLUDED(mu_);
  // Inodes in the table, the root included.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  // The Directory kept for directory inode `ino`, or null.
  std::shared_ptr<const castore::Directory> KeptDirectory(uint64_t ino) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Keeps `dir` for directory inode `ino` until the inode goes, if it is
  // still there with that digest, keeps none yet, and the budget allows.
  void KeepDirectory(uint64_t ino, std::shared_ptr<const castore::Directory> dir)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Total entries of the kept Directories.
  uint64_t kept_entries() const ABSL_LOCKS_EXCLUDED(mu_);

  // The reader the open handles of file inode `ino` share, if one is still
  // open; else null.
  std::shared_ptr<castore::BlobReader> SharedReader(uint64_t ino) const ABSL_LOCKS_EXCLUDED(mu_);
  // Offers `reader` as the one opens of `ino` share (passthrough needs one
  // backing file per inode). Returns the reader to use: one already shared
  // when a concurrent open won, else `reader` (also when `ino` is gone).
  std::shared_ptr<castore::BlobReader> ShareReader(uint64_t ino,
                                                   std::shared_ptr<castore::BlobReader> reader)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the shared reader of `ino` once no handle holds it any more.
  void ReleaseReader(uint64_t ino) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using DigestMap = absl::flat_hash_map<castore::B3Digest, uint64_t>;

  // The dedup map `node` belongs to, and its key.
  static DigestMap InodeTable::*MapFor(const castore::Node& node, castore::B3Digest* key);
  // Drops the inode; returns its kept Directory, if any, for the caller to
  // release once mu_ is unlocked.
  std::shared_ptr<const castore::Directory> EraseLocked(uint64_t ino, const Inode& inode)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t kept_directory_entries_;

  mutable castor::Mutex mu_;
  absl::flat_hash_map<uint64_t, Inode> inodes_ ABSL_GUARDED_BY(mu_);
  DigestMap dirs_ ABSL_GUARDED_BY(mu_);
  DigestMap files_ ABSL_GUARDED_BY(mu_);
  DigestMap exec_files_ ABSL_GUARDED_BY(mu_);
  DigestMap symlinks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::string> targets_ ABSL_GUARDED_BY(mu_);
  // The kept Directories of directory inodes, and their total entries (at
  // most kept_directory_entries_).
  absl::flat_hash_map<uint64_t, std::shared_ptr<const castore::Directory>> kept_
      ABSL_GUARDED_BY(mu_);
  uint64_t kept_entries_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::weak_ptr<castore::BlobReader>> readers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ino_ ABSL_GUARDED_BY(mu_) = kTopIno + 1;
};

}  // namespace castor::fs
