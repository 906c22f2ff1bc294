// Shared logic of every DirectoryService backend: checking a leaves-to-root
// stream (ClosureValidator) and walking a closure breadth-first.
// ClosureValidator belongs to one thread; the functions are thread-safe when
// the service is.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "castore/directory/directory_service.h"

namespace castor::castore {

class ClosureValidator {
 public:
  // `stored_size` answers for a digest not sent in this stream: the size of
  // the stored Directory, or nullopt when it is not stored.
  using StoredSize =
      std::function<absl::StatusOr<std::optional<uint64_t>>(const B3Digest&)>;
  explicit ClosureValidator(StoredSize stored_size)
      : stored_size_(std::move(stored_size)) {}

  // Checks every DirectoryNode of `directory` against what was sent before or
  // is stored: FailedPrecondition for an unknown child, InvalidArgument for a
  // size mismatch, both naming the entry. A Directory sent twice is kept once.
  absl::Status Add(const Directory& directory);

  // Directories accepted so far, in the order received, each once.
  const std::vector<Directory>& directories() const { return directories_; }
  // The last Directory received; FailedPrecondition when none was.
  absl::StatusOr<B3Digest> root() const;

 private:
  StoredSize stored_size_;
  absl::flat_hash_map<B3Digest, uint64_t> sizes_;  // sent in this stream
  std::vector<Directory> directories_;
  std::optional<B3Digest> last_;
};

// Breadth-first walk over `root`'s closure using service.Get, each digest
// once, parents before children (the GetRecursive contract).
absl::Status WalkClosure(DirectoryService& service, const B3Digest& root,
                         const std::function<absl::Status(const Directory&)>& fn);

}  // namespace castor::castore
