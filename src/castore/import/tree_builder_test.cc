#include "castore/import/tree_builder.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

PathComponent Name(std::string_view s) { return *PathComponent::Create(s); }

B3Digest DigestOf(std::string_view bytes) {
  Blake3Hasher h;
  h.Update(bytes);
  return h.Finalize();
}

class TreeBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto putter = dirs_.OpenPutter();
    ASSERT_TRUE(putter.ok()) << putter.status();
    putter_ = *std::move(putter);
  }

  Directory Stored(const B3Digest& digest) {
    auto d = dirs_.Get(digest);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return Directory();
    EXPECT_TRUE(d->has_value()) << digest.ToHex();
    return d->value_or(Directory());
  }

  MemoryDirectoryService dirs_;
  std::unique_ptr<DirectoryPutter> putter_;
};

TEST_F(TreeBuilderTest, EmptyRootIsTheEmptyDirectory) {
  TreeBuilder tree(*putter_);
  ASSERT_TRUE(tree.OpenRoot("top").ok());
  auto root = tree.CloseDirectory();
  ASSERT_TRUE(root.ok()) << root.status();
  // The empty Directory's canonical encoding is zero bytes.
  EXPECT_EQ(root->digest, DigestOf(""));
  EXPECT_EQ(root->size, 0u);
  EXPECT_EQ(tree.directories(), 1u);
  EXPECT_EQ(tree.depth(), 0u);
  ASSERT_TRUE(tree.root().has_value());
  EXPECT_EQ(tree.root()->digest, root->digest);
  auto closed = putter_->Close();
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(*closed, root->digest);
}

TEST_F(TreeBuilderTest, MatchesReferenceVectorForDirectoryWithKeep) {
  // The digest ImportPath has always produced for a directory holding one
  // empty file ".keep" (import_test.cc has the same vector).
  TreeBuilder tree(*putter_);
  ASSERT_TRUE(tree.OpenRoot("keep").ok());
  ASSERT_TRUE(tree.Add(Name(".keep"), FileNode{EmptyDigest(), 0, false}, "keep/.keep").ok());
  auto root = tree.CloseDirectory();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->digest.ToHex(),
            "8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e");
  EXPECT_EQ(root->size, 1u);
}

TEST_F(TreeBuilderTest, NestedTreeEqualsDirectoriesBuiltByHandAndGoesLeavesFirst) {
  const B3Digest blob_a = DigestOf("a"), blob_b = DigestOf("bb");
  const SymlinkTarget target = *SymlinkTarget::Create("../z");
  // Entries come in no particular order, as readdir gives them.
  TreeBuilder tree(*putter_);
  ASSERT_TRUE(tree.OpenRoot("top").ok());
  ASSERT_TRUE(tree.Add(Name("z"), FileNode{blob_b, 2, false}, "top/z").ok());
  ASSERT_TRUE(tree.OpenDirectory(Name("sub"), "top/sub").ok());
  EXPECT_EQ(tree.depth(), 2u);
  ASSERT_TRUE(tree.Add(Name("run"), FileNode{blob_a, 1, true}, "top/sub/run").ok());
  ASSERT_TRUE(tree.Add(Name("link"), SymlinkNode{target}, "top/sub/link").ok());
  auto sub = tree.CloseDirectory();
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE(tree.OpenDirectory(Name("empty"), "top/empty").ok());
  ASSERT_TRUE(tree.CloseDirectory().ok());
  auto root = tree.CloseDirectory();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(tree.directories(), 3u);

  Directory want_sub = *Directory::Create({
      Entry{Name("link"), SymlinkNode{target}},
      Entry{Name("run"), FileNode{blob_a, 1, true}},
  });
  Directory want_empty = *Directory::Create({});
  Directory want_root = *Directory::Create({
      Entry{Name("empty"), DirectoryNode{want_empty.digest(), want_empty.size()}},
      Entry{Name("sub"), DirectoryNode{want_sub.digest(), want_sub.size()}},
      Entry{Name("z"), FileNode{blob_b, 2, false}},
  });
  EXPECT_EQ(sub->digest, want_sub.digest());
  EXPECT_EQ(sub->size, 2u);
  EXPECT_EQ(root->digest, want_root.digest());
  EXPECT_EQ(root->size, want_root.size());
  EXPECT_EQ(root->size, 5u);  // three entries plus sub's two

  // The putter accepts only leaves first, and names the root on close.
  auto closed = putter_->Close();
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(*closed, want_root.digest());
  Directory stored_sub = Stored(want_sub.digest());
  const Entry* run = stored_sub.Find("run");
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(std::holds_alternative<FileNode>(run->node));
  EXPECT_TRUE(std::get<FileNode>(run->node).executable);
  const Entry* link = stored_sub.Find("link");
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(std::holds_alternative<SymlinkNode>(link->node));
  EXPECT_EQ(std::get<SymlinkNode>(link->node).target, target);
  EXPECT_EQ(Stored(want_empty.digest()).entries().size(), 0u);
}

TEST_F(TreeBuilderTest, DigestMatchesImportPathOfTheSameTree) {
  testing::TempDir tmp;
  std::string src = tmp / "src";
  testing::MakeDir(src);
  testing::WriteFile(src + "/a", "a");
  testing::WriteFile(src + "/x", "bb", 0755);
  testing::MakeDir(src + "/d");
  ASSERT_EQ(symlink("../a", (src + "/d/l").c_str()), 0);
  MemoryBlobService blobs;
  auto imported = ImportPath(blobs, dirs_, src, ImportOptions{.threads = 1});
  ASSERT_TRUE(imported.ok()) << imported.status();

  TreeBuilder tree(*putter_);
  ASSERT_TRUE(tree.OpenRoot(src).ok());
  ASSERT_TRUE(tree.OpenDirectory(Name("d"), src + "/d").ok());
  ASSERT_TRUE(tree.Add(Name("l"), SymlinkNode{*SymlinkTarget::Create("../a")}, "l").ok());
  ASSERT_TRUE(tree.CloseDirectory().ok());
  ASSERT_TRUE(tree.Add(Name("x"), FileNode{DigestOf("bb"), 2, true}, "x").ok());
  ASSERT_TRUE(tree.Add(Name("a"), FileNode{DigestOf("a"), 1, false}, "a").ok());
  auto root = tree.CloseDirectory();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(imported->node, Node(*root));
}

TEST_F(TreeBuilderTest, DuplicateNameIsRefusedNamingTheDirectory) {
  TreeBuilder tree(*putter_);
  ASSERT_TRUE(tree.OpenRoot("top").ok());
  ASSERT_TRUE(tree.OpenDirectory(Name("sub"), "top/sub").ok());
  ASSERT_TRUE(tree.Add(Name("f"), FileNode{EmptyDigest(), 0, false}, "top/sub/f").ok());
  ASSERT_TRUE(tree.Add(Name("f"), SymlinkNode{*SymlinkTarget::Create("t")}, "top/sub/f").ok());
  auto sub = tree.CloseDirectory();
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(sub.status().message(), "duplicate")) << sub.status();
  EXPECT_TRUE(absl::StrContains(sub.status().message(), "top/sub")) << sub.status();
  EXPECT_EQ(tree.directories(), 0u);
}

TEST_F(TreeBuilderTest, DirectoryAndFileOfTheSameNameAreRefused) {
  TreeBuilder tree(*putter_);
  ASSERT_TRUE(tree.OpenRoot("top").ok());
  ASSERT_TRUE(tree.OpenDirectory(Name("n"), "top/n").ok());
  ASSERT_TRUE(tree.CloseDirectory().ok());
  ASSERT_TRUE(tree.Add(Name("n"), FileNode{EmptyDigest(), 0, false}, "top/n").ok());
  auto root = tree.CloseDirectory();
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(tree.root().has_value());
}

TEST_F(TreeBuilderTest, EntriesDeeperThanMaxDepthAreRefused) {
  TreeBuilder tree(*putter_, /*max_depth=*/2);
  ASSERT_TRUE(tree.OpenRoot("top").ok());
  ASSERT_TRUE(tree.OpenDirectory(Name("a"), "top/a").ok());    // depth 1
  ASSERT_TRUE(tree.OpenDirectory(Name("b"), "top/a/b").ok());  // depth 2
  absl::Status file = tree.Add(Name("f"), FileNode{EmptyDigest(), 0, false}, "top/a/b/f");
  EXPECT_EQ(file.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(file.message(), "top/a/b/f")) << file;
  absl::Status dir = tree.OpenDirectory(Name("c"), "top/a/b/c");
  EXPECT_EQ(dir.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(dir.message(), "more than 2 levels")) << dir;
  // The empty directory at the limit itself is fine.
  ASSERT_TRUE(tree.CloseDirectory().ok());
  ASSERT_TRUE(tree.Add(Name("g"), FileNode{EmptyDigest(), 0, false}, "top/a/g").ok());
  ASSERT_TRUE(tree.CloseDirectory().ok());
  EXPECT_TRUE(tree.CloseDirectory().ok());
}

TEST_F(TreeBuilderTest, DefaultLimitIsKMaxTreeDepth) {
  TreeBuilder tree(*putter_);
  ASSERT_TRUE(tree.OpenRoot("top").ok());
  for (size_t i = 0; i < kMaxTreeDepth; ++i) {
    ASSERT_TRUE(tree.OpenDirectory(Name("d"), "d").ok()) << "level " << i + 1;
  }
  EXPECT_EQ(tree.OpenDirectory(Name("d"), "d").code(), absl::StatusCode::kInvalidArgument);
  for (size_t i = 0; i < kMaxTreeDepth; ++i) ASSERT_TRUE(tree.CloseDirectory().ok());
  auto root = tree.CloseDirectory();
  ASSERT_TRUE(root.ok()) << root.status();
  MemoryDirectoryService other;
  EXPECT_EQ(root->digest, testing::PutDeepChain(other, kMaxTreeDepth).digest);
}

TEST_F(TreeBuilderTest, CallsOutsideAnOpenDirectoryAreFailedPrecondition) {
  TreeBuilder tree(*putter_);
  EXPECT_EQ(tree.Add(Name("f"), FileNode{EmptyDigest(), 0, false}, "f").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tree.OpenDirectory(Name("d"), "d").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tree.CloseDirectory().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(tree.OpenRoot("top").ok());
  ASSERT_TRUE(tree.CloseDirectory().ok());
  EXPECT_EQ(tree.OpenRoot("again").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tree.directories(), 1u);
}

}  // namespace
}  // namespace castor::castore
