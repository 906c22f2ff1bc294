#include "castore/directory/caching_directory_service.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "castore/status_macros.h"
#include "spdlog/spdlog.h"

namespace castor::castore {
namespace {

// Puts `dirs` (a closure of `root`, any order) into `putter` children first,
// by an iterative depth-first post-order walk.
absl::Status PutLeavesFirst(DirectoryPutter& putter, const B3Digest& root,
                            const std::vector<Directory>& dirs) {
  absl::flat_hash_map<B3Digest, const Directory*> by_digest;
  for (const Directory& d : dirs) by_digest.emplace(d.digest(), &d);
  auto find = [&](const B3Digest& d) -> absl::StatusOr<const Directory*> {
    auto it = by_digest.find(d);
    if (it == by_digest.end()) {
      return absl::DataLossError("directory " + d.ToB3() + " is missing from its closure");
    }
    return it->second;
  };
  absl::flat_hash_set<B3Digest> visited{root};
  ASSIGN_OR_RETURN(const Directory* top, find(root));
  std::vector<std::pair<const Directory*, size_t>> stack{{top, 0}};
  while (!stack.empty()) {
    auto& [dir, next] = stack.back();
    const Directory* child = nullptr;
    while (next < dir->entries().size() && child == nullptr) {
      const auto* node = std::get_if<DirectoryNode>(&dir->entries()[next].node);
      ++next;
      if (node != nullptr && visited.insert(node->digest).second) {
        ASSIGN_OR_RETURN(child, find(node->digest));
      }
    }
    if (child != nullptr) {
      stack.emplace_back(child, 0);
    } else {
      RETURN_IF_ERROR(putter.Put(*dir));
      stack.pop_back();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<std::vector<Directory>>> CachingDirectoryService::Fetch(
    const B3Digest& root) {
  std::vector<Directory> dirs;
  absl::Status s = remote_->GetRecursive(root, [&](const Directory& d) {
    dirs.push_back(d);
    return absl::OkStatus();
  });
  if (s.code() == absl::StatusCode::kNotFound && dirs.empty()) return std::nullopt;
  RETURN_IF_ERROR(s);
  // A cache that cannot store must not fail the read.
  absl::Status stored = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto putter, local_->OpenPutter());
    RETURN_IF_ERROR(PutLeavesFirst(*putter, root, dirs));
    return putter->Close().status();
  }();
  if (stored.code() == absl::StatusCode::kDataLoss) return stored;
  if (!stored.ok()) spdlog::warn("caching directory {}: {}", root.ToB3(), SV(stored.message()));
  return dirs;
}

absl::StatusOr<std::optional<Directory>> CachingDirectoryService::Get(const B3Digest& digest) {
  ASSIGN_OR_RETURN(std::optional<Directory> here, local_->Get(digest));
  if (here.has_value()) return here;
  ASSIGN_OR_RETURN(auto fetched, Fetch(digest));
  if (!fetched.has_value()) return std::nullopt;
  return fetched->front();
}

absl::Status CachingDirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  ASSIGN_OR_RETURN(std::optional<Directory> here, local_->Get(root));
  // The cache only holds complete closures, so a hit serves the whole walk.
  if (here.has_value()) return local_->GetRecursive(root, fn);
  ASSIGN_OR_RETURN(auto fetched, Fetch(root));
  if (!fetched.has_value()) {
    return absl::NotFoundError("directory " + root.ToB3() + " not found");
  }
  for (const Directory& d : *fetched) RETURN_IF_ERROR(fn(d));
  return absl::OkStatus();
}

absl::StatusOr<B3Digest> CachingDirectoryService::Put(const Directory& directory) {
  return remote_->Put(directory);
}

absl::StatusOr<std::unique_ptr<DirectoryPutter>> CachingDirectoryService::OpenPutter() {
  return remote_->OpenPutter();
}

absl::Status CachingDirectoryService::ForEach(
    const std::function<absl::Status(const B3Digest&)>& fn) {
  return remote_->ForEach(fn);
}

absl::Status CachingDirectoryService::Delete(std::span<const B3Digest> digests) {
  RETURN_IF_ERROR(remote_->Delete(digests));
  return local_->Delete(digests);
}

}  // namespace castor::castore
