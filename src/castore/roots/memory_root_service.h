// MemoryRootService (`memory://`): named roots in a sorted map. Thread-safe.
#pragma once

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "castore/roots/root_service.h"

namespace castor::castore {

class MemoryRootService : public RootService {
 public:
  absl::StatusOr<std::optional<Entry>> Get(const PathComponent& name) override;
  absl::Status List(const std::function<absl::Status(const Entry&)>& fn) override;
  absl::Status Put(const Entry& root) override;
  absl::StatusOr<bool> Remove(const PathComponent& name) override;

 private:
  castor::Mutex mu_;
  // std::string's operator< on char compares as unsigned (char_traits), so
  // the map is in castore's bytewise order.
  std::map<std::string, Entry> roots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::castore
