#include "castore/worker_pool.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "base/mutex.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

// A gate tasks wait at until the test opens it.
class Gate {
 public:
  void Wait() {
    {
      castor::MutexLock lock(&mu_);
      ++waiting_;
    }
    castor::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_; });
  }
  void AwaitWaiting(int n) {
    castor::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return waiting_ >= n; });
  }
  void Open() {
    castor::MutexLock lock(&mu_);
    open_ = true;
  }

 private:
  castor::Mutex mu_;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
};

void AwaitCount(const std::atomic<int>& n, int want) {
  for (int i = 0; i < 2000 && n.load() < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST(WorkerPool, RunsTasksAndRefusesThemWhenTheQueueIsFull) {
  WorkerPool pool(1, 2);
  Gate gate;
  std::atomic<int> ran{0};
  int owner;
  ASSERT_TRUE(pool.Submit(&owner, [&] {
    gate.Wait();
    ++ran;
  }));
  gate.AwaitWaiting(1);  // running: the queue is empty again
  EXPECT_TRUE(pool.Submit(&owner, [&] { ++ran; }));
  EXPECT_TRUE(pool.Submit(&owner, [&] { ++ran; }));
  EXPECT_FALSE(pool.Submit(&owner, [&] { ++ran; }));
  gate.Open();
  AwaitCount(ran, 3);
  EXPECT_EQ(ran.load(), 3);
}

TEST(WorkerPool, DrainDropsTheOwnersQueuedTasksAndWaitsForItsRunningOne) {
  WorkerPool pool(1, 10);
  Gate gate;
  int mine, other;
  std::atomic<int> mine_ran{0}, other_ran{0};
  // What a dropped task holds is released by Drain.
  auto held = std::make_shared<int>(0);
  ASSERT_TRUE(pool.Submit(&mine, [&] {
    gate.Wait();
    ++mine_ran;
  }));
  gate.AwaitWaiting(1);
  ASSERT_TRUE(pool.Submit(&mine, [&, held] { ++mine_ran; }));
  ASSERT_TRUE(pool.Submit(&other, [&] { ++other_ran; }));
  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    pool.Drain(&mine);
    drained = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(drained.load()) << "Drain returned while the owner's task was running";
  gate.Open();
  drainer.join();
  EXPECT_EQ(mine_ran.load(), 1);  // the queued one was dropped
  EXPECT_EQ(held.use_count(), 1);
  AwaitCount(other_ran, 1);
  EXPECT_EQ(other_ran.load(), 1);
}

TEST(WorkerPool, DestroyingItFinishesRunningTasksAndDropsQueuedOnes) {
  std::atomic<int> ran{0};
  Gate gate;
  std::thread opener;
  {
    WorkerPool pool(1, 10);
    int owner;
    ASSERT_TRUE(pool.Submit(&owner, [&] {
      gate.Wait();
      ++ran;
    }));
    gate.AwaitWaiting(1);
    ASSERT_TRUE(pool.Submit(&owner, [&] { ++ran; }));
    opener = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      gate.Open();
    });
  }
  opener.join();
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace castor
