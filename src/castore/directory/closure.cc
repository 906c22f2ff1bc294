#include "castore/directory/closure.h"

#include <deque>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore {

absl::Status ClosureValidator::Add(const Directory& directory) {
  for (const Entry& e : directory.entries()) {
    const auto* child = std::get_if<DirectoryNode>(&e.node);
    if (child == nullptr) continue;
    std::optional<uint64_t> size;
    if (auto it = sizes_.find(child->digest); it != sizes_.end()) {
      size = it->second;
    } else {
      ASSIGN_OR_RETURN(size, stored_size_(child->digest));
    }
    if (!size.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("directory ", directory.digest().ToB3(), ": entry ", QuoteName(e.name.str()),
                       " refers to unknown directory ", child->digest.ToB3()));
    }
    if (*size != child->size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "directory ", directory.digest().ToB3(), ": entry ", QuoteName(e.name.str()),
          " has size ", child->size, " but directory ", child->digest.ToB3(), " has size ", *size));
    }
  }
  last_ = directory.digest();
  if (sizes_.emplace(directory.digest(), directory.size()).second) {
    directories_.push_back(directory);
  }
  return absl::OkStatus();
}

absl::StatusOr<B3Digest> ClosureValidator::top() const {
  if (!last_.has_value()) {
    return absl::FailedPreconditionError("no directory was sent");
  }
  return *last_;
}

absl::Status ClosurePutter::Put(const Directory& directory) {
  if (closed_) return absl::FailedPreconditionError("directory putter already closed");
  if (failed_) return absl::FailedPreconditionError("an earlier Put to this putter failed");
  absl::Status s = validator_.Add(directory);
  if (!s.ok()) failed_ = true;
  return s;
}

absl::StatusOr<B3Digest> ClosurePutter::Close() {
  if (closed_) return absl::FailedPreconditionError("directory putter already closed");
  closed_ = true;
  if (failed_) {
    return absl::FailedPreconditionError("an earlier Put to this putter failed; nothing stored");
  }
  ASSIGN_OR_RETURN(B3Digest root, validator_.top());
  RETURN_IF_ERROR(commit_(validator_.directories()));
  return root;
}

absl::Status WalkClosure(DirectoryService& service, const B3Digest& root,
                         const std::function<absl::Status(const Directory&)>& fn) {
  return WalkClosure([&service](const B3Digest& d) { return service.Get(d); }, root, fn);
}

absl::Status WalkClosure(const GetDirectoryFn& get, const B3Digest& root,
                         const std::function<absl::Status(const Directory&)>& fn) {
  absl::flat_hash_set<B3Digest> seen{root};
  std::deque<B3Digest> queue{root};
  bool first = true;
  while (!queue.empty()) {
    B3Digest digest = queue.front();
    queue.pop_front();
    ASSIGN_OR_RETURN(std::optional<Directory> dir, get(digest));
    if (!dir.has_value()) {
      if (first) {
        return absl::NotFoundError(absl::StrCat("directory ", digest.ToB3(), " not found"));
      }
      return absl::FailedPreconditionError(
          absl::StrCat("directory ", digest.ToB3(), " below ", root.ToB3(), " is missing"));
    }
    first = false;
    for (const Entry& e : dir->entries()) {
      if (const auto* d = std::get_if<DirectoryNode>(&e.node)) {
        if (seen.insert(d->digest).second) queue.push_back(d->digest);
      }
    }
    RETURN_IF_ERROR(fn(*dir));
  }
  return absl::OkStatus();
}

}  // namespace castor::castore
