// Import over services that fail (castore/testing/faulty_services.h): the
// import stops with a clear error naming what it was storing, no root is
// set, and the same import succeeds once the faults stop.
#include <string>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/tar_import.h"
#include "castore/import/test_tar.h"
#include "castore/import/test_util.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/faulty_services.h"
#include "castore/testing/rot.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

using testing::FaultInjector;
using testing::FaultKind;
using testing::MakeDir;
using testing::TempDir;
using testing::WriteFile;

class ImportFaultsTest : public ::testing::Test {
 protected:
  ImportFaultsTest() {
    src_ = tmp_ / "src";
    MakeDir(src_);
    for (int i = 0; i < 8; ++i) {
      WriteFile(src_ + "/file" + std::to_string(i), std::string(1000 + i, 'a' + i));
    }
    MakeDir(src_ + "/sub");
    WriteFile(src_ + "/sub/deep", "deep");
  }

  size_t RootCount() {
    size_t n = 0;
    EXPECT_TRUE(roots_
                    ->List([&](const Entry&) {
                      ++n;
                      return absl::OkStatus();
                    })
                    .ok());
    return n;
  }

  // What the CLI does: import, then commit the root.
  absl::Status Import() {
    auto result = ImportPath(*blobs_, *dirs_, src_, ImportOptions{.threads = 2});
    if (!result.ok()) return result.status();
    return CommitRoot(*blobs_, *roots_,
                      Entry{*PathComponent::Create("tree"), std::move(result->node)});
  }

  TempDir tmp_;
  std::string src_;
  std::shared_ptr<FaultInjector> faults_ = std::make_shared<FaultInjector>();
  std::shared_ptr<BlobService> blobs_ =
      testing::FaultyBlobService(std::make_shared<MemoryBlobService>(), faults_);
  std::shared_ptr<DirectoryService> dirs_ =
      testing::FaultyDirectoryService(std::make_shared<MemoryDirectoryService>(), faults_);
  std::shared_ptr<RootService> roots_ = std::make_shared<MemoryRootService>();
};

TEST_F(ImportFaultsTest, FailingBlobWritesFailTheImportAndSetNoRoot) {
  faults_->Set({.kind = FaultKind::kUnavailable});
  absl::Status s = Import();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("injected fault"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find(src_), absl::string_view::npos) << "error names no path: " << s;
  EXPECT_EQ(RootCount(), 0u);
}

TEST_F(ImportFaultsTest, SomeWritesFailingStillFailsTheImportCleanly) {
  faults_->Set({.kind = FaultKind::kUnavailable, .every = 5});
  absl::Status s = Import();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(RootCount(), 0u);
}

// A tar import whose small entries are stored by workers: a failing write
// fails the whole import with the store's error, naming the entry, whether
// every write fails or only some.
TEST_F(ImportFaultsTest, FailingBlobWritesFailATarImportNamingTheEntry) {
  std::vector<testing::TarEntry> entries;
  for (int i = 0; i < 64; ++i) {
    entries.push_back({"dir/file" + std::to_string(i), AE_IFREG, std::string(100 + i, 'a')});
  }
  std::string tar = tmp_ / "t.tar";
  testing::WriteTar(tar, entries);
  for (uint64_t every : {uint64_t{1}, uint64_t{5}}) {
    faults_->Set({.kind = FaultKind::kUnavailable, .every = every});
    auto result = ImportTar(*blobs_, *dirs_, tar, ImportOptions{.threads = 4});
    ASSERT_FALSE(result.ok()) << "every " << every;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
    EXPECT_NE(result.status().message().find("tar entry 'dir/file"), absl::string_view::npos)
        << result.status();
    EXPECT_NE(result.status().message().find(tar), absl::string_view::npos) << result.status();
  }
  faults_->Clear();
  auto result = ImportTar(*blobs_, *dirs_, tar, ImportOptions{.threads = 4});
  EXPECT_TRUE(result.ok()) << result.status();
}

// A file big enough to be written by a thread of its own while its next
// pieces are read and hashed: a write failing in the middle fails its
// import naming the file (no hang, nothing left running), writes that stall
// hold the reading back, and the digest is the file's whatever the timing.
TEST_F(ImportFaultsTest, ABigFileWrittenBehindItsReadingFailsOrSucceedsWhole) {
  const std::string data = testing::RandomBytes((50 << 20) + 4097, 7);
  const std::string big = tmp_ / "big";
  WriteFile(big, data);
  // Calls: the writer's open, then one write per 4 MiB piece.
  faults_->Set({.kind = FaultKind::kUnavailable, .every = 6});
  auto failed = ImportPath(*blobs_, *dirs_, big);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_NE(failed.status().message().find(big), absl::string_view::npos) << failed.status();
  EXPECT_NE(failed.status().message().find("injected fault"), absl::string_view::npos)
      << failed.status();
  faults_->Set({.kind = FaultKind::kStall, .every = 2, .stall = absl::Milliseconds(20)});
  auto stalled = ImportPath(*blobs_, *dirs_, big);
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  EXPECT_GT(faults_->injected(), 0u);
  faults_->Clear();
  const B3Digest digest = std::get<FileNode>(stalled->node).digest;
  EXPECT_EQ(digest, B3Digest::Of(data));
  auto stored = ReadBlob(*blobs_, digest);
  ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status();
  EXPECT_TRUE(**stored == data);
}

TEST_F(ImportFaultsTest, FailingSyncSetsNoRoot) {
  auto result = ImportPath(*blobs_, *dirs_, src_);
  ASSERT_TRUE(result.ok()) << result.status();
  faults_->Set({.kind = FaultKind::kUnavailable});
  absl::Status s =
      CommitRoot(*blobs_, *roots_, Entry{*PathComponent::Create("tree"), result->node});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(RootCount(), 0u);
}

TEST_F(ImportFaultsTest, ImportSucceedsOnceFaultsStop) {
  faults_->Set({.kind = FaultKind::kUnavailable, .every = 3});
  EXPECT_FALSE(Import().ok());
  faults_->Clear();
  ASSERT_TRUE(Import().ok());
  EXPECT_EQ(RootCount(), 1u);
}

TEST_F(ImportFaultsTest, StalledWritesStillImport) {
  faults_->Set({.kind = FaultKind::kStall, .every = 4, .stall = absl::Milliseconds(5)});
  absl::Status s = Import();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(RootCount(), 1u);
  EXPECT_GT(faults_->injected(), 0u);
}

}  // namespace
}  // namespace castor::castore
