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
  using StoredSize = std::function<absl::StatusOr<std::optional<uint64_t>>(const B3Digest&)>;
  explicit ClosureValidator(StoredSize stored_size) : stored_size_(std::move(stored_size)) {}

  // Checks every DirectoryNode of `directory` against what was sent before or
  // is stored: FailedPrecondition for an unknown child, InvalidArgument for a
  // size mismatch, both naming the entry. A Directory sent twice is kept once.
  absl::Status Add(const Directory& directory);

  // Directories accepted so far, in the order received, each once.
  const std::vector<Directory>& directories() const { return directories_; }
  // The top of the closure: the last Directory received; FailedPrecondition
  // when none was.
  absl::StatusOr<B3Digest> top() const;

 private:
  StoredSize stored_size_;
  absl::flat_hash_map<B3Digest, uint64_t> sizes_;  // sent in this stream
  std::vector<Directory> directories_;
  std::optional<B3Digest> last_;
};

// The DirectoryPutter of every local backend: validates the stream with a
// ClosureValidator, remembers the first failed Put (after which Close stores
// nothing), and on Close hands all accepted Directories to `commit` at once.
class ClosurePutter : public DirectoryPutter {
 public:
  using Commit = std::function<absl::Status(const std::vector<Directory>&)>;
  ClosurePutter(ClosureValidator::StoredSize stored_size, Commit commit)
      : validator_(std::move(stored_size)), commit_(std::move(commit)) {}
  absl::Status Put(const Directory& directory) override;
  absl::StatusOr<B3Digest> Close() override;

 private:
  ClosureValidator validator_;
  Commit commit_;
  bool closed_ = false;
  bool failed_ = false;  // a Put failed: the stream is broken
};

using GetDirectoryFn = std::function<absl::StatusOr<std::optional<Directory>>(const B3Digest&)>;

// Breadth-first walk over `root`'s closure using `get`, each digest once,
// parents before children (the GetRecursive contract): NotFound when the
// root is missing, FailedPrecondition when a descendant is.
absl::Status WalkClosure(const GetDirectoryFn& get, const B3Digest& root,
                         const std::function<absl::Status(const Directory&)>& fn);
// The same with service.Get.
absl::Status WalkClosure(DirectoryService& service, const B3Digest& root,
                         const std::function<absl::Status(const Directory&)>& fn);

}  // namespace castor::castore
