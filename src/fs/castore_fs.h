// CastoreFs: the read-only filesystem over castore's three services, as a
// fuse::Filesystem (transport-free; the Dispatcher calls it). Semantics are
// docs/design.md's table "The filesystem":
//   - inode 1 is the mount root; its entries are the named roots
//     (RootService), listed only with `list_root` (else READDIR is EPERM);
//   - every other inode is a castore node, deduplicated: equal blob digest
//     (and equal executable bit, which the mode depends on), equal
//     symlink target or equal directory digest share one inode;
//   - an inode lives while the kernel holds lookup references to it
//     (LOOKUP and READDIRPLUS take one, FORGET drops them), so memory follows
//     the kernel's cache; decoded Directories sit in a bounded LRU cache
//     (lookups by name are a binary search in it), and the Directory of a
//     directory inode stays decoded while the kernel holds that inode (up
//     to kept_directory_entries in all): the kernel looks names up in the
//     directories it holds, and a directory larger than the LRU bound would
//     otherwise be fetched and decoded again for every name looked up in it;
//   - a missing Directory or blob, or a failing service, is EIO for that
//     request (logged once per digest, remembering at most
//     kMaxLoggedProblems of them), while the node's own stat still works
//     (attributes come from the parent's entry);
//   - no byte is served that was not checked against the blob's digest when
//     it was read (Verified() readers check each piece they read; others
//     are hashed whole at open), so a blob that rots on disk under a mount
//     is EIO for every read that touches a damaged piece.
// Thread-safe. Lock order: handles_mu_ is never held while taking mu_ or
// the reverse; no lock is held across a service call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "base/mutex.h"
#include "castore/blob/blob_service.h"
#include "castore/composition.h"
#include "castore/directory.h"
#include "fs/directory_cache.h"
#include "fs/fuse/filesystem.h"

namespace castor::fs {

struct FsOptions {
  // READDIR of the mount root lists the named roots (else EPERM).
  bool list_root = false;
  // Offer user.tvix.castore.{blob,directory}.digest xattrs (else GETXATTR
  // and LISTXATTR are ENOSYS, so the kernel stops asking).
  bool show_xattr = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Entry timeout for names in the mount root: roots can be added, replaced
  // and removed while mounted; everything below a root is immutable.
  uint32_t root_entry_timeout_s = 1;
  // Decoded Directories kept for lookups, bounded by their total entries.
  uint64_t directory_cache_entries = 1 << 14;
  // Decoded Directories of directory inodes the kernel holds, kept as long
  // as it holds them (beyond the cache above), bounded by their total
  // entries.
  uint64_t kept_directory_entries = 1 << 22;
};

inline constexpr char kBlobDigestXattr[] = "user.tvix.castore.blob.digest";
inline constexpr char kDirectoryDigestXattr[] = "user.tvix.castore.directory.digest";

class CastoreFs : public fuse::Filesystem {
 public:
  CastoreFs(castore::Services services, FsOptions options);
  ~CastoreFs() override;

  int Lookup(uint64_t parent, std::string_view name, fuse_entry_out* out) override;
  void Forget(uint64_t ino, uint64_t nlookup) override;
  int GetAttr(uint64_t ino, fuse_attr_out* out) override;
  int ReadLink(uint64_t ino, std::string* target) override;
  int Open(uint64_t ino, uint32_t flags, fuse_open_out* out) override;
  int Read(uint64_t ino, uint64_t fh, uint64_t offset, std::span<uint8_t> buf, size_t* n) override;
  void Release(uint64_t ino, uint64_t fh) override;
  int OpenDir(uint64_t ino, uint32_t flags, fuse_open_out* out) override;
  int ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
              fuse::DirentWriter& out) override;
  void ReleaseDir(uint64_t ino, uint64_t fh) override;
  int StatFs(uint64_t ino, fuse_kstatfs* out) override;
  int Access(uint64_t ino, uint32_t mask) override;
  int GetXattr(uint64_t ino, std::string_view name, std::string* value) override;
  int ListXattr(uint64_t ino, std::string* names) override;
  void Destroy() override;

  // Inodes in the table, the mount root included (tests, statistics).
  size_t inode_count() const;
  // Open file and directory handles.
  size_t handle_count() const;
  // The lookup references held on `ino` (0 when unknown); for tests.
  uint64_t lookup_count(uint64_t ino) const;
  // Problems remembered as logged (FailOnce); for tests.
  size_t logged_problems() const;
  static constexpr size_t kMaxLoggedProblems = 4096;
  // Where the bytes of open file handle `fh` live: a file descriptor the
  // blob backend exposes (BlobReader::LocalFd), or -1. For FUSE passthrough.
  int BackingFd(uint64_t fh) const;

 private:
  enum class Kind : uint8_t { kRoot, kDirectory, kFile, kSymlink };
  // 56 bytes: the table holds one per inode the kernel knows, so it is kept
  // small (the symlink target lives in targets_, open readers in readers_).
  struct Inode {
    // The dedup identity: blob digest, Directory digest, or for a symlink
    // the BLAKE3 of its target.
    castore::B3Digest digest;
    uint64_t size = 0;  // blob size, Directory size, or target length
    uint64_t nlookup = 0;
    Kind kind = Kind::kRoot;
    bool executable = false;
  };
  struct FileHandle {
    castore::B3Digest digest;
    std::shared_ptr<castore::BlobReader> reader;
  };
  struct DirHandle {
    uint64_t ino = 0;
    bool is_root = false;
    castore::B3Digest digest;
    uint64_t size = 0;
    // The listing: the Directory once fetched, or the roots as of OPENDIR.
    std::shared_ptr<const castore::Directory> directory;
    std::shared_ptr<const std::vector<castore::Entry>> roots;
  };
  using DigestMap = absl::flat_hash_map<castore::B3Digest, uint64_t>;

  // The dedup map `node` belongs to, and its key.
  DigestMap& MapFor(const castore::Node& node, castore::B3Digest* key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finds or creates the inode of `node`, takes one lookup reference and
  // fills `out`.
  void AcquireLocked(const castore::Node& node, uint32_t entry_timeout_s, fuse_entry_out* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The inode number `node` has now, or a stable synthetic one (top bit set)
  // when it has none; for plain READDIR, which takes no reference.
  uint64_t PeekInoLocked(const castore::Node& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillAttr(uint64_t ino, const Inode& inode, fuse_attr* attr) const;
  // Drops the inode; returns its kept Directory, if any, for the caller to
  // release once mu_ is unlocked.
  std::shared_ptr<const castore::Directory> EraseLocked(uint64_t ino, const Inode& inode)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The Directory of directory inode `ino`: kept for the inode, from the
  // cache, else fetched. 0, ENOENT, ENOTDIR or EIO.
  int GetDirectory(uint64_t ino, std::shared_ptr<const castore::Directory>* out);
  // Keeps `dir` decoded for directory inode `ino` while the kernel holds
  // that inode, if it does and the budget allows.
  void KeepDirectory(uint64_t ino, const std::shared_ptr<const castore::Directory>& dir);
  int GetDirectoryByDigest(const castore::B3Digest& digest, uint64_t size,
                           std::shared_ptr<const castore::Directory>* out);
  int LookupRoot(std::string_view name, fuse_entry_out* out);
  // Logs a failure once per digest (or root name) and returns EIO.
  int FailOnce(const std::string& key, const std::string& message);

  const castore::Services services_;
  const FsOptions options_;
  DirectoryCache directories_;

  mutable castor::Mutex mu_;
  absl::flat_hash_map<uint64_t, Inode> inodes_ ABSL_GUARDED_BY(mu_);
  DigestMap dirs_ ABSL_GUARDED_BY(mu_);
  DigestMap files_ ABSL_GUARDED_BY(mu_);
  DigestMap exec_files_ ABSL_GUARDED_BY(mu_);
  DigestMap symlinks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::string> targets_ ABSL_GUARDED_BY(mu_);
  // The decoded Directories of held directory inodes (KeepDirectory), and
  // their total entries (at most options_.kept_directory_entries).
  absl::flat_hash_map<uint64_t, std::shared_ptr<const castore::Directory>> kept_
      ABSL_GUARDED_BY(mu_);
  uint64_t kept_entries_ ABSL_GUARDED_BY(mu_) = 0;
  // The reader of an inode's current opens, so concurrent opens share one
  // (passthrough needs one backing file per inode).
  absl::flat_hash_map<uint64_t, std::weak_ptr<castore::BlobReader>> readers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ino_ ABSL_GUARDED_BY(mu_) = FUSE_ROOT_ID + 1;

  mutable castor::Mutex handles_mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<FileHandle>> files_open_
      ABSL_GUARDED_BY(handles_mu_);
  absl::flat_hash_map<uint64_t, std::shared_ptr<DirHandle>> dirs_open_ ABSL_GUARDED_BY(handles_mu_);
  uint64_t next_fh_ ABSL_GUARDED_BY(handles_mu_) = 1;

  mutable castor::Mutex log_mu_;
  absl::flat_hash_set<std::string> logged_ ABSL_GUARDED_BY(log_mu_);
};

}  // namespace castor::fs
