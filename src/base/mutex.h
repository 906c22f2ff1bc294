// castor's mutex: std::mutex with abseil's thread-safety annotations, an
// Await(predicate), and CondVar for waiters that one Signal should wake
// alone. It exists so ThreadSanitizer understands every lock we take:
// Debian's abseil is not built with TSan, so TSan cannot see the
// synchronisation inside absl::Mutex and reports races on everything it
// guards. std::mutex goes through pthread, which TSan intercepts.
// Every type here is thread-safe (that is its purpose).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace castor {

class CondVar;

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }

  // Wakes every thread blocked in Await so they re-check their predicates.
  // That suits a few waiters on changing conditions; a pool of workers
  // waiting for jobs wants a CondVar and Signal instead.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    const bool wake = waiters_ > 0;
    mu_.unlock();
    if (wake) cv_.notify_all();
  }

  // Blocks, with the mutex held on entry and on return, until done() is true.
  // done() is evaluated with the mutex held, after every Unlock by another
  // thread. The predicate may be annotated ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu):
  // it runs under this mutex, which the analysis cannot follow through the
  // template, hence Holding().
  template <typename Predicate>
  void Await(Predicate done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (Holding(done)) return;
    ++waiters_;
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv_.wait(lock, [&] { return Holding(done); });
    lock.release();
    --waiters_;
  }

  // Await until `deadline` at the latest: returns done(), so false when the
  // deadline passed first.
  template <typename Predicate, typename Clock, typename Duration>
  bool AwaitUntil(Predicate done, std::chrono::time_point<Clock, Duration> deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (Holding(done)) return true;
    ++waiters_;
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool ok = cv_.wait_until(lock, deadline, [&] { return Holding(done); });
    lock.release();
    --waiters_;
    return ok;
  }

 private:
  friend class CondVar;

  // Calls a predicate that requires this mutex; only Await and AwaitUntil
  // call it, with the mutex held.
  template <typename Predicate>
  static bool Holding(Predicate& done) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return done();
  }

  // Wakes the Await callers before a CondVar waiter gives up the mutex
  // without Unlock: what it changed may be what they wait for.
  void WakeAwaiters() {
    if (waiters_ > 0) cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int waiters_ = 0;  // guarded by mu_
};

// A condition variable on a castor::Mutex: Wait gives the mutex up while it
// blocks and holds it again on return. Wake-ups may be spurious, so waiters
// loop on their condition. Signal wakes one waiter, SignalAll every one;
// either may be called with or without the mutex held.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    mu->WakeAwaiters();
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }

  // Wait for at most `timeout`: false when it passed without a wake-up.
  template <typename Rep, typename Period>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    mu->WakeAwaiters();
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

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
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writer_ && readers_ == 0; });
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
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writer_ && writers_waiting_ == 0; });
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
