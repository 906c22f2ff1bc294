// HandleTable and HandleNumbers: numbers unique across the tables sharing
// them and never handed out twice, removed handles gone, and the same under
// concurrent use; DirHandle's fetched Directory.
#include "fs/handle_table.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "base/metrics.h"
#include "gtest/gtest.h"

namespace castor::fs {
namespace {

TEST(HandleTableTest, NumbersAreUniqueAcrossTablesSharingThem) {
  HandleNumbers numbers;
  HandleTable<int> files(&numbers);
  HandleTable<std::string> dirs(&numbers);
  absl::flat_hash_set<uint64_t> seen;
  for (int i = 0; i < 100; ++i) {
    uint64_t f = files.Add(std::make_shared<int>(i));
    uint64_t d = dirs.Add(std::make_shared<std::string>("d"));
    EXPECT_NE(f, 0u);
    EXPECT_NE(d, 0u);
    EXPECT_TRUE(seen.insert(f).second) << f;
    EXPECT_TRUE(seen.insert(d).second) << d;
  }
  EXPECT_EQ(files.size(), 100u);
  EXPECT_EQ(dirs.size(), 100u);
  // A number of one table is no handle of the other.
  uint64_t f = files.Add(std::make_shared<int>(7));
  EXPECT_EQ(dirs.Get(f), nullptr);
  ASSERT_NE(files.Get(f), nullptr);
  EXPECT_EQ(*files.Get(f), 7);
}

// The open-handles gauge counts handles a predecessor handed over
// (Insert) as it counts new ones, so removing them brings it back to zero.
TEST(HandleTableTest, InsertedHandlesCountAsOpen) {
  HandleNumbers numbers;
  metrics::Gauge open;
  HandleTable<int> files(&numbers, &open);
  uint64_t added = files.Add(std::make_shared<int>(1));
  ASSERT_TRUE(files.Insert(added + 10, std::make_shared<int>(2)));
  EXPECT_FALSE(files.Insert(added + 10, std::make_shared<int>(3)));
  EXPECT_EQ(open.Value(), 2);
  EXPECT_NE(files.Remove(added + 10), nullptr);
  EXPECT_NE(files.Remove(added), nullptr);
  EXPECT_EQ(open.Value(), 0);
}

TEST(HandleTableTest, GetOfAnUnknownHandleFindsNothing) {
  HandleNumbers numbers;
  HandleTable<int> table(&numbers);
  EXPECT_EQ(table.Get(0), nullptr);
  EXPECT_EQ(table.Get(1), nullptr);
  uint64_t fh = table.Add(std::make_shared<int>(1));
  EXPECT_EQ(table.Get(fh + 1), nullptr);
  EXPECT_EQ(table.Remove(fh + 1), nullptr);
  EXPECT_EQ(table.size(), 1u);
}

TEST(HandleTableTest, RemovedHandleIsGoneAndItsNumberNotHandedOutAgain) {
  HandleNumbers numbers;
  HandleTable<int> table(&numbers);
  auto handle = std::make_shared<int>(42);
  uint64_t fh = table.Add(handle);
  EXPECT_EQ(table.Get(fh), handle);
  EXPECT_EQ(table.Remove(fh), handle);
  EXPECT_EQ(table.Get(fh), nullptr);
  EXPECT_EQ(table.Remove(fh), nullptr);  // a second RELEASE finds nothing
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(handle.use_count(), 1) << "the table still holds the removed handle";
  uint64_t next = table.Add(std::make_shared<int>(43));
  EXPECT_NE(next, fh);
  EXPECT_EQ(table.Get(fh), nullptr) << "a stale number reached a newer handle";
}

TEST(HandleTableTest, HandleInUseOutlivesItsRemoval) {
  HandleNumbers numbers;
  HandleTable<int> table(&numbers);
  uint64_t fh = table.Add(std::make_shared<int>(5));
  std::shared_ptr<int> in_use = table.Get(fh);
  table.Remove(fh);
  ASSERT_NE(in_use, nullptr);
  EXPECT_EQ(*in_use, 5);
}

TEST(HandleTableTest, ClearRemovesEveryHandle) {
  HandleNumbers numbers;
  HandleTable<int> table(&numbers);
  std::vector<uint64_t> fhs;
  for (int i = 0; i < 10; ++i) fhs.push_back(table.Add(std::make_shared<int>(i)));
  table.Clear();
  EXPECT_EQ(table.size(), 0u);
  for (uint64_t fh : fhs) EXPECT_EQ(table.Get(fh), nullptr);
  EXPECT_EQ(std::count(fhs.begin(), fhs.end(), table.Add(std::make_shared<int>(0))), 0);
}

TEST(HandleTableTest, ConcurrentAddsGetDistinctNumbersAndRemovesFindTheirOwn) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  HandleNumbers numbers;
  HandleTable<int> files(&numbers);
  HandleTable<int> dirs(&numbers);
  std::vector<std::vector<uint64_t>> added(kThreads);
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HandleTable<int>& table = t % 2 == 0 ? files : dirs;
      for (int i = 0; i < kPerThread; ++i) {
        int value = t * kPerThread + i;
        uint64_t fh = table.Add(std::make_shared<int>(value));
        added[t].push_back(fh);
        std::shared_ptr<int> got = table.Get(fh);
        if (got == nullptr || *got != value) ++wrong[t];
        // Release every other one again while the others keep adding.
        if (i % 2 == 1) {
          std::shared_ptr<int> removed = table.Remove(fh);
          if (removed == nullptr || *removed != value) ++wrong[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  absl::flat_hash_set<uint64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(wrong[t], 0) << "thread " << t;
    for (uint64_t fh : added[t]) EXPECT_TRUE(all.insert(fh).second) << fh;
  }
  EXPECT_EQ(all.size(), size_t{kThreads} * kPerThread);
  EXPECT_EQ(files.size() + dirs.size(), size_t{kThreads} * kPerThread / 2);
}

TEST(DirHandleTest, KeepsTheDirectoryFetchedForIt) {
  auto dir = std::make_shared<const castore::Directory>(*castore::Directory::Create({}));
  DirHandle handle(7, dir->digest(), dir->size());
  EXPECT_EQ(handle.ino(), 7u);
  EXPECT_FALSE(handle.is_top());
  EXPECT_EQ(handle.digest(), dir->digest());
  EXPECT_EQ(handle.directory(), nullptr);
  handle.set_directory(dir);
  EXPECT_EQ(handle.directory(), dir);
}

TEST(DirHandleTest, RootHandleHoldsTheRootsItWasOpenedWith) {
  auto roots = std::make_shared<std::vector<castore::Entry>>();
  roots->push_back(castore::Entry{*castore::PathComponent::Create("r"),
                                  castore::FileNode{castore::B3Digest::Of("r"), 1, false}});
  DirHandle listed(1, roots);
  EXPECT_TRUE(listed.is_top());
  EXPECT_EQ(listed.ino(), 1u);
  EXPECT_EQ(listed.roots(), roots);
  EXPECT_EQ(listed.directory(), nullptr);
  DirHandle unlisted(1, nullptr);
  EXPECT_TRUE(unlisted.is_top());
  EXPECT_EQ(unlisted.roots(), nullptr);
}

}  // namespace
}  // namespace castor::fs
