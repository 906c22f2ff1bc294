#include "castore/directory/memory_directory_service.h"

#include "base/status.h"
#include "castore/directory/closure.h"

namespace castor::castore {
absl::StatusOr<std::optional<Directory>> MemoryDirectoryService::Get(const B3Digest& digest) {
  castor::MutexLock lock(&mu_);
  auto it = dirs_.find(digest);
  if (it == dirs_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<uint64_t>> MemoryDirectoryService::StoredSize(const B3Digest& digest) {
  castor::MutexLock lock(&mu_);
  auto it = dirs_.find(digest);
  if (it == dirs_.end()) return std::nullopt;
  return it->second.size();
}

void MemoryDirectoryService::InsertAll(std::span<const Directory> directories) {
  castor::MutexLock lock(&mu_);
  for (const Directory& d : directories) dirs_.try_emplace(d.digest(), d);
}

absl::StatusOr<B3Digest> MemoryDirectoryService::Put(const Directory& directory) {
  ASSIGN_OR_RETURN(auto putter, OpenPutter());
  RETURN_IF_ERROR(putter->Put(directory));
  return putter->Close();
}

absl::StatusOr<std::unique_ptr<DirectoryPutter>> MemoryDirectoryService::OpenPutter() {
  return std::make_unique<ClosurePutter>([this](const B3Digest& d) { return StoredSize(d); },
                                         [this](const std::vector<Directory>& dirs) {
                                           InsertAll(dirs);
                                           return absl::OkStatus();
                                         });
}

absl::Status MemoryDirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  return WalkClosure(*this, root, fn);
}

absl::Status MemoryDirectoryService::ForEach(
    const std::function<absl::Status(const B3Digest&)>& fn) {
  std::vector<B3Digest> all;
  {
    castor::MutexLock lock(&mu_);
    for (const auto& [d, dir] : dirs_) all.push_back(d);
  }
  for (const B3Digest& d : all) RETURN_IF_ERROR(fn(d));
  return absl::OkStatus();
}

absl::Status MemoryDirectoryService::Delete(std::span<const B3Digest> digests) {
  castor::MutexLock lock(&mu_);
  for (const B3Digest& d : digests) dirs_.erase(d);
  return absl::OkStatus();
}

}  // namespace castor::castore
