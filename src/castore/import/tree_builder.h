// TreeBuilder: the one place an import turns a tree of names into castore
// Directories. Every import source (the filesystem walk, tar archives, NARs)
// feeds it the same way, depth first: OpenDirectory, the directory's entries
// (Add, or a nested OpenDirectory ... CloseDirectory), CloseDirectory. It
// collects each open directory's entries, and when the directory closes
// builds its Directory (sorted by name; a duplicate name is refused), sends
// it to the DirectoryPutter and adds its DirectoryNode to the parent. So
// Directories reach the putter leaves first and only the open path is held
// in memory. Entries more than `max_depth` levels below the root are
// refused (InvalidArgument); the sources check the same limit themselves as
// they read, to fail before the tree is built and in their own words.
//
// The caller closes the putter once the root is closed (the root's digest
// is the last one put). Thread-safety: one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/directory/directory_service.h"
#include "castore/node.h"

namespace castor::castore {

class TreeBuilder {
 public:
  explicit TreeBuilder(DirectoryPutter& putter, size_t max_depth = kMaxTreeDepth)
      : putter_(putter), max_depth_(max_depth) {}

  // Opens the root directory. `what` names it in errors (a path, or e.g.
  // "NAR path '/'"). FailedPrecondition when a root was opened before.
  absl::Status OpenRoot(std::string what);

  // Opens the directory `name` inside the open one; its entries follow
  // until the matching CloseDirectory. `what` names it in errors.
  // InvalidArgument naming `what` when it lies more than
  // max_depth levels below the root; FailedPrecondition when no directory
  // is open.
  absl::Status OpenDirectory(PathComponent name, std::string what);

  // Adds a file or symlink node (or a DirectoryNode already stored) to the
  // open directory. InvalidArgument naming `what` past
  // max_depth; FailedPrecondition when no directory is open.
  absl::Status Add(PathComponent name, Node node, std::string_view what);

  // Closes the open directory: builds its Directory and puts it. Errors of
  // Directory::Create (e.g. a duplicate name) and of the putter come back
  // annotated with the directory's `what`. Returns its node, which is also
  // added to the parent (or becomes root() when it was the root).
  absl::StatusOr<DirectoryNode> CloseDirectory();

  // Levels open: 0 before OpenRoot and after the root is closed.
  size_t depth() const { return frames_.size(); }
  // The root's node, once it is closed.
  const std::optional<DirectoryNode>& root() const { return root_; }
  // Directories put so far.
  uint64_t directories() const { return directories_; }

 private:
  struct Frame {
    std::optional<PathComponent> name;  // in the parent; none for the root
    std::string what;
    std::vector<Entry> entries;
  };
  absl::Status CheckOpen(std::string_view what) const;

  DirectoryPutter& putter_;
  const size_t max_depth_;
  std::vector<Frame> frames_;
  bool root_opened_ = false;
  std::optional<DirectoryNode> root_;
  uint64_t directories_ = 0;
};

}  // namespace castor::castore
