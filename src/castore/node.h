// The castore model's leaf types: PathComponent (a validated entry name),
// SymlinkTarget, the three node kinds and Entry (a named node). All are
// immutable values validated on construction (thread-compatible).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "castore/digest.h"

namespace tvix::castore::v1 {
class Node;
}

namespace castor::castore {

// An entry name: not empty, not "." or "..", no '/', no NUL, <= 255 bytes.
class PathComponent {
 public:
  static constexpr size_t kMaxLength = 255;
  static absl::StatusOr<PathComponent> Create(std::string_view name);

  const std::string& str() const { return name_; }
  friend bool operator==(const PathComponent&, const PathComponent&) = default;
  // Bytewise (unsigned) order, as castore sorts names.
  friend std::strong_ordering operator<=>(const PathComponent& a, const PathComponent& b) {
    int c = a.name_.compare(b.name_);
    return c < 0   ? std::strong_ordering::less
           : c > 0 ? std::strong_ordering::greater
                   : std::strong_ordering::equal;
  }

 private:
  explicit PathComponent(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// A symlink target: not empty, no NUL, <= 4095 bytes; otherwise opaque bytes.
class SymlinkTarget {
 public:
  static constexpr size_t kMaxLength = 4095;
  static absl::StatusOr<SymlinkTarget> Create(std::string_view target);

  const std::string& str() const { return target_; }
  friend bool operator==(const SymlinkTarget&, const SymlinkTarget&) = default;

 private:
  explicit SymlinkTarget(std::string target) : target_(std::move(target)) {}
  std::string target_;
};

struct DirectoryNode {
  B3Digest digest;
  // Entries below, recursively (Directory::size() of the child).
  uint64_t size = 0;
  friend bool operator==(const DirectoryNode&, const DirectoryNode&) = default;
};

struct FileNode {
  B3Digest digest;
  uint64_t size = 0;
  bool executable = false;
  friend bool operator==(const FileNode&, const FileNode&) = default;
};

struct SymlinkNode {
  SymlinkTarget target;
  friend bool operator==(const SymlinkNode&, const SymlinkNode&) = default;
};

using Node = std::variant<DirectoryNode, FileNode, SymlinkNode>;

// A named node: an entry of a Directory, or a named root.
struct Entry {
  PathComponent name;
  Node node;
  friend bool operator==(const Entry&, const Entry&) = default;
};

// "directory", "file" or "symlink".
std::string_view NodeKind(const Node& node);

// Quotes a name for messages: printable ASCII as is, other bytes escaped.
std::string QuoteName(std::string_view name);

// The deepest entry castor imports, exports or verifies: 2048 components
// below the top, as many as a PATH_MAX (4096-byte) path holds. The tree
// walkers recurse once per level, so without a limit a hostile archive,
// source tree or store could overflow their stacks.
inline constexpr size_t kMaxTreeDepth = 2048;

// InvalidArgument "<what> '<path, shortened>': more than 2048 levels deep".
absl::Status TooDeepError(std::string_view what, std::string_view path);

// Entry <-> tvix.castore.v1.Node. Decoding validates the name, the digest
// length and the target; an unset oneof is InvalidArgument.
absl::StatusOr<Entry> EntryFromProto(const tvix::castore::v1::Node& proto);
tvix::castore::v1::Node EntryToProto(const Entry& entry);
// The same through bytes (root values on disk and on the wire).
absl::StatusOr<Entry> DecodeEntry(std::string_view bytes);
std::string EncodeEntry(const Entry& entry);

}  // namespace castor::castore
