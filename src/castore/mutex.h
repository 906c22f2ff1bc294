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

// A readers-writer lock on top of Mutex, for a few long holders: any number
// of shared holders, or one exclusive holder. Writers are preferred: once
// one waits, new shared holders wait too, so a steady stream of them cannot
// starve it. Not reentrant.
class ABSL_LOCKABLE SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    MutexLock lock(&mu_);
    ++writers_waiting_;
    mu_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    MutexLock lock(&mu_);
    writer_ = false;
  }
  void LockShared() ABSL_SHARED_LOCK_FUNCTION() {
    MutexLock lock(&mu_);
    mu_.Await([this]()
                  ABSL_NO_THREAD_SAFETY_ANALYSIS { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void UnlockShared() ABSL_UNLOCK_FUNCTION() {
    MutexLock lock(&mu_);
    --readers_;
  }

 private:
  Mutex mu_;
  int readers_ ABSL_GUARDED_BY(mu_) = 0;
  int writers_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool writer_ ABSL_GUARDED_BY(mu_) = false;
};

// Holds a SharedMutex exclusively for its scope.
class ABSL_SCOPED_LOCKABLE WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds a SharedMutex shared for its scope.
class ABSL_SCOPED_LOCKABLE ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->LockShared();
  }
  ~ReaderLock() ABSL_UNLOCK_FUNCTION() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace castor
