#include "castore/directory/memory_directory_service.h"

#include "castore/directory/closure.h"
#include "castore/status_macros.h"

namespace castor::castore {
namespace {

class MemoryPutter : public DirectoryPutter {
 public:
  explicit MemoryPutter(MemoryDirectoryService* service)
      : service_(service),
        validator_([service](const B3Digest& d) { return service->StoredSize(d); }) {}
  absl::Status Put(const Directory& directory) override {
    if (closed_) return absl::FailedPreconditionError("directory putter already closed");
    if (failed_) return absl::FailedPreconditionError("an earlier Put to this putter failed");
    absl::Status s = validator_.Add(directory);
    if (!s.ok()) failed_ = true;
    return s;
  }
  absl::StatusOr<B3Digest> Close() override {
    if (closed_) return absl::FailedPreconditionError("directory putter already closed");
    closed_ = true;
    if (failed_) {
      return absl::FailedPreconditionError("an earlier Put to this putter failed; nothing stored");
    }
    ASSIGN_OR_RETURN(B3Digest root, validator_.root());
    service_->InsertAll(validator_.directories());
    return root;
  }

 private:
  MemoryDirectoryService* service_;
  ClosureValidator validator_;
  bool closed_ = false;
  bool failed_ = false;  // a Put failed: the stream is broken, Close stores nothing
};

}  // namespace

absl::StatusOr<std::optional<Directory>> MemoryDirectoryService::Get(
    const B3Digest& digest) {
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(digest);
  if (it == dirs_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<uint64_t>> MemoryDirectoryService::StoredSize(
    const B3Digest& digest) {
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(digest);
  if (it == dirs_.end()) return std::nullopt;
  return it->second.size();
}

void MemoryDirectoryService::InsertAll(const std::vector<Directory>& directories) {
  absl::MutexLock lock(&mu_);
  for (const Directory& d : directories) dirs_.try_emplace(d.digest(), d);
}

absl::StatusOr<B3Digest> MemoryDirectoryService::Put(const Directory& directory) {
  MemoryPutter putter(this);
  RETURN_IF_ERROR(putter.Put(directory));
  return putter.Close();
}

absl::StatusOr<std::unique_ptr<DirectoryPutter>> MemoryDirectoryService::OpenPutter() {
  return std::make_unique<MemoryPutter>(this);
}

absl::Status MemoryDirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  return WalkClosure(*this, root, fn);
}

absl::Status MemoryDirectoryService::ForEach(
    const std::function<absl::Status(const B3Digest&)>& fn) {
  std::vector<B3Digest> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [d, dir] : dirs_) all.push_back(d);
  }
  for (const B3Digest& d : all) RETURN_IF_ERROR(fn(d));
  return absl::OkStatus();
}

absl::Status MemoryDirectoryService::Delete(std::span<const B3Digest> digests) {
  absl::MutexLock lock(&mu_);
  for (const B3Digest& d : digests) dirs_.erase(d);
  return absl::OkStatus();
}

}  // namespace castor::castore
