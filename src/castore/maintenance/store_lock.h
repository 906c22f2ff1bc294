// StoreLock: the import/gc exclusion lock of a store directory, an flock(2)
// on DIR/lock (see gc.h for why). Shared for imports, exclusive for gc. The
// lock is released when the object is destroyed or the process dies.
// One object per thread; distinct objects are independent (each opens its
// own file description, so two in one process do exclude each other).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace castor::castore {

class StoreLock {
 public:
  enum class Mode { kShared, kExclusive };
  // Takes the lock, creating DIR and DIR/lock when needed. When the lock is
  // busy, calls `waiting` once (to tell the user) and then blocks.
  static absl::StatusOr<std::unique_ptr<StoreLock>> Acquire(
      const std::string& dir, Mode mode, const std::function<void()>& waiting = nullptr);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace castor::castore
