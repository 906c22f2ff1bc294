// CastoreFs called directly (no FUSE transport), over memory services behind
// a counting DirectoryService: how often a walk fetches Directories, and
// what the filesystem keeps while the kernel holds inodes.
#include "fs/castore_fs.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/counting_services.h"
#include "fs/fuse/wire.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace castor::fs {
namespace {

using castore::Directory;
using castore::DirectoryNode;
using castore::Entry;
using castore::FileNode;
using castore::PathComponent;
using castore::testing::CountingDirectoryService;

std::string ChildName(int i) { return absl::StrFormat("d%06d", i); }

// A root "big": a Directory of `n` subdirectories, each holding one file of
// its own (so every child has its own digest).
struct WideTree {
  explicit WideTree(int n) {
    auto memory = std::make_shared<castore::MemoryDirectoryService>();
    std::vector<Entry> children;
    for (int i = 0; i < n; ++i) {
      Directory child = *Directory::Create(
          {Entry{*PathComponent::Create("f"),
                 FileNode{castore::B3Digest::Of(absl::StrCat("blob ", i)), 1, false}}});
      children.push_back(
          Entry{*PathComponent::Create(ChildName(i)), DirectoryNode{child.digest(), child.size()}});
      memory->InsertAll(std::span(&child, 1));
    }
    big = *Directory::Create(std::move(children));
    memory->InsertAll(std::span(&big, 1));
    counting = std::make_shared<CountingDirectoryService>(memory);
    services.blobs = std::make_shared<castore::MemoryBlobService>();
    services.directories = counting;
    services.roots = std::make_shared<castore::MemoryRootService>();
    EXPECT_TRUE(
        services.roots
            ->Put(Entry{*PathComponent::Create("big"), DirectoryNode{big.digest(), big.size()}})
            .ok());
  }
  Directory big;
  std::shared_ptr<CountingDirectoryService> counting;
  castore::Services services;
};

uint64_t Lookup(CastoreFs& fs, uint64_t parent, std::string_view name) {
  fuse_entry_out out;
  int err = fs.Lookup(parent, name, &out);
  EXPECT_EQ(err, 0) << name;
  return err == 0 ? out.nodeid : 0;
}

// OPENDIR, READDIRPLUS from offset 0 into one buffer, RELEASEDIR; whether
// anything was listed.
bool ListPlus(CastoreFs& fs, uint64_t ino) {
  fuse_open_out open;
  EXPECT_EQ(fs.OpenDir(ino, O_RDONLY, &open), 0);
  std::vector<uint8_t> buffer(64 * 1024);
  fuse::DirentWriter writer(buffer);
  EXPECT_EQ(fs.ReadDir(ino, open.fh, 0, /*plus=*/true, writer), 0);
  fs.ReleaseDir(ino, open.fh);
  return writer.size() > 0;
}

// The walk `find` or `ls -lR` makes of one wide directory: look each child
// up by name, list it and look up inside it, and (the kernel reclaiming its
// dentries) forget it again. Its parent stays held by the kernel throughout.
void WalkChildren(CastoreFs& fs, uint64_t parent, int n) {
  for (int i = 0; i < n; ++i) {
    uint64_t child = Lookup(fs, parent, ChildName(i));
    ASSERT_NE(child, 0u);
    EXPECT_TRUE(ListPlus(fs, child));
    uint64_t file = Lookup(fs, child, "f");
    fs.Forget(file, 2);  // the lookup and the READDIRPLUS reference
    fs.Forget(child, 1);
  }
}

TEST(CastoreFsTest, WalkOfADirectoryLargerThanTheCacheFetchesItOnce) {
  constexpr int kChildren = 5000;
  WideTree tree(kChildren);
  // The cache holds 100 entries: the big Directory never fits in it.
  CastoreFs fs(tree.services, FsOptions{.directory_cache_entries = 100});
  uint64_t big = Lookup(fs, FUSE_ROOT_ID, "big");
  WalkChildren(fs, big, kChildren);
  // Each lookup by name needs the big Directory decoded: it is fetched once
  // for the whole walk, not once per child.
  EXPECT_LE(tree.counting->gets(tree.big.digest()), 2u);
  EXPECT_EQ(tree.counting->gets(), kChildren + tree.counting->gets(tree.big.digest()));
  EXPECT_EQ(fs.inode_count(), 2u);  // the mount's top directory and big
}

TEST(CastoreFsTest, ListsADirectoryByItsInodeWithoutOpenDir) {
  constexpr int kChildren = 300;
  WideTree tree(kChildren);
  CastoreFs fs(tree.services, FsOptions{});
  ASSERT_TRUE(fs.ListsWithoutOpenDir());
  uint64_t big = Lookup(fs, FUSE_ROOT_ID, "big");
  // READDIRPLUS with handle 0, in replies of 4 KiB as the kernel asks, each
  // resuming at the offset of the last record of the one before.
  std::vector<std::string> names;
  uint64_t offset = 0;
  for (;;) {
    std::vector<uint8_t> buffer(4096);
    fuse::DirentWriter writer(buffer);
    ASSERT_EQ(fs.ReadDir(big, /*fh=*/0, offset, /*plus=*/true, writer), 0);
    if (writer.size() == 0) break;
    for (size_t at = 0; at < writer.size();) {
      fuse_direntplus d;
      std::memcpy(&d, buffer.data() + at, sizeof(d));
      names.emplace_back(reinterpret_cast<const char*>(buffer.data()) + at + sizeof(d),
                         d.dirent.namelen);
      EXPECT_EQ(fs.lookup_count(d.entry_out.nodeid), 1u);
      offset = d.dirent.off;
      at += FUSE_DIRENTPLUS_SIZE(&d);
    }
  }
  ASSERT_EQ(names.size(), size_t{kChildren});
  for (int i = 0; i < kChildren; ++i) EXPECT_EQ(names[i], ChildName(i));
  // Kept with the inode the kernel holds: fetched once for the whole listing.
  EXPECT_EQ(tree.counting->gets(tree.big.digest()), 1u);
  EXPECT_EQ(fs.handle_count(), 0u);
  std::vector<uint8_t> buffer(4096);
  fuse::DirentWriter writer(buffer);
  EXPECT_EQ(fs.ReadDir(FUSE_ROOT_ID, 0, 0, true, writer), EPERM);
  EXPECT_EQ(fs.ReadDir(987654, 0, 0, true, writer), ENOENT);
  // The root's listing changes with the roots: it needs OPENDIR.
  EXPECT_FALSE(CastoreFs(tree.services, FsOptions{.list_root = true}).ListsWithoutOpenDir());
}

TEST(CastoreFsTest, DirectoryIsNoLongerKeptOnceTheKernelForgetsIt) {
  constexpr int kChildren = 300;
  WideTree tree(kChildren);
  CastoreFs fs(tree.services, FsOptions{.directory_cache_entries = 100});
  uint64_t big = Lookup(fs, FUSE_ROOT_ID, "big");
  uint64_t first = Lookup(fs, big, ChildName(0));
  // Another Directory passes through the cache, which the big one does not
  // fit in anyway.
  EXPECT_TRUE(ListPlus(fs, first));
  EXPECT_EQ(tree.counting->gets(tree.big.digest()), 1u);
  fs.Forget(big, 1);
  big = Lookup(fs, FUSE_ROOT_ID, "big");
  uint64_t child = Lookup(fs, big, ChildName(1));
  EXPECT_TRUE(ListPlus(fs, child));
  EXPECT_EQ(tree.counting->gets(tree.big.digest()), 2u) << "kept although forgotten";
  // Held again: kept again.
  WalkChildren(fs, big, kChildren);
  EXPECT_EQ(tree.counting->gets(tree.big.digest()), 2u);
}

TEST(CastoreFsTest, DirectoriesKeptForTheKernelStayWithinTheirBudget) {
  constexpr int kChildren = 300;
  WideTree tree(kChildren);
  // A budget smaller than the big Directory: it is not kept (memory stays
  // bounded), so the walk fetches it again; answers stay right.
  CastoreFs fs(tree.services,
               FsOptions{.directory_cache_entries = 100, .kept_directory_entries = 200});
  uint64_t big = Lookup(fs, FUSE_ROOT_ID, "big");
  WalkChildren(fs, big, kChildren);
  EXPECT_GT(tree.counting->gets(tree.big.digest()), uint64_t{kChildren} / 2);
}

// Problems are logged once per digest, but what was logged is not kept
// forever: a tree with ever new missing Directories must not grow memory.
TEST(CastoreFsTest, LoggedProblemsAreBoundedAndEachStillLoggedOnce) {
  constexpr int kMissing = CastoreFs::kMaxLoggedProblems + 500;
  auto memory = std::make_shared<castore::MemoryDirectoryService>();
  std::vector<Entry> children;
  for (int i = 0; i < kMissing; ++i) {
    children.push_back(Entry{*PathComponent::Create(ChildName(i)),
                             DirectoryNode{castore::B3Digest::Of(absl::StrCat("gone ", i)), 0}});
  }
  Directory parent = *Directory::Create(std::move(children));
  memory->InsertAll(std::span(&parent, 1));  // its children are missing
  castore::Services services{std::make_shared<castore::MemoryBlobService>(), memory,
                             std::make_shared<castore::MemoryRootService>()};
  ASSERT_TRUE(
      services.roots
          ->Put(Entry{*PathComponent::Create("p"), DirectoryNode{parent.digest(), parent.size()}})
          .ok());
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  CastoreFs fs(services, FsOptions{});
  uint64_t p = Lookup(fs, FUSE_ROOT_ID, "p");
  fuse_entry_out out;
  size_t most_remembered = 0;
  for (int i = 0; i < kMissing; ++i) {
    uint64_t child = Lookup(fs, p, ChildName(i));
    EXPECT_EQ(fs.Lookup(child, "x", &out), EIO);
    EXPECT_EQ(fs.Lookup(child, "y", &out), EIO);  // same problem: not logged again
    most_remembered = std::max(most_remembered, fs.logged_problems());
  }
  EXPECT_LE(most_remembered, size_t{CastoreFs::kMaxLoggedProblems});
  spdlog::set_default_logger(previous);
  std::string text = log.str();
  size_t lines = 0;
  for (size_t at = text.find("is missing"); at != std::string::npos;
       at = text.find("is missing", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, static_cast<size_t>(kMissing));
}

}  // namespace
}  // namespace castor::fs
