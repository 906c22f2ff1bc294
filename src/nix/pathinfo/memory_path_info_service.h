// MemoryPathInfoService (`memory://`): path infos in a sorted map.
// Thread-safe.
#pragma once

#include <map>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "nix/pathinfo/path_info_service.h"

namespace castor::nix {

class MemoryPathInfoService : public PathInfoService {
 public:
  absl::StatusOr<std::optional<PathInfo>> Get(const StorePath::Digest& digest) override;
  absl::StatusOr<PathInfo> Put(const PathInfo& info) override;
  absl::StatusOr<bool> Remove(const StorePath::Digest& digest) override;
  absl::Status List(const std::function<absl::Status(const PathInfo&)>& fn) override;

 private:
  castor::Mutex mu_;
  std::map<StorePath::Digest, PathInfo> infos_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::nix
