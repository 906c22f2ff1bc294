// castor's mutex: std::mutex with abseil's thread-safety annotations and an
// Await(predicate). It exists so ThreadSanitizer understands every lock we
// take: Debian's abseil is not built with TSan, so TSan cannot see the
// synchronisation inside castor::Mutex and reports races on everything it
// guards. std::mutex goes through pthread, which TSan intercepts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace castor {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }

  // Wakes the threads blocked in Await so they re-check their predicates.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    const bool wake = waiters_ > 0;
    mu_.unlock();
    if (wake) cv_.notify_all();
  }

  // Blocks, with the mutex held on entry and on return, until done() is true.
  // done() is evaluated with the mutex held, after every Unlock by another
  // thread.
  template <typename Predicate>
  void Await(Predicate done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (done()) return;
    ++waiters_;
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv_.wait(lock, done);
    lock.release();
    --waiters_;
  }

  // Await until `deadline` at the latest: returns done(), so false when the
  // deadline passed first.
  template <typename Predicate, typename Clock, typename Duration>
  bool AwaitUntil(Predicate done, std::chrono::time_point<Clock, Duration> deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (done()) return true;
    ++waiters_;
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool ok = cv_.wait_until(lock, deadline, done);
    lock.release();
    --waiters_;
    return ok;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiters_ = 0;  // guarded by mu_
};

// Holds a Mutex for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace castor
