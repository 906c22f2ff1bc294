// CastoreFs: the read-only filesystem over castore's three services, as a
// fuse::Filesystem (transport-free; the Dispatcher calls it). Semantics are
// docs/design.md's table "The filesystem":
//   - inode 1 is the mount's top directory; its entries are the named roots
//     (RootService), listed only with `list_root` (else READDIR is EPERM);
//   - every other inode is a castore node, deduplicated (InodeTable): equal
//     blob digest (and equal executable bit, which the mode depends on),
//     equal symlink target or equal directory digest share one inode;
//   - an inode lives while the kernel holds lookup references to it
//     (LOOKUP and READDIRPLUS take one, FORGET drops them), so memory follows
//     the kernel's cache; decoded Directories sit in a bounded LRU cache
//     (lookups by name are a binary search in it), and the Directory of a
//     directory inode stays decoded while the kernel holds that inode (up
//     to kept_directory_entries in all): the kernel looks names up in the
//     directories it holds, and a directory larger than the LRU bound would
//     otherwise be fetched and decoded again for every name looked up in it;
//   - open files and directories are numbered handles (HandleTable), one
//     number space for both;
//   - a missing Directory or blob, or a failing service, is EIO for that
//     request (logged once per digest, remembering at most
//     kMaxLoggedProblems of them), while the node's own stat still works
//     (attributes come from the parent's entry);
//   - no byte is served that was not checked against the blob's digest when
//     it was read (Verified() readers check each piece they read; others
//     are hashed whole at open), so a blob that rots on disk under a mount
//     is EIO for every read that touches a damaged piece;
//   - an AccessObserver in the options hears of the accesses it serves,
//     by inode (recording them is its business, not the filesystem's);
//   - with BackingFiles in the options and an INIT that agreed to FUSE
//     passthrough, a blob kept in a local file is handed to the kernel,
//     which then reads it without asking (no READ arrives for it, and the
//     AccessObserver hears of no read of it). Such a file is hashed whole
//     against its digest the first time it is registered in this mount
//     (mismatch: EIO at open); bytes that rot on disk after that are served
//     unchecked. One backing id per inode, shared by its open handles and
//     dropped at the last release. When the kernel refuses a registration
//     for want of permission or support (or the store's file system is
//     stacked too deep), passthrough is off for the rest of
//     the mount (logged once) and files are served as without it.
// Thread-safe. The inode table, the handle tables and each directory handle
// lock themselves, only for the duration of their own calls; CastoreFs holds
// no lock while calling them, and none across a service call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "base/mutex.h"
#include "castore/composition.h"
#include "castore/directory.h"
#include "fs/access_observer.h"
#include "fs/directory_cache.h"
#include "fs/fuse/backing_files.h"
#include "fs/fuse/filesystem.h"
#include "fs/handle_table.h"
#include "fs/inode_table.h"
#include "fs/takeover_state.h"

namespace castor::fs {

struct FsOptions {
  // READDIR of the mount's top directory lists the named roots (else EPERM).
  bool list_root = false;
  // Offer user.tvix.castore.{blob,directory}.digest xattrs (else GETXATTR
  // and LISTXATTR are ENOSYS, so the kernel stops asking).
  bool show_xattr = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Entry timeout for names in the mount's top directory: roots can be added, replaced
  // and removed while mounted; everything below a root is immutable.
  uint32_t root_entry_timeout_s = 1;
  // Decoded Directories kept for lookups, bounded by their total entries.
  uint64_t directory_cache_entries = 1 << 14;
  // Decoded Directories of directory inodes the kernel holds, kept as long
  // as it holds them (beyond the cache above), bounded by their total
  // entries.
  uint64_t kept_directory_entries = 1 << 22;
  // Told about every directory needed, name found and byte range served
  // (fs/access_observer.h); null: nobody is.
  std::shared_ptr<AccessObserver> access_observer;
  // Registers blob files with the FUSE connection for passthrough (see
  // above); null: reads are always served by this process.
  std::shared_ptr<fuse::BackingFiles> backing_files;
};

inline constexpr char kBlobDigestXattr[] = "user.tvix.castore.blob.digest";
inline constexpr char kDirectoryDigestXattr[] = "user.tvix.castore.directory.digest";

class CastoreFs : public fuse::Filesystem {
 public:
  CastoreFs(castore::Services services, FsOptions options);
  ~CastoreFs() override;

  void Initialized(uint64_t flags) override;
  int Lookup(uint64_t parent, std::string_view name, fuse_entry_out* out) override;
  void Forget(uint64_t ino, uint64_t nlookup) override;
  int GetAttr(uint64_t ino, fuse_attr_out* out) override;
  int ReadLink(uint64_t ino, std::string* target) override;
  int Open(uint64_t ino, uint32_t flags, fuse_open_out* out) override;
  int Read(uint64_t ino, uint64_t fh, uint64_t offset, std::span<uint8_t> buf, size_t* n) override;
  void Release(uint64_t ino, uint64_t fh) override;
  int OpenDir(uint64_t ino, uint32_t flags, fuse_open_out* out) override;
  // True unless `list_root`: the root's listing changes with the roots, so
  // it needs OPENDIR (a snapshot per open) and must not be cached; every
  // other listing is immutable, and the inode names it.
  bool ListsWithoutOpenDir() const override { return !options_.list_root; }
  int ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
              fuse::DirentWriter& out) override;
  void ReleaseDir(uint64_t ino, uint64_t fh) override;
  int StatFs(uint64_t ino, fuse_kstatfs* out) override;
  int Access(uint64_t ino, uint32_t mask) override;
  int GetXattr(uint64_t ino, std::string_view name, std::string* value) override;
  int ListXattr(uint64_t ino, std::string* names) override;
  void Destroy() override;

  // Inodes in the table, the mount's top directory included (tests, statistics).
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
  // Whether opens are handed to the kernel now (FUSE passthrough agreed,
  // and not turned off by a refused registration).
  bool passthrough() const { return passthrough_.load(std::memory_order_acquire); }
  // Inodes whose open files the kernel reads through a backing id now.
  size_t passthrough_backings() const;
  // Digests hashed whole for passthrough, remembered so that a blob is
  // hashed once per mount (cleared, not grown, past this many).
  static constexpr size_t kMaxVerifiedBackings = 1 << 18;
  // castor_fuse_passthrough_backing_files: backing ids registered by every
  // CastoreFs of the process.
  static metrics::Gauge& BackingGauge();

  // Takeover (fs/takeover_state.h). SaveState fills the inodes, handles and
  // next numbers of `state` (not its FUSE fields); call it while no request
  // runs, or the copy may be torn between tables. RestoreState rebuilds them
  // in a file system that has served nothing yet, opening the blob of every
  // open file again (one that fails answers EIO on read). FailedPrecondition
  // when this one is in use, InvalidArgument for inconsistent state.
  // After a crash the state is a copy that may be older than what the
  // kernel holds: `lost_below` > 0 then numbers new inodes and handles from
  // there on, and an unknown inode or handle number below it (given out
  // after the copy was taken) answers EIO instead of ENOENT / EBADF.
  void SaveState(TakeoverState* state) const;
  absl::Status RestoreState(const TakeoverState& state, uint64_t lost_below = 0);
  // Grows with every change SaveState would see (lookups, forgets, opens,
  // releases), so a periodic copy is taken only when something changed.
  uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }

 private:
  // The reader file inode `ino` shares, opened (and verified, unless the
  // reader verifies as it reads) when none is open. 0 or EIO.
  int OpenReader(uint64_t ino, const castore::B3Digest& digest, uint64_t size,
                 std::shared_ptr<castore::BlobReader>* out);
  // Under passthrough: how the open files of inode `ino`, whose shared
  // reader is `reader`, are served: the decision an open handle of it
  // holds, else a new one (the blob file hashed whole unless it was in
  // this mount, and registered). 0, or EIO when the file does not hold the
  // blob.
  int AttachBacking(uint64_t ino, const castore::B3Digest& digest, uint64_t size,
                    const castore::BlobReader& reader, std::shared_ptr<PassthroughBacking>* out);
  // A registration failed: passthrough goes off for good when the kernel
  // cannot or may not do it, else only this inode is served by us.
  void BackingRefused(const castore::B3Digest& digest, const absl::Status& status);
  void FillAttr(uint64_t ino, const Inode& inode, fuse_attr* attr) const;
  // Takes a lookup reference on the inode of `node` and fills `out`.
  void Acquire(const castore::Node& node, uint32_t entry_timeout_s, fuse_entry_out* out);
  // The Directory of directory inode `ino`: kept for the inode, from the
  // cache, else fetched. 0, ENOENT, ENOTDIR or EIO.
  int GetDirectory(uint64_t ino, std::shared_ptr<const castore::Directory>* out);
  int GetDirectoryByDigest(const castore::B3Digest& digest, uint64_t size,
                           std::shared_ptr<const castore::Directory>* out);
  int LookupRoot(std::string_view name, fuse_entry_out* out);
  // The named roots as of now, in the RootService's order. 0 or EIO.
  int ListRoots(std::shared_ptr<std::vector<castore::Entry>>* out);
  // castor_fs_open_handles{kind}: file or directory handles open in every
  // CastoreFs of the process.
  static metrics::Gauge& OpenHandles(std::string_view kind);
  // Logs a failure once per digest (or root name) and returns EIO.
  int FailOnce(const std::string& key, const std::string& message);
  // The errno for an inode number not in the table: ENOENT, or EIO when
  // it may be one a crashed predecessor gave out (RestoreState).
  int Missing(uint64_t ino) const;

  const castore::Services services_;
  const FsOptions options_;
  DirectoryCache directories_;

  InodeTable inodes_;
  HandleNumbers handle_numbers_;
  HandleTable<FileHandle> open_files_{&handle_numbers_, &OpenHandles("file")};
  HandleTable<DirHandle> open_dirs_{&handle_numbers_, &OpenHandles("directory")};

  // Set by RestoreState before any request is served.
  uint64_t lost_below_ = 0;
  std::atomic<uint64_t> changes_{0};

  std::atomic<bool> passthrough_{false};
  // Lock order: backing_mu_ may be held while calling BackingFiles (and
  // while a PassthroughBacking is destroyed), never while taking another
  // lock of this class.
  mutable castor::Mutex backing_mu_;
  // The decision each inode's open handles share, while one is open.
  absl::flat_hash_map<uint64_t, std::weak_ptr<PassthroughBacking>> backings_
      ABSL_GUARDED_BY(backing_mu_);
  absl::flat_hash_set<castore::B3Digest> verified_backings_ ABSL_GUARDED_BY(backing_mu_);

  mutable castor::Mutex log_mu_;
  absl::flat_hash_set<std::string> logged_ ABSL_GUARDED_BY(log_mu_);
};

}  // namespace castor::fs
