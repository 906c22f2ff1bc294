#include "castore/roots/memory_root_service.h"

#include <vector>

namespace castor::castore {

absl::StatusOr<std::optional<Entry>> MemoryRootService::Get(const PathComponent& name) {
  castor::MutexLock lock(&mu_);
  auto it = roots_.find(name.str());
  if (it == roots_.end()) return std::nullopt;
  return it->second;
}

absl::Status MemoryRootService::List(const std::function<absl::Status(const Entry&)>& fn) {
  std::vector<Entry> all;
  {
    castor::MutexLock lock(&mu_);
    for (const auto& [name, e] : roots_) all.push_back(e);
  }
  for (const Entry& e : all) {
    absl::Status s = fn(e);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status MemoryRootService::Put(const Entry& root) {
  castor::MutexLock lock(&mu_);
  roots_.insert_or_assign(root.name.str(), root);
  return absl::OkStatus();
}

absl::StatusOr<bool> MemoryRootService::Remove(const PathComponent& name) {
  castor::MutexLock lock(&mu_);
  return roots_.erase(name.str()) > 0;
}

}  // namespace castor::castore
