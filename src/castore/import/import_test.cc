#include "castore/import/import.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/match.h"
#include "castore/blob/local_blob_service.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/export.h"
#include "castore/import/test_util.h"
#include "castore/maintenance/closure_check.h"
#include "castore/maintenance/gc.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/rot.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

namespace fs = std::filesystem;
using testing::DescribeTree;
using testing::MakeDir;
using testing::TempDir;
using testing::WriteFile;

class ImportTest : public ::testing::Test {
 protected:
  MemoryBlobService blobs_;
  MemoryDirectoryService dirs_;
  MemoryRootService roots_;
  TempDir tmp_;

  std::string MakeSampleTree() {
    std::string src = tmp_ / "src";
    MakeDir(src);
    WriteFile(src + "/hello.txt", "hello world\n");
    WriteFile(src + "/run.sh", "#!/bin/sh\necho hi\n", 0755);
    WriteFile(src + "/empty", "");
    MakeDir(src + "/emptydir");
    MakeDir(src + "/sub");
    WriteFile(src + "/sub/\xc3\xa9t\xc3\xa9 \xe2\x98\x83.txt", "non-ascii\n");
    WriteFile(src + "/sub/" + std::string(255, 'n'), "long name");
    EXPECT_EQ(symlink("../hello.txt", (src + "/sub/link").c_str()), 0);
    EXPECT_EQ(symlink("/nonexistent/\x01 odd target", (src + "/dangling").c_str()), 0);
    return src;
  }
};

TEST_F(ImportTest, DirectoryRoundTripsThroughExport) {
  std::string src = MakeSampleTree();
  auto result = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(std::holds_alternative<DirectoryNode>(result->node));
  EXPECT_EQ(result->stats.files, 5u);
  EXPECT_EQ(result->stats.directories, 3u);
  EXPECT_EQ(result->stats.symlinks, 2u);
  auto exported = ExportNode(blobs_, dirs_, result->node, tmp_ / "out");
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(DescribeTree(src), DescribeTree(tmp_ / "out"));
}

TEST_F(ImportTest, MatchesReferenceVectorForDirectoryWithKeep) {
  std::string src = tmp_ / "keep";
  MakeDir(src);
  WriteFile(src + "/.keep", "");
  auto result = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& node = std::get<DirectoryNode>(result->node);
  EXPECT_EQ(node.digest.ToHex(),
            "8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e");
  EXPECT_EQ(node.size, 1u);
}

TEST_F(ImportTest, SecondImportStoresNothingNewAndGivesTheSameDigest) {
  std::string src = MakeSampleTree();
  WriteFile(src + "/big", std::string(3 << 20, 'b'));  // streamed, not buffered
  auto first = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GT(first->stats.bytes_new, 3u << 20);
  auto second = ImportPath(blobs_, dirs_, src, ImportOptions{.threads = 1});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->node, second->node);
  EXPECT_EQ(second->stats.bytes_new, 0u);
  EXPECT_EQ(second->stats.blobs_new, 0u);
  EXPECT_EQ(second->stats.bytes, first->stats.bytes);
}

TEST_F(ImportTest, LargeFileDigestIsBlake3OfItsBytes) {
  std::string data;
  for (int i = 0; i < (5 << 20) + 123; ++i) data.push_back(static_cast<char>(i * 7));
  WriteFile(tmp_ / "big", data, 0755);
  auto result = ImportPath(blobs_, dirs_, tmp_ / "big");
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& f = std::get<FileNode>(result->node);
  EXPECT_EQ(f.digest, B3Digest::Of(data));
  EXPECT_EQ(f.size, data.size());
  EXPECT_TRUE(f.executable);
  auto stored = ReadBlob(blobs_, f.digest);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(**stored, data);
}

TEST_F(ImportTest, ABigFilesTreeIsKeptInALocalStoreByTheImportAndGoesWithItsBlob) {
  const std::string store = tmp_ / "store";
  auto local = LocalBlobService::Open(store);
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_GE((5u << 20) + 123, (*local)->options().persist_tree_min);
  const std::string data = testing::RandomBytes((5 << 20) + 123, 31);
  WriteFile(tmp_ / "big", data);
  auto result = ImportPath(**local, dirs_, tmp_ / "big");
  ASSERT_TRUE(result.ok()) << result.status();
  const B3Digest digest = std::get<FileNode>(result->node).digest;
  ASSERT_EQ(digest, B3Digest::Of(data));
  // The tree is there as soon as the import is done...
  const std::string outboard = (*local)->OutboardPath(digest);
  EXPECT_TRUE(fs::exists(outboard));
  EXPECT_EQ((*local)->trees_computed(), 0u);
  // ...so a later process reads any byte without a pass over the blob.
  auto later = LocalBlobService::Open(store);
  ASSERT_TRUE(later.ok()) << later.status();
  auto reader = (*later)->OpenRead(digest);
  ASSERT_TRUE(reader.ok() && *reader != nullptr) << reader.status();
  std::string byte(1, '\0');
  auto n = (*reader)->ReadAt(4 << 20, std::span(reinterpret_cast<uint8_t*>(byte.data()), 1));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(byte[0], data[4 << 20]);
  EXPECT_EQ((*later)->trees_computed(), 0u);
  reader->reset();
  // Importing it again stores nothing, the tree included.
  auto again = ImportPath(**later, dirs_, tmp_ / "big");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->stats.bytes_new, 0u);
  EXPECT_EQ((*later)->trees_computed(), 0u);
  // gc (nothing references the blob) removes the blob and its tree.
  auto gc = CollectGarbage(**later, dirs_, roots_, /*dry_run=*/false);
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->blobs_deleted, 1u);
  EXPECT_FALSE(fs::exists((*later)->BlobPath(digest)));
  EXPECT_FALSE(fs::exists(outboard));
}

TEST_F(ImportTest, SymlinkRootIsNotFollowed) {
  ASSERT_EQ(symlink("some/where", (tmp_ / "l").c_str()), 0);
  auto result = ImportPath(blobs_, dirs_, tmp_ / "l");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(std::get<SymlinkNode>(result->node).target.str(), "some/where");
}

TEST_F(ImportTest, HardLinksBecomeEqualContent) {
  std::string src = tmp_ / "src";
  MakeDir(src);
  WriteFile(src + "/a", "shared bytes");
  ASSERT_EQ(link((src + "/a").c_str(), (src + "/b").c_str()), 0);
  auto result = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(result.ok()) << result.status();
  auto dir = dirs_.Get(std::get<DirectoryNode>(result->node).digest);
  ASSERT_TRUE(dir.ok() && dir->has_value());
  EXPECT_EQ((*dir)->Find("a")->node, (*dir)->Find("b")->node);
  EXPECT_EQ(std::get<FileNode>((*dir)->Find("b")->node).digest, B3Digest::Of("shared bytes"));
}

TEST_F(ImportTest, FifoFailsNamingThePath) {
  std::string src = MakeSampleTree();
  ASSERT_EQ(mkfifo((src + "/sub/pipe").c_str(), 0644), 0);
  auto result = ImportPath(blobs_, dirs_, src);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("sub/pipe"), absl::string_view::npos) << result.status();
  EXPECT_NE(result.status().message().find("FIFO"), absl::string_view::npos);
}

TEST_F(ImportTest, DeviceFailsNamingThePath) {
  std::string src = tmp_ / "src";
  MakeDir(src);
  if (mknod((src + "/null").c_str(), S_IFCHR | 0644, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod not permitted";
  }
  auto result = ImportPath(blobs_, dirs_, src);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("character device"), absl::string_view::npos)
      << result.status();
}

TEST_F(ImportTest, MissingPathIsNotFound) {
  auto result = ImportPath(blobs_, dirs_, tmp_ / "nope");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("nope"), absl::string_view::npos);
}

TEST_F(ImportTest, FileChangingSizeDuringReadIsDetected) {
  // A file whose size differs from what fstat said before the read.
  WriteFile(tmp_ / "f", "0123456789");
  int fd = open((tmp_ / "f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  bool is_new;
  auto grown = StoreFileContents(blobs_, fd, 4, tmp_ / "f", &is_new);
  ASSERT_FALSE(grown.ok());
  EXPECT_EQ(grown.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(grown.status().message().find("changed size"), absl::string_view::npos);
  lseek(fd, 0, SEEK_SET);
  auto shrunk = StoreFileContents(blobs_, fd, 20, tmp_ / "f", &is_new);
  ASSERT_FALSE(shrunk.ok());
  EXPECT_EQ(shrunk.status().code(), absl::StatusCode::kAborted);
  close(fd);
}

TEST_F(ImportTest, CancelStopsTheImport) {
  std::string src = MakeSampleTree();
  std::atomic<bool> cancel{true};
  auto result = ImportPath(blobs_, dirs_, src, ImportOptions{.cancel = &cancel});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(ImportTest, CommitRootSetsTheRootOnlyThen) {
  std::string src = MakeSampleTree();
  auto result = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(result.ok());
  auto name = PathComponent::Create("sample");
  ASSERT_TRUE(name.ok());
  EXPECT_FALSE(roots_.Get(*name)->has_value());
  ASSERT_TRUE(CommitRoot(blobs_, roots_, Entry{*name, result->node}).ok());
  auto got = roots_.Get(*name);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->node, result->node);
}

// Roots as a castor daemon keeps them: a root whose closure is not stored is
// refused (FailedPrecondition). Before each of the first `collections` Puts,
// `victim` is deleted from the blobs: a gc that ran between the import's
// dedup check (or its write) and its commit.
class CollectedBeforeCommitRoots final : public RootService {
 public:
  CollectedBeforeCommitRoots(BlobService& blobs, DirectoryService& dirs, B3Digest victim,
                             int collections)
      : blobs_(blobs), dirs_(dirs), victim_(victim), collections_(collections) {}
  absl::StatusOr<std::optional<Entry>> Get(const PathComponent& name) override {
    return roots_.Get(name);
  }
  absl::Status List(const std::function<absl::Status(const Entry&)>& fn) override {
    return roots_.List(fn);
  }
  absl::Status Put(const Entry& root) override {
    if (collections_-- > 0) RETURN_IF_ERROR(blobs_.Delete(victim_));
    RETURN_IF_ERROR(CheckClosureStored(blobs_, dirs_, root));
    return roots_.Put(root);
  }
  absl::StatusOr<bool> Remove(const PathComponent& name) override { return roots_.Remove(name); }

 private:
  BlobService& blobs_;
  DirectoryService& dirs_;
  B3Digest victim_;
  int collections_;
  MemoryRootService roots_;
};

TEST_F(ImportTest, ImportAndCommitRedoesTheImportOnceWhenTheRootIsRefusedForSomethingCollected) {
  std::string src = MakeSampleTree();
  const B3Digest victim = B3Digest::Of(std::string_view("hello world\n"));
  const PathComponent name = *PathComponent::Create("sample");
  for (int collections : {1, 2}) {
    SCOPED_TRACE(collections);
    CollectedBeforeCommitRoots roots(blobs_, dirs_, victim, collections);
    int imports = 0;
    std::vector<absl::Status> refusals;
    auto result = ImportAndCommit(
        blobs_, roots, name,
        [&] {
          ++imports;
          return ImportPath(blobs_, dirs_, src);
        },
        /*retry=*/true, [&](const absl::Status& s) { refusals.push_back(s); });
    EXPECT_EQ(imports, 2);
    ASSERT_EQ(refusals.size(), 1u);
    EXPECT_EQ(refusals[0].code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(refusals[0].message(), victim.ToB3())) << refusals[0];
    if (collections == 1) {
      // The second run stored the blob again, and the root is whole.
      ASSERT_TRUE(result.ok()) << result.status();
      auto got = roots.Get(name);
      ASSERT_TRUE(got.ok() && got->has_value());
      EXPECT_TRUE(CheckClosureStored(blobs_, dirs_, **got).ok());
    } else {
      // Collected again: the second refusal is the answer, and no root is set.
      EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
      EXPECT_FALSE(roots.Get(name)->has_value());
    }
  }
}

TEST_F(ImportTest, ImportAndCommitWithoutRetryReturnsTheRefusal) {
  std::string src = MakeSampleTree();
  const B3Digest victim = B3Digest::Of(std::string_view("hello world\n"));
  CollectedBeforeCommitRoots roots(blobs_, dirs_, victim, 1);
  int imports = 0;
  auto result = ImportAndCommit(
      blobs_, roots, *PathComponent::Create("sample"),
      [&] {
        ++imports;
        return ImportPath(blobs_, dirs_, src);
      },
      /*retry=*/false);
  EXPECT_EQ(imports, 1);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), "hello.txt")) << result.status();
}

TEST_F(ImportTest, ManyFilesAndDeepNestingRoundTrip) {
  std::string src = tmp_ / "src";
  MakeDir(src);
  MakeDir(src + "/many");
  for (int i = 0; i < 2000; ++i)
    WriteFile(src + "/many/f" + std::to_string(i), std::to_string(i % 17));
  std::string deep = src + "/deep";
  MakeDir(deep);
  // 200 levels of 200-byte names: deeper than PATH_MAX allows as one path.
  int dfd = open(deep.c_str(), O_RDONLY | O_DIRECTORY);
  std::string long_name(200, 'd');
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(mkdirat(dfd, long_name.c_str(), 0755), 0);
    int next = openat(dfd, long_name.c_str(), O_RDONLY | O_DIRECTORY);
    close(dfd);
    dfd = next;
  }
  int f = openat(dfd, "leaf", O_WRONLY | O_CREAT, 0644);
  ASSERT_EQ(write(f, "bottom", 6), 6);
  close(f);
  close(dfd);
  auto result = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.files, 2001u);
  EXPECT_EQ(result->stats.directories, 203u);
  EXPECT_EQ(result->stats.blobs_new, 18u);  // "0".."16" and "bottom"
  auto again = ExportNode(blobs_, dirs_, result->node, tmp_ / "out");
  ASSERT_TRUE(again.ok()) << again.status();
  auto round = ImportPath(blobs_, dirs_, tmp_ / "out");
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->node, result->node);
}

TEST_F(ImportTest, RefusesTreesDeeperThanAPathMaxPath) {
  // One descriptor per level.
  if (!testing::RaiseOpenFileLimit(kMaxTreeDepth + 1024)) GTEST_SKIP() << "open-file limit too low";
  // As deep as a PATH_MAX path goes: imported.
  std::string src = tmp_ / "src";
  testing::MakeDeepDirs(src, kMaxTreeDepth);
  auto ok = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->stats.directories, kMaxTreeDepth + 1);
  // One level more: refused naming the path, where the walk used to recurse
  // without bound.
  std::string deeper = tmp_ / "deeper";
  testing::MakeDeepDirs(deeper, kMaxTreeDepth + 1);
  auto deep = ImportPath(blobs_, dirs_, deeper);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deep.status().message().find("more than 2048 levels deep"), absl::string_view::npos)
      << deep.status();
  EXPECT_NE(deep.status().message().find("deeper/d/d/d"), absl::string_view::npos) << deep.status();
  testing::RemoveDeepDirs(src);
  testing::RemoveDeepDirs(deeper);
}

}  // namespace
}  // namespace castor::castore
