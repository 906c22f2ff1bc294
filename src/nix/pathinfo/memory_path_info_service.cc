#include "nix/pathinfo/memory_path_info_service.h"

#include <vector>

#include "base/status.h"

namespace castor::nix {

absl::StatusOr<std::optional<PathInfo>> MemoryPathInfoService::Get(
    const StorePath::Digest& digest) {
  castor::MutexLock lock(&mu_);
  auto it = infos_.find(digest);
  if (it == infos_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<PathInfo> MemoryPathInfoService::Put(const PathInfo& info) {
  castor::MutexLock lock(&mu_);
  infos_.insert_or_assign(info.store_path().digest(), info);
  return info;
}

absl::StatusOr<bool> MemoryPathInfoService::Remove(const StorePath::Digest& digest) {
  castor::MutexLock lock(&mu_);
  return infos_.erase(digest) > 0;
}

absl::Status MemoryPathInfoService::List(const std::function<absl::Status(const PathInfo&)>& fn) {
  // A snapshot, so `fn` runs without the lock (it may call back into us).
  std::vector<PathInfo> all;
  {
    castor::MutexLock lock(&mu_);
    for (const auto& [digest, info] : infos_) all.push_back(info);
  }
  for (const PathInfo& info : all) RETURN_IF_ERROR(fn(info));
  return absl::OkStatus();
}

}  // namespace castor::nix
