// WorkerPool: a fixed set of threads running background tasks (read-ahead),
// with a bounded queue: Submit refuses a task when the queue is full, so
// background work never piles up behind slow I/O. Every task belongs to an
// owner (any pointer); Drain(owner) drops the owner's queued tasks and waits
// for its running ones, so an owner can make sure no task of its own runs
// past its destruction. Destroying the pool drops what is queued and joins
// its threads (they finish the tasks they run). Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"

namespace castor {

class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` to run on a pool thread; false (and `task` is dropped)
  // when max_queued tasks are waiting already.
  bool Submit(const void* owner, std::function<void()> task);

  // Drops the queued tasks of `owner` and waits until none of its tasks
  // runs. A task must not call this for its own owner.
  void Drain(const void* owner);

 private:
  struct Task {
    const void* owner = nullptr;
    std::function<void()> run;
  };
  void Work();

  const size_t max_queued_;
  castor::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const void*, size_t> running_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace castor
