#include "castore/testing/counting_services.h"

namespace castor::castore::testing {

absl::StatusOr<std::optional<Directory>> CountingDirectoryService::Get(const B3Digest& digest) {
  {
    castor::MutexLock lock(&mu_);
    ++gets_;
    ++gets_by_digest_[digest];
  }
  absl::StatusOr<std::optional<Directory>> got = inner_->Get(digest);
  if (got.ok() && got->has_value()) {
    castor::MutexLock lock(&mu_);
    ++sent_;
  }
  return got;
}

absl::StatusOr<B3Digest> CountingDirectoryService::Put(const Directory& directory) {
  return inner_->Put(directory);
}

absl::StatusOr<std::unique_ptr<DirectoryPutter>> CountingDirectoryService::OpenPutter() {
  return inner_->OpenPutter();
}

absl::Status CountingDirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  {
    castor::MutexLock lock(&mu_);
    ++recursive_gets_;
  }
  return inner_->GetRecursive(root, [&](const Directory& d) {
    {
      castor::MutexLock lock(&mu_);
      ++sent_;
    }
    return fn(d);
  });
}

absl::Status CountingDirectoryService::ForEach(
    const std::function<absl::Status(const B3Digest&)>& fn) {
  return inner_->ForEach(fn);
}

absl::Status CountingDirectoryService::Delete(std::span<const B3Digest> digests) {
  return inner_->Delete(digests);
}

uint64_t CountingDirectoryService::gets(const B3Digest& digest) const {
  castor::MutexLock lock(&mu_);
  auto it = gets_by_digest_.find(digest);
  return it == gets_by_digest_.end() ? 0 : it->second;
}

uint64_t CountingDirectoryService::gets() const {
  castor::MutexLock lock(&mu_);
  return gets_;
}

uint64_t CountingDirectoryService::recursive_gets() const {
  castor::MutexLock lock(&mu_);
  return recursive_gets_;
}

uint64_t CountingDirectoryService::directories_sent() const {
  castor::MutexLock lock(&mu_);
  return sent_;
}

void CountingDirectoryService::Reset() {
  castor::MutexLock lock(&mu_);
  gets_by_digest_.clear();
  gets_ = recursive_gets_ = sent_ = 0;
}

}  // namespace castor::castore::testing
