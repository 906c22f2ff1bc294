#include "fs/takeover_state.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "fs/castore_fs.h"
#include "gtest/gtest.h"

namespace castor::fs {
namespace {

using castore::B3Digest;
using castore::Directory;
using castore::DirectoryNode;
using castore::Entry;
using castore::FileNode;
using castore::PathComponent;
using castore::SymlinkNode;

SavedInode File(uint64_t ino, std::string_view data, uint64_t nlookup, bool exec = false) {
  SavedInode s;
  s.ino = ino;
  s.inode.kind = InodeKind::kFile;
  s.inode.digest = B3Digest::Of(data);
  s.inode.size = data.size();
  s.inode.executable = exec;
  s.inode.nlookup = nlookup;
  return s;
}

TakeoverState Sample() {
  TakeoverState s;
  s.fuse_minor = 38;
  s.fuse_flags = 0x1234567890;
  s.max_write = 128 * 1024;
  s.max_pages = 256;
  s.mountpoint = "/mnt/castor";
  s.next_ino = 10;
  s.next_fh = 7;
  s.inodes.push_back(File(2, "a", 3));
  s.inodes.push_back(File(3, "a", 1, /*exec=*/true));  // same blob, other mode
  SavedInode link;
  link.ino = 4;
  link.inode.kind = InodeKind::kSymlink;
  link.symlink_target = "../a";
  link.inode.digest = B3Digest::Of(std::string_view("../a"));
  link.inode.size = 4;
  link.inode.nlookup = 2;
  s.inodes.push_back(link);
  SavedInode dir;
  dir.ino = 9;
  dir.inode.kind = InodeKind::kDirectory;
  dir.inode.digest = B3Digest::Of(std::string_view("dir"));
  dir.inode.size = 5;
  dir.inode.nlookup = 1;
  s.inodes.push_back(dir);
  s.files.push_back(TakeoverFileHandle{1, 2, B3Digest::Of(std::string_view("a")), 1});
  TakeoverDirHandle top;
  top.fh = 2;
  top.ino = 1;
  top.is_top = true;
  top.roots = std::vector<Entry>{
      Entry{*PathComponent::Create("r"), DirectoryNode{dir.inode.digest, 5}},
      Entry{*PathComponent::Create("s"), SymlinkNode{*castore::SymlinkTarget::Create("x/y")}},
      Entry{*PathComponent::Create("t"), FileNode{B3Digest::Of(std::string_view("t")), 1, true}}};
  s.dirs.push_back(top);
  TakeoverDirHandle sub;
  sub.fh = 5;
  sub.ino = 9;
  sub.digest = dir.inode.digest;
  sub.size = 5;
  s.dirs.push_back(sub);
  return s;
}

TEST(TakeoverStateTest, RoundTripKeepsEverything) {
  TakeoverState s = Sample();
  std::string bytes = SerializeTakeoverState(s);
  auto parsed = ParseTakeoverState(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->fuse_minor, 38u);
  EXPECT_EQ(parsed->fuse_flags, 0x1234567890u);
  EXPECT_EQ(parsed->max_write, 128u * 1024);
  EXPECT_EQ(parsed->max_pages, 256u);
  EXPECT_EQ(parsed->mountpoint, "/mnt/castor");
  EXPECT_EQ(parsed->next_ino, 10u);
  EXPECT_EQ(parsed->next_fh, 7u);
  ASSERT_EQ(parsed->inodes.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(parsed->inodes[i].ino, s.inodes[i].ino);
    EXPECT_EQ(parsed->inodes[i].inode.kind, s.inodes[i].inode.kind);
    EXPECT_EQ(parsed->inodes[i].inode.digest, s.inodes[i].inode.digest);
    EXPECT_EQ(parsed->inodes[i].inode.size, s.inodes[i].inode.size);
    EXPECT_EQ(parsed->inodes[i].inode.executable, s.inodes[i].inode.executable);
    EXPECT_EQ(parsed->inodes[i].inode.nlookup, s.inodes[i].inode.nlookup);
    EXPECT_EQ(parsed->inodes[i].symlink_target, s.inodes[i].symlink_target);
  }
  ASSERT_EQ(parsed->files.size(), 1u);
  EXPECT_EQ(parsed->files[0].fh, 1u);
  EXPECT_EQ(parsed->files[0].ino, 2u);
  ASSERT_EQ(parsed->dirs.size(), 2u);
  ASSERT_TRUE(parsed->dirs[0].roots.has_value());
  EXPECT_EQ(*parsed->dirs[0].roots, *s.dirs[0].roots);
  EXPECT_FALSE(parsed->dirs[1].roots.has_value());
  EXPECT_EQ(parsed->dirs[1].digest, s.dirs[1].digest);
  // Serializing the parsed state gives the same bytes.
  EXPECT_EQ(SerializeTakeoverState(*parsed), bytes);
}

TEST(TakeoverStateTest, EveryTruncationIsRefused) {
  std::string bytes = SerializeTakeoverState(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto parsed = ParseTakeoverState(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(parsed.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(TakeoverStateTest, TrailingBytesAndGarbageAreRefused) {
  std::string bytes = SerializeTakeoverState(Sample());
  EXPECT_FALSE(ParseTakeoverState(bytes + "x").ok());
  EXPECT_FALSE(ParseTakeoverState("GET / HTTP/1.1\r\n\r\n").ok());
  std::string other_version = bytes;
  other_version[8] = 2;
  auto parsed = ParseTakeoverState(other_version);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("version 2"), std::string_view::npos);
}

TEST(TakeoverStateTest, HugeCountsAreRefusedWithoutAllocating) {
  TakeoverState s = Sample();
  s.inodes.clear();
  s.files.clear();
  s.dirs.clear();
  std::string bytes = SerializeTakeoverState(s);
  // The inode count is the 8 bytes after next_fh; claim 2^60 inodes.
  size_t count_at = bytes.size() - 3 * 8;
  bytes[count_at + 7] = 0x10;
  auto parsed = ParseTakeoverState(bytes);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("cannot fit"), std::string_view::npos)
      << parsed.status();
  // A string length beyond its bound is refused before it is read.
  TakeoverState long_name = Sample();
  long_name.mountpoint = std::string(5000, 'm');
  auto refused = ParseTakeoverState(SerializeTakeoverState(long_name));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("at most 4096"), std::string_view::npos)
      << refused.status();
}

// Every single-byte corruption is either refused or parses into a state
// that passes the same checks (never a crash or a torn table).
TEST(TakeoverStateTest, FlippedBytesNeverCrash) {
  std::string bytes = SerializeTakeoverState(Sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    auto parsed = ParseTakeoverState(bad);
    if (parsed.ok()) {
      EXPECT_EQ(SerializeTakeoverState(*parsed), bad);
    }
  }
}

TEST(TakeoverStateTest, InconsistentStateIsRefused) {
  auto refused = [](TakeoverState s, std::string_view what) {
    auto parsed = ParseTakeoverState(SerializeTakeoverState(s));
    EXPECT_FALSE(parsed.ok()) << what;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << what;
    }
  };
  TakeoverState s = Sample();
  s.inodes[1].ino = 2;
  refused(s, "duplicate inode number");
  s = Sample();
  s.inodes[1].inode.executable = false;
  refused(s, "two inodes for one node");
  s = Sample();
  s.inodes[0].ino = 10;
  refused(s, "inode at next_ino");
  s = Sample();
  s.inodes[0].ino = 1;
  refused(s, "the root as a saved inode");
  s = Sample();
  s.inodes[0].inode.nlookup = 0;
  refused(s, "inode without references");
  s = Sample();
  s.inodes[2].symlink_target = "../b";
  refused(s, "symlink digest not of its target");
  s = Sample();
  s.files[0].ino = 9;
  refused(s, "file handle on a directory");
  s = Sample();
  s.files[0].fh = 5;
  refused(s, "file and directory handle share a number");
  s = Sample();
  s.files[0].fh = 7;
  refused(s, "handle at next_fh");
  s = Sample();
  s.dirs[1].is_top = true;
  refused(s, "top flag on a directory inode");
  s = Sample();
  s.max_pages = 100000;
  refused(s, "max_pages out of range");
  s = Sample();
  s.max_write = 0;
  refused(s, "max_write out of range");
}

// A CastoreFs saves its tables, a fresh one restores them: the same inode
// numbers name the same nodes, open handles read the same bytes, new inode
// and handle numbers do not collide, and lookup counts carry over.
TEST(TakeoverStateTest, CastoreFsRestoresWhatAnotherSaved) {
  castore::Services services;
  auto blobs = std::make_shared<castore::MemoryBlobService>();
  auto dirs = std::make_shared<castore::MemoryDirectoryService>();
  services.blobs = blobs;
  services.directories = dirs;
  services.roots = std::make_shared<castore::MemoryRootService>();
  const std::string a = "contents of a", b = "bee";
  blobs->Insert(B3Digest::Of(std::string_view(a)), std::make_shared<const std::string>(a));
  blobs->Insert(B3Digest::Of(std::string_view(b)), std::make_shared<const std::string>(b));
  Directory sub = *Directory::Create(
      {Entry{*PathComponent::Create("b"), FileNode{B3Digest::Of(std::string_view(b)), 3, false}}});
  Directory top = *Directory::Create(
      {Entry{*PathComponent::Create("a"),
             FileNode{B3Digest::Of(std::string_view(a)), a.size(), false}},
       Entry{*PathComponent::Create("sub"), DirectoryNode{sub.digest(), sub.size()}}});
  dirs->InsertAll(std::span(&sub, 1));
  dirs->InsertAll(std::span(&top, 1));
  ASSERT_TRUE(services.roots
                  ->Put(Entry{*PathComponent::Create("t"), DirectoryNode{top.digest(), top.size()}})
                  .ok());

  CastoreFs old_fs(services, FsOptions{.list_root = true});
  fuse_entry_out e;
  ASSERT_EQ(old_fs.Lookup(1, "t", &e), 0);
  uint64_t t = e.nodeid;
  ASSERT_EQ(old_fs.Lookup(t, "a", &e), 0);
  uint64_t ia = e.nodeid;
  ASSERT_EQ(old_fs.Lookup(t, "a", &e), 0);
  ASSERT_EQ(old_fs.Lookup(t, "sub", &e), 0);
  uint64_t isub = e.nodeid;
  fuse_open_out fo;
  ASSERT_EQ(old_fs.Open(ia, O_RDONLY, &fo), 0);
  uint64_t fh_a = fo.fh;
  ASSERT_EQ(old_fs.OpenDir(isub, O_RDONLY, &fo), 0);
  uint64_t fh_sub = fo.fh;
  ASSERT_EQ(old_fs.OpenDir(1, O_RDONLY, &fo), 0);
  uint64_t fh_top = fo.fh;

  TakeoverState state;
  old_fs.SaveState(&state);
  state.max_write = 4096;
  state.max_pages = 32;
  auto parsed = ParseTakeoverState(SerializeTakeoverState(state));
  ASSERT_TRUE(parsed.ok()) << parsed.status();

  CastoreFs new_fs(services, FsOptions{.list_root = true});
  ASSERT_TRUE(new_fs.RestoreState(*parsed).ok());
  EXPECT_EQ(new_fs.inode_count(), old_fs.inode_count());
  EXPECT_EQ(new_fs.handle_count(), 3u);
  EXPECT_EQ(new_fs.lookup_count(ia), 2u);
  fuse_attr_out attr;
  ASSERT_EQ(new_fs.GetAttr(ia, &attr), 0);
  EXPECT_EQ(attr.attr.size, a.size());
  std::vector<uint8_t> buf(64);
  size_t n = 0;
  ASSERT_EQ(new_fs.Read(ia, fh_a, 0, buf, &n), 0);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + static_cast<long>(n)), a);
  // Lookups below the carried-over directory inode, and its open handle.
  ASSERT_EQ(new_fs.Lookup(isub, "b", &e), 0);
  EXPECT_GT(e.nodeid, isub);
  std::vector<uint8_t> listing(4096);
  fuse::DirentWriter w(listing);
  EXPECT_EQ(new_fs.ReadDir(isub, fh_sub, 0, false, w), 0);
  EXPECT_GT(w.size(), 0u);
  fuse::DirentWriter wt(listing);
  EXPECT_EQ(new_fs.ReadDir(1, fh_top, 0, false, wt), 0);
  EXPECT_GT(wt.size(), 0u);
  // New numbers continue after the old ones.
  ASSERT_EQ(new_fs.Open(ia, O_RDONLY, &fo), 0);
  EXPECT_GE(fo.fh, state.next_fh);
  // Forgets of what the old process handed out land.
  new_fs.Forget(ia, 2);
  EXPECT_EQ(new_fs.lookup_count(ia), 0u);
  // A second restore into a used file system is refused.
  EXPECT_EQ(new_fs.RestoreState(*parsed).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TakeoverStateTest, StateCopyKeepsTheLatestWholeCopy) {
  int fd = memfd_create("test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadStateCopy(fd).status().code(), absl::StatusCode::kInvalidArgument);
  std::string small = SerializeTakeoverState(Sample());
  TakeoverState bigger_state = Sample();
  for (uint64_t i = 0; i < 500; ++i) {
    bigger_state.inodes.push_back(File(100 + i, absl::StrCat("f", i), 1));
  }
  bigger_state.next_ino = 1000;
  std::string bigger = SerializeTakeoverState(bigger_state);
  // Growing, shrinking and growing again: each read sees the last write.
  for (const std::string* s : {&small, &bigger, &small, &bigger, &bigger, &small}) {
    ASSERT_TRUE(WriteStateCopy(fd, *s).ok());
    auto read = ReadStateCopy(fd);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, *s);
  }
  // The file stays bounded by about two copies.
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_LE(static_cast<size_t>(st.st_size), 3 * 4096 + 2 * bigger.size());
  // A damaged header is refused, not followed.
  uint64_t huge = ~uint64_t{0};
  ASSERT_EQ(pwrite(fd, &huge, 8, 16), 8);
  EXPECT_EQ(ReadStateCopy(fd).status().code(), absl::StatusCode::kInvalidArgument);
  close(fd);
}

// After a crash the copy may be older than what the kernel holds: inode
// and handle numbers given out since answer EIO (not ENOENT / EBADF, and
// never a hang), new numbers start past them.
TEST(TakeoverStateTest, NumbersLostInACrashAnswerEio) {
  castore::Services services;
  services.blobs = std::make_shared<castore::MemoryBlobService>();
  auto memory = std::make_shared<castore::MemoryDirectoryService>();
  services.directories = memory;
  services.roots = std::make_shared<castore::MemoryRootService>();
  Directory top = *Directory::Create(
      {Entry{*PathComponent::Create("x"), SymlinkNode{*castore::SymlinkTarget::Create("y")}}});
  memory->InsertAll(std::span(&top, 1));
  ASSERT_TRUE(services.roots
                  ->Put(Entry{*PathComponent::Create("t"), DirectoryNode{top.digest(), top.size()}})
                  .ok());
  TakeoverState state;
  state.max_write = 4096;
  state.max_pages = 32;
  state.next_ino = 5;
  state.next_fh = 3;
  const uint64_t lost_below = uint64_t{1} << 40;
  CastoreFs fs(services, FsOptions{});
  ASSERT_TRUE(fs.RestoreState(state, lost_below).ok());
  fuse_attr_out attr;
  EXPECT_EQ(fs.GetAttr(7, &attr), EIO);
  fuse_entry_out e;
  EXPECT_EQ(fs.Lookup(7, "x", &e), EIO);
  std::vector<uint8_t> buf(16);
  size_t n = 0;
  EXPECT_EQ(fs.Read(7, 9, 0, buf, &n), EIO);
  ASSERT_EQ(fs.Lookup(1, "t", &e), 0);
  EXPECT_GE(e.nodeid, lost_below);
  uint64_t t = e.nodeid;
  ASSERT_EQ(fs.Lookup(t, "x", &e), 0);
  fuse_open_out fo;
  ASSERT_EQ(fs.OpenDir(t, O_RDONLY, &fo), 0);
  EXPECT_GE(fo.fh, lost_below);
  // Numbers never given out are still plain misses.
  EXPECT_EQ(fs.GetAttr(lost_below + 1000, &attr), ENOENT);
}

}  // namespace
}  // namespace castor::fs
