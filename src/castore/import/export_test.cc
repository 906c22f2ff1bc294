#include "castore/import/export.h"

#include <sys/stat.h>
#include <unistd.h>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "castore/roots/memory_root_service.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

using testing::DescribeTree;
using testing::MakeDir;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = tmp_ / "src";
    MakeDir(src_);
    WriteFile(src_ + "/f", "file");
    MakeDir(src_ + "/d");
    WriteFile(src_ + "/d/g", "inner", 0755);
    auto r = IngestPath(blobs_, dirs_, src_);
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
