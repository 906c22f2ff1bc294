// The small in-memory tree the FUSE-level fuzz targets serve (directories,
// files, an executable 100 kB file, a symlink, a file whose blob is missing,
// a root whose Directory is missing), and the node-id bookkeeping that lets
// a target check lookup counts at the end. Shared by fuse_dispatcher_fuzz
// and virtiofs_fuzz.
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "castore/blob/memory_blob_service.h"
#include "castore/composition.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "fuzz/fuzz_check.h"

namespace castor::fuzz {

using castor::castore::B3Digest;
using castor::castore::Directory;
using castor::castore::DirectoryNode;
using castor::castore::Entry;
using castor::castore::FileNode;
using castor::castore::PathComponent;
using castor::castore::SymlinkNode;
using castor::castore::SymlinkTarget;

inline Entry Named(std::string_view name, castor::castore::Node node) {
  return Entry{*PathComponent::Create(name), std::move(node)};
}

inline castor::castore::Services MakeTree() {
  castor::castore::Services s;
  s.blobs = std::make_shared<castor::castore::MemoryBlobService>();
  s.directories = std::make_shared<castor::castore::MemoryDirectoryService>();
  s.roots = std::make_shared<castor::castore::MemoryRootService>();
  auto hello = *castor::castore::PutBlob(*s.blobs, "hello");
  std::string big(100000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  auto big_digest = *castor::castore::PutBlob(*s.blobs, big);
  B3Digest missing_blob = B3Digest::Of(std::string_view("not stored"));
  Directory sub = *Directory::Create({Named("x", FileNode{hello, 5, false})});
  FUZZ_CHECK(s.directories->Put(sub).ok());
  Directory missing_dir = *Directory::Create({Named("y", FileNode{hello, 5, false})});
  Directory dir = *Directory::Create({
      Named("a", FileNode{hello, 5, false}),
      Named("b", FileNode{big_digest, big.size(), true}),
      Named("link", SymlinkNode{*SymlinkTarget::Create("../hello")}),
      Named("lost", FileNode{missing_blob, 10, false}),
      Named("sub", DirectoryNode{sub.digest(), sub.size()}),
  });
  FUZZ_CHECK(s.directories->Put(dir).ok());
  FUZZ_CHECK(s.roots->Put(Named("hello", FileNode{hello, 5, false})).ok());
  FUZZ_CHECK(s.roots->Put(Named("dir", DirectoryNode{dir.digest(), dir.size()})).ok());
  // The directory service refuses dangling children, so the missing
  // Directory hangs off a root.
  FUZZ_CHECK(
      s.roots->Put(Named("gone", DirectoryNode{missing_dir.digest(), missing_dir.size()})).ok());
  FUZZ_CHECK(s.roots->Put(Named("ln", SymlinkNode{*SymlinkTarget::Create("dir/a")})).ok());
  return s;
}

// Node ids the replies handed to the "kernel" (each with one lookup
// reference): LOOKUP entries and READDIRPLUS records.
inline void CollectNodeIds(uint32_t opcode, const uint8_t* reply, size_t length,
                           std::set<uint64_t>& ids) {
  const uint8_t* p = reply + sizeof(fuse_out_header);
  size_t left = length - sizeof(fuse_out_header);
  if (opcode == FUSE_LOOKUP && left >= sizeof(fuse_entry_out)) {
    fuse_entry_out e;
    std::memcpy(&e, p, sizeof(e));
    if (e.nodeid != 0) ids.insert(e.nodeid);
  }
  if (opcode != FUSE_READDIRPLUS) return;
  while (left >= sizeof(fuse_direntplus)) {
    fuse_direntplus d;
    std::memcpy(&d, p, sizeof(d));
    if (d.entry_out.nodeid != 0) ids.insert(d.entry_out.nodeid);
    size_t record = FUSE_DIRENTPLUS_SIZE(&d);
    FUZZ_CHECK(record <= left);  // a record never runs past the reply
    p += record;
    left -= record;
  }
}

}  // namespace castor::fuzz
