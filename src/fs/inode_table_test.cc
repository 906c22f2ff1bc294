// InodeTable: dedup of equal nodes, lookup counts, the root, and what an
// inode keeps (its Directory, its symlink target, its shared reader) going
// with it.
#include "fs/inode_table.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/metrics.h"
#include "gtest/gtest.h"

namespace castor::fs {
namespace {

using castore::B3Digest;
using castore::DirectoryNode;
using castore::FileNode;
using castore::SymlinkNode;

castore::Node File(std::string_view content, bool executable = false) {
  return FileNode{B3Digest::Of(content), content.size(), executable};
}

castore::Node Symlink(std::string_view target) {
  return SymlinkNode{*castore::SymlinkTarget::Create(target)};
}

// A Directory of `entries` files; `tag` tells apart Directories of as many
// entries.
std::shared_ptr<const castore::Directory> Dir(int entries, const char* tag = "") {
  std::vector<castore::Entry> es;
  for (int i = 0; i < entries; ++i) {
    es.push_back(castore::Entry{*castore::PathComponent::Create(absl::StrCat(tag, "e", i)),
                                File(absl::StrCat("content ", i))});
  }
  return std::make_shared<const castore::Directory>(*castore::Directory::Create(es));
}

castore::Node NodeOf(const castore::Directory& dir) {
  return DirectoryNode{dir.digest(), dir.size()};
}

uint64_t Acquire(InodeTable& table, const castore::Node& node) {
  Inode inode;
  return table.Acquire(node, &inode);
}

class FixedReader : public castore::BlobReader {
 public:
  uint64_t size() const override { return 0; }
  absl::StatusOr<size_t> ReadAt(uint64_t, std::span<uint8_t>) const override { return 0; }
};

// The castor_fs_inodes gauge (docs/operations.md) counts the inodes of
// every table: a table restored from a predecessor's saved inodes counts
// them, and gives them all back when it goes.
TEST(InodeTableTest, RestoredInodesCountInTheLiveInodesGauge) {
  metrics::Gauge& live = metrics::Registry::Default().AddGauge(
      "castor_fs_inodes", "Inodes the kernel holds references to (the root included).");
  const int64_t before = live.Value();
  uint64_t next_ino = 0;
  std::vector<SavedInode> saved;
  {
    InodeTable old_table(1000);
    Acquire(old_table, File("a"));
    Acquire(old_table, File("b"));
    Acquire(old_table, Symlink("/t"));
    saved = old_table.Save(&next_ino);
  }
  ASSERT_EQ(saved.size(), 3u);
  EXPECT_EQ(live.Value(), before);
  {
    InodeTable table(1000);
    ASSERT_TRUE(table.Restore(saved, next_ino).ok());
    EXPECT_EQ(live.Value(), before + 4);  // the root and the three restored
    table.Forget(saved[0].ino, 1);
    EXPECT_EQ(live.Value(), before + 3);
  }
  EXPECT_EQ(live.Value(), before);
}

TEST(InodeTableTest, EqualNodesShareOneInode) {
  InodeTable table(1000);
  uint64_t a = Acquire(table, File("same"));
  EXPECT_EQ(Acquire(table, File("same")), a);
  EXPECT_NE(Acquire(table, File("other")), a);
  auto dir = Dir(2);
  uint64_t d = Acquire(table, NodeOf(*dir));
  EXPECT_EQ(Acquire(table, NodeOf(*dir)), d);
  uint64_t s = Acquire(table, Symlink("/target"));
  EXPECT_EQ(Acquire(table, Symlink("/target")), s);
  EXPECT_NE(Acquire(table, Symlink("/elsewhere")), s);
  // The root, "same", "other", the directory and two symlinks.
  EXPECT_EQ(table.size(), 6u);
  EXPECT_EQ(table.Get(a)->nlookup, 2u);
}

TEST(InodeTableTest, ExecutableBitAndKindArePartOfTheIdentity) {
  InodeTable table(1000);
  uint64_t plain = Acquire(table, File("x"));
  uint64_t exec = Acquire(table, File("x", /*executable=*/true));
  EXPECT_NE(plain, exec);
  EXPECT_FALSE(table.Get(plain)->executable);
  EXPECT_TRUE(table.Get(exec)->executable);
  // A directory whose digest equals a blob's is still another inode.
  uint64_t dir = Acquire(table, DirectoryNode{B3Digest::Of("x"), 0});
  EXPECT_NE(dir, plain);
  EXPECT_EQ(table.Get(dir)->kind, InodeKind::kDirectory);
  EXPECT_EQ(table.Get(plain)->kind, InodeKind::kFile);
}

TEST(InodeTableTest, AcquireReportsTheInodeItTookAReferenceOn) {
  InodeTable table(1000);
  Inode inode;
  uint64_t ino = table.Acquire(File("twelve bytes"), &inode);
  EXPECT_NE(ino, InodeTable::kTopIno);
  EXPECT_EQ(inode.kind, InodeKind::kFile);
  EXPECT_EQ(inode.size, 12u);
  EXPECT_EQ(inode.digest, B3Digest::Of("twelve bytes"));
  EXPECT_EQ(inode.nlookup, 1u);
  table.Acquire(File("twelve bytes"), &inode);
  EXPECT_EQ(inode.nlookup, 2u);
}

TEST(InodeTableTest, ForgetFreesTheInodeWhenItsLastReferenceGoes) {
  InodeTable table(1000);
  uint64_t ino = Acquire(table, File("f"));
  Acquire(table, File("f"));
  Acquire(table, File("f"));
  table.Forget(ino, 2);
  ASSERT_TRUE(table.Get(ino).has_value());
  EXPECT_EQ(table.Get(ino)->nlookup, 1u);
  table.Forget(ino, 1);
  EXPECT_FALSE(table.Get(ino).has_value());
  EXPECT_EQ(table.size(), 1u);
  // The same node comes back under a new number: numbers are never reused.
  uint64_t again = Acquire(table, File("f"));
  EXPECT_NE(again, ino);
  EXPECT_EQ(table.Get(again)->nlookup, 1u);
}

TEST(InodeTableTest, ForgetOfMoreThanHeldFreesTheInode) {
  InodeTable table(1000);
  uint64_t ino = Acquire(table, Symlink("t"));
  table.Forget(ino, 1000);
  EXPECT_FALSE(table.Get(ino).has_value());
  EXPECT_FALSE(table.SymlinkTarget(ino).has_value());
  EXPECT_EQ(table.size(), 1u);
}

TEST(InodeTableTest, ForgetOfAnUnknownInodeChangesNothing) {
  InodeTable table(1000);
  uint64_t ino = Acquire(table, File("f"));
  table.Forget(ino + 100, 1);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Get(ino)->nlookup, 1u);
}

TEST(InodeTableTest, RootIsAlwaysThereAndSurvivesForgetAndClear) {
  InodeTable table(1000);
  ASSERT_TRUE(table.Get(InodeTable::kTopIno).has_value());
  EXPECT_EQ(table.Get(InodeTable::kTopIno)->kind, InodeKind::kTop);
  table.Forget(InodeTable::kTopIno, 1000);
  EXPECT_TRUE(table.Get(InodeTable::kTopIno).has_value());
  uint64_t f = Acquire(table, File("f"));
  uint64_t d = Acquire(table, NodeOf(*Dir(1)));
  table.Clear();
  EXPECT_TRUE(table.Get(InodeTable::kTopIno).has_value());
  EXPECT_FALSE(table.Get(f).has_value());
  EXPECT_FALSE(table.Get(d).has_value());
  EXPECT_EQ(table.size(), 1u);
}

TEST(InodeTableTest, PeekTakesNoReferenceAndMakesUpStableNumbersForUnknownNodes) {
  InodeTable table(1000);
  uint64_t unknown = table.Peek(File("p"));
  EXPECT_NE(unknown & InodeTable::kSyntheticInoBit, 0u);
  EXPECT_EQ(table.Peek(File("p")), unknown);
  EXPECT_NE(table.Peek(File("p", /*executable=*/true)), unknown);
  EXPECT_EQ(table.size(), 1u);
  uint64_t ino = Acquire(table, File("p"));
  EXPECT_EQ(table.Peek(File("p")), ino);
  EXPECT_EQ(table.Get(ino)->nlookup, 1u);
}

TEST(InodeTableTest, SymlinkTargetOnlyForSymlinks) {
  InodeTable table(1000);
  uint64_t s = Acquire(table, Symlink("../up/there"));
  uint64_t f = Acquire(table, File("f"));
  EXPECT_EQ(table.SymlinkTarget(s), "../up/there");
  EXPECT_EQ(table.Get(s)->size, std::string("../up/there").size());
  EXPECT_FALSE(table.SymlinkTarget(f).has_value());
  EXPECT_FALSE(table.SymlinkTarget(InodeTable::kTopIno).has_value());
}

TEST(InodeTableTest, KeptDirectoryGoesWithItsInode) {
  InodeTable table(1000);
  auto dir = Dir(5);
  uint64_t ino = Acquire(table, NodeOf(*dir));
  EXPECT_EQ(table.KeptDirectory(ino), nullptr);
  table.KeepDirectory(ino, dir);
  EXPECT_EQ(table.KeptDirectory(ino), dir);
  EXPECT_EQ(table.kept_entries(), 5u);
  table.KeepDirectory(ino, dir);  // kept already: not counted twice
  EXPECT_EQ(table.kept_entries(), 5u);
  table.Forget(ino, 1);
  EXPECT_EQ(table.KeptDirectory(ino), nullptr);
  EXPECT_EQ(table.kept_entries(), 0u);
  EXPECT_EQ(dir.use_count(), 1) << "the table still holds the Directory";
}

TEST(InodeTableTest, KeptDirectoriesStayWithinTheBudget) {
  InodeTable table(7);
  auto a = Dir(4, "a"), b = Dir(4, "b"), c = Dir(3, "c");
  ASSERT_NE(a->digest(), b->digest());
  uint64_t ia = Acquire(table, NodeOf(*a));
  uint64_t ib = Acquire(table, NodeOf(*b));
  uint64_t ic = Acquire(table, NodeOf(*c));
  table.KeepDirectory(ia, a);
  table.KeepDirectory(ib, b);  // 8 > 7
  table.KeepDirectory(ic, c);  // 7
  EXPECT_EQ(table.KeptDirectory(ia), a);
  EXPECT_EQ(table.KeptDirectory(ib), nullptr);
  EXPECT_EQ(table.KeptDirectory(ic), c);
  EXPECT_EQ(table.kept_entries(), 7u);
  table.Forget(ia, 1);
  table.KeepDirectory(ib, b);  // fits now
  EXPECT_EQ(table.KeptDirectory(ib), b);
}

TEST(InodeTableTest, KeepDirectoryOnlyForThatDirectorysLiveInode) {
  InodeTable table(1000);
  auto dir = Dir(2), other = Dir(3);
  uint64_t d = Acquire(table, NodeOf(*dir));
  uint64_t f = Acquire(table, File("f"));
  table.KeepDirectory(d, other);  // another digest
  table.KeepDirectory(f, dir);    // not a directory
  table.KeepDirectory(InodeTable::kTopIno, dir);
  table.Forget(d, 1);
  table.KeepDirectory(d, dir);  // forgotten while it was fetched
  EXPECT_EQ(table.kept_entries(), 0u);
  EXPECT_EQ(table.KeptDirectory(d), nullptr);
  EXPECT_EQ(table.KeptDirectory(f), nullptr);
}

TEST(InodeTableTest, OpensOfOneInodeShareTheReaderWhileOneIsOpen) {
  InodeTable table(1000);
  uint64_t ino = Acquire(table, File("f"));
  EXPECT_EQ(table.SharedReader(ino), nullptr);
  std::shared_ptr<castore::BlobReader> first = std::make_shared<FixedReader>();
  EXPECT_EQ(table.ShareReader(ino, first), first);
  EXPECT_EQ(table.SharedReader(ino), first);
  // A concurrent open that lost gets the first one's reader.
  EXPECT_EQ(table.ShareReader(ino, std::make_shared<FixedReader>()), first);
  table.ReleaseReader(ino);  // still open: stays
  EXPECT_EQ(table.SharedReader(ino), first);
  first.reset();
  table.ReleaseReader(ino);
  EXPECT_EQ(table.SharedReader(ino), nullptr);
  std::shared_ptr<castore::BlobReader> second = std::make_shared<FixedReader>();
  EXPECT_EQ(table.ShareReader(ino, second), second);
  EXPECT_EQ(table.SharedReader(ino), second);
}

TEST(InodeTableTest, ReaderOfAForgottenInodeIsNotShared) {
  InodeTable table(1000);
  uint64_t ino = Acquire(table, File("f"));
  std::shared_ptr<castore::BlobReader> reader = std::make_shared<FixedReader>();
  table.ShareReader(ino, reader);
  table.Forget(ino, 1);
  EXPECT_EQ(table.SharedReader(ino), nullptr);
  std::shared_ptr<castore::BlobReader> late = std::make_shared<FixedReader>();
  EXPECT_EQ(table.ShareReader(ino, late), late);
  EXPECT_EQ(table.SharedReader(ino), nullptr);
}

TEST(InodeTableTest, ConcurrentLookupsAndForgetsAgreeOnNumbersAndLeaveOnlyTheRoot) {
  constexpr int kThreads = 4;
  constexpr int kNodes = 64;
  constexpr int kRounds = 200;
  InodeTable table(1000);
  // Every thread holds one reference on each node throughout, so their
  // numbers stay fixed and every thread must see the same ones.
  std::vector<std::vector<uint64_t>> seen(kThreads, std::vector<uint64_t>(kNodes));
  std::atomic<bool> mismatch{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kNodes; ++n) seen[t][n] = Acquire(table, File(absl::StrCat("n", n)));
      for (int round = 0; round < kRounds; ++round) {
        for (int n = 0; n < kNodes; ++n) {
          uint64_t ino = Acquire(table, File(absl::StrCat("n", n)));
          if (ino != seen[t][n]) mismatch = true;
          // Nodes nobody else holds come and go meanwhile.
          uint64_t own = Acquire(table, File(absl::StrCat("t", t, "r", round, "n", n)));
          table.Forget(own, 1);
          table.Forget(ino, 1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(mismatch);
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t], seen[0]);
  EXPECT_EQ(table.size(), 1u + kNodes);
  for (int n = 0; n < kNodes; ++n) {
    EXPECT_EQ(table.Get(seen[0][n])->nlookup, uint64_t{kThreads});
    table.Forget(seen[0][n], kThreads);
  }
  EXPECT_EQ(table.size(), 1u);
}

}  // namespace
}  // namespace castor::fs
