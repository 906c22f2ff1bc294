// The operations a FUSE filesystem implements, in decoded form: the
// Dispatcher parses a request, calls one of these, and encodes the result.
// Results are errno values (0 = success) because that is what FUSE sends;
// implementations convert their absl::Status once, at this edge.
// Implementations must be thread-safe: every method may run concurrently
// from any number of transport threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fs/fuse/abi.h"
#include "fs/fuse/wire.h"

namespace castor::fs::fuse {

class Filesystem {
 public:
  virtual ~Filesystem() = default;

  // The connection's INIT agreement is made (or restored after a takeover):
  // `flags` are the agreed INIT flags (kInitPassthrough among them when the
  // kernel takes backing files). Called once, before any other request.
  virtual void Initialized(uint64_t flags) { (void)flags; }
  // LOOKUP of `name` in directory `parent`. On success fills `out` and takes
  // one lookup reference on out->nodeid (released by Forget).
  // Errors: ENOENT (no such entry or stale parent), ENOTDIR, EPERM, EIO.
  virtual int Lookup(uint64_t parent, std::string_view name, fuse_entry_out* out) = 0;
  // FORGET / BATCH_FORGET: drops `nlookup` references. No reply.
  virtual void Forget(uint64_t ino, uint64_t nlookup) = 0;
  // GETATTR. Errors: ENOENT (unknown inode).
  virtual int GetAttr(uint64_t ino, fuse_attr_out* out) = 0;
  // READLINK. Errors: ENOENT, EINVAL (not a symlink).
  virtual int ReadLink(uint64_t ino, std::string* target) = 0;
  // OPEN with open(2) `flags`. Fills fh and open_flags (and, for FUSE
  // passthrough, kOpenPassthrough in open_flags and the backing id).
  // Errors: ENOENT, EISDIR, EROFS (write access asked), EIO (blob missing or
  // the service failing).
  virtual int Open(uint64_t ino, uint32_t flags, fuse_open_out* out) = 0;
  // READ of at most buf.size() bytes at `offset` through handle `fh`; sets
  // *n to the bytes read (short only at the end of the file).
  // Errors: EBADF (unknown handle), EIO.
  virtual int Read(uint64_t ino, uint64_t fh, uint64_t offset, std::span<uint8_t> buf,
                   size_t* n) = 0;
  // RELEASE of a file handle (unknown handles are ignored).
  virtual void Release(uint64_t ino, uint64_t fh) = 0;
  // OPENDIR. Errors: ENOENT, ENOTDIR, EROFS (write access asked).
  virtual int OpenDir(uint64_t ino, uint32_t flags, fuse_open_out* out) = 0;
  // Whether every directory can be listed without OPENDIR (READDIR with
  // fh 0, the directory named by its inode alone) and every listing may be
  // cached by the kernel for as long as it keeps the inode. When true and
  // the kernel offers FUSE_NO_OPENDIR_SUPPORT, the Dispatcher answers
  // OPENDIR with ENOSYS, after which the kernel sends neither OPENDIR nor
  // RELEASEDIR on the connection (two requests less per directory listed)
  // and caches listings as FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR would.
  virtual bool ListsWithoutOpenDir() const = 0;
  // READDIR / READDIRPLUS from `offset` (the `off` of the last entry the
  // caller saw, 0 at the start) into `out` until it is full or the listing
  // ends; `fh` is OPENDIR's handle, or 0 for a directory opened without
  // OPENDIR. For READDIRPLUS every entry written takes one lookup reference.
  // Errors: ENOENT (fh 0 and an unknown inode), EBADF, EPERM (listing not
  // allowed), EIO.
  virtual int ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus, DirentWriter& out) = 0;
  virtual void ReleaseDir(uint64_t ino, uint64_t fh) = 0;
  // STATFS.
  virtual int StatFs(uint64_t ino, fuse_kstatfs* out) = 0;
  // ACCESS with access(2) `mask`. Errors: ENOENT, EACCES, EROFS (W_OK).
  virtual int Access(uint64_t ino, uint32_t mask) = 0;
  // GETXATTR: the whole value. Errors: ENOENT, ENODATA, ENOSYS (xattrs not
  // offered at all: the kernel then stops asking).
  virtual int GetXattr(uint64_t ino, std::string_view name, std::string* value) = 0;
  // LISTXATTR: the NUL-terminated names, concatenated. Errors as GetXattr.
  virtual int ListXattr(uint64_t ino, std::string* names) = 0;
  // DESTROY (or the connection going away): every lookup reference and
  // handle is dropped.
  virtual void Destroy() = 0;
};

}  // namespace castor::fs::fuse
