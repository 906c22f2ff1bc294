// NAR (Nix ARchive), the serialisation Nix hashes, signs and transfers store
// paths in: what the reader and the writer share. A NAR is a sequence of
// strings, each an 8-byte little-endian length, the bytes, and zero bytes up
// to a multiple of 8:
//
//   nar       = "nix-archive-1" node
//   node      = "(" "type" ( regular | symlink | directory ) ")"
//   regular   = "regular" [ "executable" "" ] "contents" <file bytes>
//   symlink   = "symlink" "target" <target>
//   directory = "directory" { "entry" "(" "name" <name> "node" node ")" }
//
// Directory entries come sorted strictly ascending by name (bytewise), so a
// tree has exactly one NAR. NarVisitor receives a NAR as events; the reader
// (nar_reader.h) produces them from bytes, the writer (nar_writer.h) turns
// them into bytes, and castore_nar.h renders castore nodes through it.
// Declarations only; a visitor belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "castore/node.h"

namespace castor::nix {

inline constexpr std::string_view kNarMagic = "nix-archive-1";

// What a NAR may hold beyond the grammar: castore's rules (a NAR accepted
// here can become castore nodes, and every file system has them too). Entry
// names are valid castore::PathComponents (not empty, not "." or "..", no
// '/', no NUL, at most 255 bytes), symlink targets valid
// castore::SymlinkTargets (not empty, no NUL, at most 4095 bytes), and
// entries lie at most `max_depth` directories below the root.
struct NarLimits {
  size_t max_depth = castore::kMaxTreeDepth;
};

// The events of one NAR, in order. The root node comes first without an
// EntryName; every entry of a directory is an EntryName followed by its
// node's events. Borrowed strings are valid for the call only. A visitor
// that returns an error stops the stream with it.
class NarVisitor {
 public:
  virtual ~NarVisitor() = default;
  virtual absl::Status StartDirectory() = 0;
  // The name of the next entry of the current directory; its node follows.
  virtual absl::Status EntryName(std::string_view name) = 0;
  virtual absl::Status EndDirectory() = 0;
  // A regular file of `size` bytes, which follow in FileData calls (none for
  // an empty file), then EndFile.
  virtual absl::Status StartFile(uint64_t size, bool executable) = 0;
  virtual absl::Status FileData(std::string_view data) = 0;
  virtual absl::Status EndFile() = 0;
  virtual absl::Status Symlink(std::string_view target) = 0;
};

}  // namespace castor::nix
