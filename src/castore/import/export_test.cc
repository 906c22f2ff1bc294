#include "castore/import/export.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "base/posix_io.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "castore/roots/memory_root_service.h"
#include "castore/roots/resolve_path.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

using testing::DescribeTree;
using testing::MakeDir;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

// Names in `dir` (not following it if it is a symlink).
std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  closedir(d);
  return names;
}

// A BlobService that runs `hook` once, when the first blob is opened for
// reading: the moment an attacker racing the export strikes.
class HookedBlobService : public BlobService {
 public:
  HookedBlobService(BlobService& inner, std::function<void()> hook)
      : inner_(inner), hook_(std::move(hook)) {}
  absl::StatusOr<bool> Has(const B3Digest& d) override { return inner_.Has(d); }
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& d) override {
    if (hook_) std::exchange(hook_, nullptr)();
    return inner_.OpenRead(d);
  }
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override { return inner_.OpenWrite(); }
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& d) override {
    return inner_.Chunks(d);
  }
  absl::Status Sync() override { return inner_.Sync(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    return inner_.ForEach(fn);
  }
  absl::Status Delete(const B3Digest& d) override { return inner_.Delete(d); }

 private:
  BlobService& inner_;
  std::function<void()> hook_;
};

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = tmp_ / "src";
    MakeDir(src_);
    WriteFile(src_ + "/f", "file");
    MakeDir(src_ + "/d");
    WriteFile(src_ + "/d/g", "inner", 0755);
    auto r = ImportPath(blobs_, dirs_, src_);
    ASSERT_TRUE(r.ok()) << r.status();
    node_ = r->node;
    ASSERT_TRUE(CommitRoot(blobs_, roots_, Entry{*PathComponent::Create("r"), node_}).ok());
  }
  MemoryBlobService blobs_;
  MemoryDirectoryService dirs_;
  MemoryRootService roots_;
  TempDir tmp_;
  std::string src_;
  Node node_;
};

TEST_F(ExportTest, RefusesAnExistingDestinationWithoutForce) {
  MakeDir(tmp_ / "out");
  auto r = ExportNode(blobs_, dirs_, node_, tmp_ / "out");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(r.status().message().find("--force"), absl::string_view::npos);
}

TEST_F(ExportTest, ForceReplacesASymlinkWithoutFollowingIt) {
  MakeDir(tmp_ / "victim");
  WriteFile(tmp_ / "victim/keep", "precious");
  ASSERT_EQ(symlink((tmp_ / "victim").c_str(), (tmp_ / "out").c_str()), 0);
  auto r = ExportNode(blobs_, dirs_, node_, tmp_ / "out", ExportOptions{.force = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(tmp_ / "victim/keep"), "precious");
  EXPECT_EQ(DescribeTree(src_), DescribeTree(tmp_ / "out"));
  EXPECT_EQ(r->files, 2u);
  EXPECT_EQ(r->directories, 2u);
}

// An old destination full of symlinks pointing outside (where the new tree
// has a directory `d` and a file `f`): --force removes the links
// themselves and writes nothing through them.
TEST_F(ExportTest, ForceRemovesSymlinksOfTheOldDestinationWithoutFollowingThem) {
  std::string outside = tmp_ / "outside";
  MakeDir(outside);
  WriteFile(outside + "/keep", "precious");
  std::string out = tmp_ / "out";
  MakeDir(out);
  ASSERT_EQ(symlink(outside.c_str(), (out + "/d").c_str()), 0);
  ASSERT_EQ(symlink((outside + "/keep").c_str(), (out + "/f").c_str()), 0);
  ASSERT_EQ(symlink(outside.c_str(), (out + "/old").c_str()), 0);
  EXPECT_EQ(ExportNode(blobs_, dirs_, node_, out).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto r = ExportNode(blobs_, dirs_, node_, out, ExportOptions{.force = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(outside), std::set<std::string>{"keep"});
  EXPECT_EQ(ReadFile(outside + "/keep"), "precious");
  struct stat st;
  ASSERT_EQ(lstat((out + "/d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(lstat((out + "/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(DescribeTree(src_), DescribeTree(out));
}

// While the export runs, a directory it created is swapped for a symlink
// to the outside (rename away + symlink), as a local attacker racing it
// would: every later write goes through the directory fds the export
// holds (*at calls, O_NOFOLLOW), so nothing lands outside.
TEST_F(ExportTest, DirectorySwappedForASymlinkMidExportIsNotFollowed) {
  std::string outside = tmp_ / "outside";
  MakeDir(outside);
  std::string out = tmp_ / "out";
  HookedBlobService hooked(blobs_, [&] {
    // Called when d/g is about to be written (d is exported before f).
    ASSERT_EQ(rename((out + "/d").c_str(), (tmp_ / "moved").c_str()), 0);
    ASSERT_EQ(symlink(outside.c_str(), (out + "/d").c_str()), 0);
  });
  auto r = ExportNode(hooked, dirs_, node_, out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(outside), std::set<std::string>{});
  EXPECT_EQ(ReadFile(tmp_ / "moved/g"), "inner");
  EXPECT_EQ(ReadFile(out + "/f"), "file");
}

TEST_F(ExportTest, DestinationSwappedForASymlinkMidExportIsNotFollowed) {
  std::string outside = tmp_ / "outside";
  MakeDir(outside);
  std::string out = tmp_ / "out";
  HookedBlobService hooked(blobs_, [&] {
    ASSERT_EQ(rename(out.c_str(), (tmp_ / "moved").c_str()), 0);
    ASSERT_EQ(symlink(outside.c_str(), out.c_str()), 0);
  });
  auto r = ExportNode(hooked, dirs_, node_, out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(outside), std::set<std::string>{});
  EXPECT_EQ(DescribeTree(src_), DescribeTree(tmp_ / "moved"));
}

TEST_F(ExportTest, ResolvePathWalksIntoTheRoot) {
  auto e = ResolvePath(roots_, dirs_, "r/d/g");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->name.str(), "g");
  EXPECT_TRUE(std::get<FileNode>(e->node).executable);
  EXPECT_EQ(ResolvePath(roots_, dirs_, "r/nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolvePath(roots_, dirs_, "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolvePath(roots_, dirs_, "r/f/x").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto root = ResolvePath(roots_, dirs_, "r/");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->node, node_);
}

TEST_F(ExportTest, MissingBlobFailsNamingThePath) {
  auto f = ResolvePath(roots_, dirs_, "r/d/g");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(blobs_.Delete(std::get<FileNode>(f->node).digest).ok());
  auto r = ExportNode(blobs_, dirs_, node_, tmp_ / "out");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("out/d/g"), absl::string_view::npos) << r.status();
}

TEST_F(ExportTest, RefusesTreesDeeperThanAPathMaxPath) {
  // One descriptor per level.
  if (!testing::RaiseOpenFileLimit(kMaxTreeDepth + 1024)) GTEST_SKIP() << "open-file limit too low";
  // As deep as a PATH_MAX path goes: exported, and removable.
  auto ok = ExportNode(blobs_, dirs_, testing::PutDeepChain(dirs_, kMaxTreeDepth), tmp_ / "ok");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->directories, kMaxTreeDepth + 1);
  EXPECT_TRUE(castor::RemoveTree(tmp_ / "ok", kMaxTreeDepth).ok());
  // A damaged or hostile store's chain of 100,000 Directories: refused at
  // the limit, where the export used to recurse until the stack overflowed.
  auto deep = ExportNode(blobs_, dirs_, testing::PutDeepChain(dirs_, 100'000), tmp_ / "deep");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deep.status().message().find("more than 2048 levels deep"), absl::string_view::npos)
      << deep.status();
  EXPECT_TRUE(castor::RemoveTree(tmp_ / "deep", kMaxTreeDepth).ok());
}

TEST_F(ExportTest, ForceRefusesToRemoveTreesDeeperThanAPathMaxPath) {
  // One descriptor per level.
  if (!testing::RaiseOpenFileLimit(kMaxTreeDepth + 1024)) GTEST_SKIP() << "open-file limit too low";
  std::string dest = tmp_ / "out";
  testing::MakeDeepDirs(dest, kMaxTreeDepth + 1);
  auto r = ExportNode(blobs_, dirs_, node_, dest, ExportOptions{.force = true});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("cannot remove"), absl::string_view::npos) << r.status();
  testing::RemoveDeepDirs(dest);
}

TEST_F(ExportTest, CorruptBlobIsDetected) {
  auto f = ResolvePath(roots_, dirs_, "r/f");
  ASSERT_TRUE(f.ok());
  const B3Digest& d = std::get<FileNode>(f->node).digest;
  ASSERT_TRUE(blobs_.Delete(d).ok());
  blobs_.Insert(d, std::make_shared<const std::string>("FILE"));
  auto r = ExportNode(blobs_, dirs_, f->node, tmp_ / "out");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace castor::castore
