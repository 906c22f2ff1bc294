// AccessObserver: what a CastoreFs tells an observer about the accesses it
// serves, in inode terms only (the filesystem knows no paths and no file
// formats; a recorder such as AccessRecorder turns these into paths).
// Implementations must be thread-safe: every FUSE worker calls them, for
// the requests it serves, without holding any filesystem lock, and must
// not call back into the filesystem.
#pragma once

#include <cstdint>
#include <string_view>

namespace castor::fs {

class AccessObserver {
 public:
  virtual ~AccessObserver() = default;
  // Entry `name` of directory inode `parent` (1 is the mount's top, whose
  // entries are the roots) is inode `ino`: a LOOKUP found it, or a
  // READDIRPLUS handed it out. Called for every hit.
  virtual void OnEntry(uint64_t parent, std::string_view name, uint64_t ino) = 0;
  // The Directory of directory inode `ino` was needed: a name was looked up
  // in it or it was listed (called for every such request).
  virtual void OnDirectory(uint64_t ino) = 0;
  // `length` (> 0) bytes at `offset` of file inode `ino` were served.
  virtual void OnRead(uint64_t ino, uint64_t offset, uint64_t length) = 0;
};

}  // namespace castor::fs
