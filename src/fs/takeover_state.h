// TakeoverState: what a castor mount hands to the process that takes it
// over (`castor mount --takeover`), and its wire format. It is everything the
// kernel may still name after the handover: the inode numbers it holds with
// the castore node each names (kind, digest, size, executable bit, symlink
// target) and its lookup count, the open file and directory handles, the
// next inode and handle numbers (never reused), and the FUSE INIT agreement
// the successor must keep (it gets no INIT). Directories fetched and blob
// readers opened are not part of it: the successor fetches and opens them
// again by digest.
//
// The format is versioned little-endian binary. It arrives over a socket, so
// ParseTakeoverState trusts nothing: sizes are bounded (kMaxTakeoverStateBytes,
// counts checked against the bytes left before anything is allocated),
// names and symlink targets are validated as castore validates them, inode
// and handle numbers must be unique, below the next numbers and consistent
// (a file handle names a file inode of the same digest, ...), and every
// problem is InvalidArgument naming what is wrong.
// Thread-safe: plain values and functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/digest.h"
#include "castore/directory.h"
#include "fs/inode_table.h"

namespace castor::fs {

inline constexpr uint32_t kTakeoverStateVersion = 1;
// Far above what a mount holds (a million inodes take ~80 MB), small enough
// that a peer cannot make us allocate without bound.
inline constexpr size_t kMaxTakeoverStateBytes = size_t{512} << 20;

struct TakeoverFileHandle {
  uint64_t fh = 0;
  uint64_t ino = 0;
  castore::B3Digest digest;
  uint64_t size = 0;
};

struct TakeoverDirHandle {
  uint64_t fh = 0;
  uint64_t ino = 0;
  bool is_top = false;
  // Directory inodes: the Directory's digest and size.
  castore::B3Digest digest;
  uint64_t size = 0;
  // The top directory: the roots as of its OPENDIR (nullopt: listing refused).
  std::optional<std::vector<castore::Entry>> roots;
};

struct TakeoverState {
  // The FUSE INIT agreement.
  uint32_t fuse_minor = 0;
  uint64_t fuse_flags = 0;
  uint32_t max_write = 0;
  uint32_t max_pages = 0;
  // The mount point, so a successor started for another one refuses.
  std::string mountpoint;

  uint64_t next_ino = InodeTable::kTopIno + 1;
  uint64_t next_fh = 1;
  std::vector<SavedInode> inodes;  // without the root
  std::vector<TakeoverFileHandle> files;
  std::vector<TakeoverDirHandle> dirs;
};

std::string SerializeTakeoverState(const TakeoverState& state);
absl::StatusOr<TakeoverState> ParseTakeoverState(std::string_view bytes);

// A file (the memfd castor keeps in systemd's fd store) holding the latest
// serialized state, replaced so that a process killed at any point leaves
// either the old or the new copy readable: the bytes go to a region the
// current copy does not use, then one 16-byte write of the header (offset,
// length) switches to them.
absl::Status WriteStateCopy(int fd, std::string_view bytes);
// The current copy; InvalidArgument when the file holds none or a damaged
// header, the errno's status when reading fails.
absl::StatusOr<std::string> ReadStateCopy(int fd);

}  // namespace castor::fs
