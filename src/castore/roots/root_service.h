// RootService: named roots, each pointing at a castore node (directory, file
// or symlink). Names follow PathComponent's rules. Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "castore/node.h"

namespace castor::castore {

class RootService {
 public:
  virtual ~RootService() = default;

  // The root named `name` (entry.name == name), or nullopt. A stored value
  // that does not decode is DataLoss naming the root.
  virtual absl::StatusOr<std::optional<Entry>> Get(const PathComponent& name) = 0;

  // Every root, sorted bytewise by name. Stops at the first error `fn`
  // returns.
  virtual absl::Status List(const std::function<absl::Status(const Entry&)>& fn) = 0;

  // Creates or replaces the root entry.name. Durable when it returns.
  virtual absl::Status Put(const Entry& root) = 0;

  // Removes a root; returns whether it existed.
  virtual absl::StatusOr<bool> Remove(const PathComponent& name) = 0;
};

}  // namespace castor::castore
