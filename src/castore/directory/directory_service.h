// DirectoryService: storage of castore Directories keyed by digest.
// Implementations are thread-safe; a DirectoryPutter belongs to one thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "castore/digest.h"
#include "castore/directory.h"

namespace castor::castore {

// Receives a closure leaves-first; stores all of it or nothing.
class DirectoryPutter {
 public:
  // Destroying a putter that was not closed stores nothing.
  virtual ~DirectoryPutter() = default;
  // Accepts the next Directory. Every DirectoryNode it holds must name a
  // Directory sent earlier to this putter or already stored, with a matching
  // size: otherwise FailedPrecondition (unknown child) or InvalidArgument
  // (size mismatch), naming the entry. A failed Put breaks the stream: Close
  // then fails and stores nothing. (A streaming client may only learn of the
  // error at Close.)
  virtual absl::Status Put(const Directory& directory) = 0;
  // Stores everything received and returns the last Directory's digest (the
  // root). FailedPrecondition when nothing was sent.
  virtual absl::StatusOr<B3Digest> Close() = 0;
};

class DirectoryService {
 public:
  virtual ~DirectoryService() = default;

  // The Directory, or nullopt when not stored. A stored value that does not
  // decode, or does not hash to `digest`, is DataLoss naming the digest.
  virtual absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) = 0;

  // Stores one Directory whose children are already stored (checked as by
  // DirectoryPutter::Put). Returns its digest.
  virtual absl::StatusOr<B3Digest> Put(const Directory& directory) = 0;

  // A putter for a leaves-to-root stream (all or nothing).
  virtual absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() = 0;

  // The closure of `root`, breadth-first: each Directory after the one that
  // refers to it, each digest once. NotFound when the root is missing;
  // FailedPrecondition when something below it is missing. Stops at the
  // first error `fn` returns.
  virtual absl::Status GetRecursive(const B3Digest& root,
                                    const std::function<absl::Status(const Directory&)>& fn) = 0;

  // Every stored digest (gc, verify). Unimplemented for remote backends.
  virtual absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) = 0;

  // Removes Directories (gc). Missing ones are ignored. Unimplemented for
  // remote backends.
  virtual absl::Status Delete(std::span<const B3Digest> digests) = 0;
};

}  // namespace castor::castore
