// The locks of a store directory, flock(2)s that die with their process
// (docs/gc.md explains the scheme):
// - StoreLock, DIR/lock: the import/gc exclusion lock (see gc.h for why).
//   Shared for imports, exclusive for gc.
// - ServeLock, DIR/serve.lock: held exclusively by a daemon serving the
//   store, for its whole life, and by a local gc while it runs. A daemon's
//   clients deduplicate against the store without holding the StoreLock, so
//   a local gc must not run beside a daemon (the daemon runs gc itself,
//   through its admin service), and a daemon must not start serving in the
//   middle of a local gc. The file names its holder, for the messages of
//   whoever finds it taken.
// A lock is released when its object is destroyed or the process dies.
// One object per thread; distinct objects are independent (each opens its
// own file description, so two in one process do exclude each other).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

class ServeLock {
 public:
  // Who holds the lock, as recorded in the file.
  struct Holder {
    std::string program;  // "castor daemon", "castor gc"
    int64_t pid = 0;
    std::vector<std::string> addresses;  // where a daemon serves
    // "castor daemon (pid 12, serving grpc+unix:///run/castor.sock)";
    // "another process" when nothing (readable) is recorded.
    std::string Describe() const;
  };

  // Takes the lock when it is free (creating DIR and DIR/serve.lock when
  // needed) and records `holder` in it. When another process holds it:
  // null, with what that process recorded in *current.
  static absl::StatusOr<std::unique_ptr<ServeLock>> TryAcquire(const std::string& dir,
                                                               const Holder& holder,
                                                               Holder* current);
  // Waits until the lock is free, then takes it as TryAcquire does.
  static absl::StatusOr<std::unique_ptr<ServeLock>> Acquire(const std::string& dir,
                                                            const Holder& holder);
  // Records a new description of the holder (a daemon knows its addresses
  // only once it listens).
  absl::Status Record(const Holder& holder);

  ~ServeLock();
  ServeLock(const ServeLock&) = delete;
  ServeLock& operator=(const ServeLock&) = delete;

 private:
  ServeLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  static absl::StatusOr<std::unique_ptr<ServeLock>> Take(const std::string& dir,
                                                         const Holder& holder, bool wait,
                                                         Holder* current);
  int fd_;
  std::string path_;
};

}  // namespace castor::castore
