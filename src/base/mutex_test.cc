// Mutex, CondVar and SharedMutex under contention from several threads (also
// run under ThreadSanitizer): who wakes whom, and who holds what together.
#include "base/mutex.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace castor {
namespace {

TEST(ConcurrentSharedMutex, WritersHoldItAloneAndReadersTogether) {
  SharedMutex mu;
  std::atomic<int> readers{0}, writers{0}, max_readers{0};
  std::atomic<bool> violated{false};
  int guarded = 0;  // written by writers only, read by readers
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if ((i + t) % 4 == 0) {
          WriterLock lock(&mu);
          if (writers.fetch_add(1) != 0 || readers.load() != 0) violated = true;
          ++guarded;
          writers.fetch_sub(1);
        } else {
          ReaderLock lock(&mu);
          int now = readers.fetch_add(1) + 1;
          int seen = max_readers.load();
          while (now > seen && !max_readers.compare_exchange_weak(seen, now)) {
          }
          if (writers.load() != 0) violated = true;
          if (guarded < 0) violated = true;  // a read that TSan checks against the writes
          readers.fetch_sub(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(violated);
  EXPECT_EQ(guarded, 6 * 500);
}

// Shared holds taken and given back outside any scope, which the analysis
// cannot follow.
void HoldShared(SharedMutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.LockShared(); }
void ReleaseShared(SharedMutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.UnlockShared(); }

TEST(ConcurrentSharedMutex, AWriterWaitsForEveryReaderToLeave) {
  SharedMutex mu;
  HoldShared(mu);
  HoldShared(mu);
  std::atomic<bool> got{false};
  std::thread writer([&] {
    WriterLock lock(&mu);
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got);
  ReleaseShared(mu);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got);
  ReleaseShared(mu);
  writer.join();
  EXPECT_TRUE(got);
}

// A queue of jobs handed to waiting workers, the use CondVar exists for.
struct Jobs {
  Mutex mu;
  CondVar ready;
  int queued ABSL_GUARDED_BY(mu) = 0;
  int waiting ABSL_GUARDED_BY(mu) = 0;
  int taken ABSL_GUARDED_BY(mu) = 0;
  bool closed ABSL_GUARDED_BY(mu) = false;

  // Takes jobs until closed; returns how many this worker took.
  int Work() {
    int mine = 0;
    MutexLock lock(&mu);
    while (true) {
      while (queued == 0 && !closed) {
        ++waiting;
        ready.Wait(&mu);
        --waiting;
      }
      if (queued == 0) return mine;
      --queued;
      ++taken;
      ++mine;
    }
  }
};

TEST(ConcurrentCondVar, SignalWakesOneWaiterPerJobAndEveryJobIsTaken) {
  Jobs jobs;
  std::atomic<int> total{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) workers.emplace_back([&] { total += jobs.Work(); });
  for (int i = 0; i < 1000; ++i) {
    MutexLock lock(&jobs.mu);
    ++jobs.queued;
    jobs.ready.Signal();
  }
  {
    MutexLock lock(&jobs.mu);
    jobs.mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(jobs.mu) { return jobs.queued == 0; });
    jobs.closed = true;
  }
  jobs.ready.SignalAll();
  for (auto& t : workers) t.join();
  EXPECT_EQ(total, 1000);
  MutexLock lock(&jobs.mu);
  EXPECT_EQ(jobs.taken, 1000);
}

TEST(ConcurrentCondVar, AWaiterGivingUpTheMutexWakesAwaitCallers) {
  // The worker parks in CondVar::Wait right after counting itself as
  // waiting; the main thread Awaits that count and must see it although the
  // worker never called Unlock.
  Jobs jobs;
  std::thread worker([&] { jobs.Work(); });
  {
    MutexLock lock(&jobs.mu);
    jobs.mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(jobs.mu) { return jobs.waiting == 1; });
    jobs.closed = true;
  }
  jobs.ready.SignalAll();
  worker.join();
}

TEST(CondVar, WaitForReturnsFalseWhenNothingSignals) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(&mu);
  // Spurious wake-ups may return true early; an unsignalled wait must time
  // out within a few tries.
  bool timed_out = false;
  for (int i = 0; i < 10 && !timed_out; ++i) {
    timed_out = !cv.WaitFor(&mu, std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(timed_out);
}

TEST(ConcurrentCondVar, WaitForReturnsTrueWhenSignalled) {
  Mutex mu;
  CondVar cv;
  bool waiting = false;
  std::thread signaller([&] {
    MutexLock lock(&mu);
    // True only once the waiter is inside WaitFor: it holds the mutex from
    // setting the flag until WaitFor gives it up.
    mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return waiting; });
    cv.Signal();
  });
  bool woken;
  {
    MutexLock lock(&mu);
    waiting = true;
    woken = cv.WaitFor(&mu, std::chrono::seconds(60));
  }
  signaller.join();
  EXPECT_TRUE(woken);
}

}  // namespace
}  // namespace castor
