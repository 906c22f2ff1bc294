#include "castore/blob/group_sync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace castor::castore {
namespace {

// A flush that blocks until the test releases it, round by round, and
// returns the results the test chose.
class GatedFlush {
 public:
  absl::Status operator()() {
    int round;
    {
      // Its own critical section: castor::Mutex wakes those in Await when
      // it is unlocked, not when another thread starts waiting.
      castor::MutexLock lock(&mu_);
      round = ++started_;
    }
    castor::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return released_ >= round; });
    return round == failing_round_ ? absl::UnavailableError("flush failed") : absl::OkStatus();
  }
  void WaitStarted(int rounds) {
    castor::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return started_ >= rounds; });
  }
  void Release(int round) {
    castor::MutexLock lock(&mu_);
    released_ = round;
  }
  void FailRound(int round) {
    castor::MutexLock lock(&mu_);
    failing_round_ = round;
  }
  int started() {
    castor::MutexLock lock(&mu_);
    return started_;
  }

 private:
  castor::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int released_ ABSL_GUARDED_BY(mu_) = 0;
  int failing_round_ ABSL_GUARDED_BY(mu_) = 0;
};

void WaitForCallers(const GroupSync& sync, size_t n) {
  while (sync.callers_waiting() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(GroupSync, OneRoundServesEveryCallerThatJoinedWhileTheLastRan) {
  GatedFlush flush;
  GroupSync sync([&] { return flush(); });
  absl::Status first;
  std::thread first_caller([&] { first = sync.Sync(); });
  flush.WaitStarted(1);
  // These arrive while round 1 runs: it may have missed their writes, so
  // they wait for round 2, which they share.
  constexpr int kJoiners = 3;
  std::vector<absl::Status> joined(kJoiners, absl::UnknownError("not returned"));
  std::vector<std::thread> joiners;
  for (int i = 0; i < kJoiners; ++i) joiners.emplace_back([&, i] { joined[i] = sync.Sync(); });
  WaitForCallers(sync, 1 + kJoiners);
  flush.Release(1);
  first_caller.join();
  EXPECT_TRUE(first.ok()) << first;
  flush.WaitStarted(2);
  flush.Release(2);
  for (auto& t : joiners) t.join();
  for (const absl::Status& s : joined) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(flush.started(), 2);
  EXPECT_EQ(sync.results_kept(), 0u);
}

TEST(GroupSync, AFailedRoundIsReportedToEveryCallerThatWaitedForIt) {
  GatedFlush flush;
  flush.FailRound(2);
  GroupSync sync([&] { return flush(); });
  absl::Status first;
  std::thread first_caller([&] { first = sync.Sync(); });
  flush.WaitStarted(1);
  constexpr int kJoiners = 4;
  std::vector<absl::Status> joined(kJoiners);
  std::vector<std::thread> joiners;
  for (int i = 0; i < kJoiners; ++i) joiners.emplace_back([&, i] { joined[i] = sync.Sync(); });
  WaitForCallers(sync, 1 + kJoiners);
  flush.Release(2);
  first_caller.join();
  for (auto& t : joiners) t.join();
  EXPECT_TRUE(first.ok()) << first;
  for (const absl::Status& s : joined) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_EQ(s.message(), "flush failed");
  }
  EXPECT_EQ(flush.started(), 2);
  // The failure is not kept for later callers: the next round succeeds.
  std::thread later([&] { EXPECT_TRUE(sync.Sync().ok()); });
  flush.WaitStarted(3);
  flush.Release(3);
  later.join();
  EXPECT_EQ(sync.results_kept(), 0u);
}

// Every caller returns, and only after a round that started after it wrote:
// the flush records how many writes it covers.
TEST(GroupSync, ConcurrentCallersAllCompleteCoveredByALaterRound) {
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> durable{0};
  std::atomic<int> rounds{0};
  GroupSync sync([&] {
    const uint64_t covered = written.load();
    ++rounds;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    durable.store(covered);
    return absl::OkStatus();
  });
  constexpr int kThreads = 8, kCalls = 200;
  std::atomic<int> completed{0};
  std::atomic<int> uncovered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        const uint64_t mine = ++written;
        absl::Status s = sync.Sync();
        if (s.ok()) ++completed;
        if (durable.load() < mine) ++uncovered;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(completed.load(), kThreads * kCalls);
  EXPECT_EQ(uncovered.load(), 0);
  EXPECT_GE(rounds.load(), 1);
  EXPECT_LE(rounds.load(), kThreads * kCalls);
  EXPECT_EQ(sync.results_kept(), 0u);
  EXPECT_EQ(sync.callers_waiting(), 0u);
}

}  // namespace
}  // namespace castor::castore
