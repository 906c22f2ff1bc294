#include "fs/directory_cache.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace castor::fs {
namespace {

std::shared_ptr<const castore::Directory> Dir(int id, int entries) {
  std::vector<castore::Entry> es;
  for (int i = 0; i < entries; ++i) {
    es.push_back(castore::Entry{*castore::PathComponent::Create(absl::StrCat("e", id, "_", i)),
                                castore::FileNode{castore::B3Digest::Of("x"), 1, false}});
  }
  return std::make_shared<const castore::Directory>(*castore::Directory::Create(es));
}

TEST(DirectoryCacheTest, EvictsLeastRecentlyUsedOverTheEntryBound) {
  DirectoryCache cache(10);
  auto a = Dir(1, 4), b = Dir(2, 4), c = Dir(3, 4);
  cache.Put(a);
  cache.Put(b);
  EXPECT_EQ(cache.Get(a->digest()), a);  // a is now the most recent
  cache.Put(c);                          // 12 > 10: b goes
  EXPECT_EQ(cache.Get(b->digest()), nullptr);
  EXPECT_EQ(cache.Get(a->digest()), a);
  EXPECT_EQ(cache.Get(c->digest()), c);
  EXPECT_EQ(cache.entries(), 8u);
}

TEST(DirectoryCacheTest, KeepsTheNewestEvenWhenLargerThanTheBound) {
  DirectoryCache cache(3);
  auto big = Dir(1, 5);
  cache.Put(Dir(2, 2));
  cache.Put(big);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Get(big->digest()), big);
  cache.Put(big);  // again: no double counting
  EXPECT_EQ(cache.entries(), 5u);
}

}  // namespace
}  // namespace castor::fs
