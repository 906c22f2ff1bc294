// SharedMutex: shared holders together, an exclusive holder alone, under
// contention from several threads (also run under ThreadSanitizer).
#include "castore/mutex.h"

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

TEST(ConcurrentSharedMutex, AWriterWaitsForEveryReaderToLeave) {
  SharedMutex mu;
  mu.LockShared();
  mu.LockShared();
  std::atomic<bool> got{false};
  std::thread writer([&] {
    WriterLock lock(&mu);
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got);
  mu.UnlockShared();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got);
  mu.UnlockShared();
  writer.join();
  EXPECT_TRUE(got);
}

}  // namespace
}  // namespace castor
