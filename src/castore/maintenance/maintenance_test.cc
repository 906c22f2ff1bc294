#include <atomic>
#include <thread>

#include "base/status.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "castore/maintenance/gc.h"
#include "castore/maintenance/store_lock.h"
#include "castore/maintenance/verify.h"
#include "castore/roots/memory_root_service.h"
#include "castore/roots/resolve_path.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

using testing::MakeDir;
using testing::TempDir;
using testing::WriteFile;

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string src = tmp_ / "src";
    MakeDir(src);
    WriteFile(src + "/f", "file");
    MakeDir(src + "/d");
    WriteFile(src + "/d/g", "inner");
    WriteFile(src + "/d/h", "file");  // same blob as /f
    auto r = ImportPath(blobs_, dirs_, src);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(CommitRoot(blobs_, roots_, Entry{*PathComponent::Create("r"), r->node}).ok());
  }
  std::vector<VerifyProblem> Verify(VerifyOptions opts = {}) {
    std::vector<VerifyProblem> problems;
    auto stats = VerifyStore(blobs_, dirs_, roots_, opts,
                             [&](const VerifyProblem& p) { problems.push_back(p); });
    EXPECT_TRUE(stats.ok()) << stats.status();
    if (stats.ok()) {
      EXPECT_EQ(stats->problems, problems.size());
    }
    return problems;
  }
  B3Digest DigestOf(const std::string& path) {
    auto e = ResolvePath(roots_, dirs_, path);
    CASTOR_CHECK(e.ok());
    if (auto* f = std::get_if<FileNode>(&e->node)) return f->digest;
    return std::get<DirectoryNode>(e->node).digest;
  }
  MemoryBlobService blobs_;
  MemoryDirectoryService dirs_;
  MemoryRootService roots_;
  TempDir tmp_;
};

TEST_F(MaintenanceTest, VerifyPassesOnAGoodStore) { EXPECT_TRUE(Verify().empty()); }

TEST_F(MaintenanceTest, VerifyListsEveryPathOfAMissingBlob) {
  ASSERT_TRUE(blobs_.Delete(DigestOf("r/f")).ok());
  auto problems = Verify();
  ASSERT_EQ(problems.size(), 2u);
  std::vector<std::string> paths{problems[0].path, problems[1].path};
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"/d/h", "/f"}));
  EXPECT_EQ(problems[0].root, "r");
  EXPECT_NE(problems[0].message.find("missing"), std::string::npos);
}

TEST_F(MaintenanceTest, VerifyDetectsACorruptBlob) {
  B3Digest g = DigestOf("r/d/g");
  ASSERT_TRUE(blobs_.Delete(g).ok());
  blobs_.Insert(g, std::make_shared<const std::string>("INNER"));
  auto problems = Verify();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].path, "/d/g");
  EXPECT_NE(problems[0].message.find("hash to"), std::string::npos);
}

TEST_F(MaintenanceTest, VerifyDetectsAMissingDirectoryAndUnknownRoots) {
  B3Digest d = DigestOf("r/d");
  ASSERT_TRUE(dirs_.Delete(std::span<const B3Digest>(&d, 1)).ok());
  auto problems = Verify(VerifyOptions{.roots = {"r", "nope"}});
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].root, "nope");
  EXPECT_EQ(problems[1].path, "/d");
}

TEST_F(MaintenanceTest, VerifyReportsTreesDeeperThanAPathMaxPath) {
  auto commit = [&](const char* name, size_t levels) {
    Entry e{*PathComponent::Create(name), testing::PutDeepChain(dirs_, levels)};
    ASSERT_TRUE(CommitRoot(blobs_, roots_, e).ok());
  };
  commit("ok", kMaxTreeDepth);
  // A damaged or hostile store's chain of 100,000 Directories: reported at
  // the limit, where verify used to recurse until the stack overflowed.
  commit("deep", 100'000);
  auto problems = Verify(VerifyOptions{.roots = {"ok", "deep"}});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].root, "deep");
  std::string expected_path;
  for (size_t i = 0; i < kMaxTreeDepth; ++i) expected_path += "/d";
  EXPECT_EQ(problems[0].path, expected_path);
  EXPECT_NE(problems[0].message.find("more than 2048 levels deep"), std::string::npos)
      << problems[0].message;
}

TEST_F(MaintenanceTest, GcDeletesOnlyUnreachableObjects) {
  ASSERT_TRUE(PutBlob(blobs_, "orphan blob").ok());
  auto orphan_dir = Directory::Create(
      {Entry{*PathComponent::Create("x"), FileNode{B3Digest::Of("zzz"), 3, false}}});
  ASSERT_TRUE(orphan_dir.ok());
  ASSERT_TRUE(dirs_.Put(*orphan_dir).ok());

  auto dry = CollectGarbage(blobs_, dirs_, roots_, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->blobs_deleted, 1u);
  EXPECT_EQ(dry->bytes_freed, 11u);
  EXPECT_TRUE(*blobs_.Has(B3Digest::Of("orphan blob")));

  auto real = CollectGarbage(blobs_, dirs_, roots_, /*dry_run=*/false);
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_EQ(real->blobs_deleted, 1u);
  EXPECT_EQ(real->directories_deleted, 1u);
  EXPECT_EQ(real->blobs_kept, 2u);
  EXPECT_EQ(real->directories_kept, 2u);
  EXPECT_FALSE(*blobs_.Has(B3Digest::Of("orphan blob")));
  EXPECT_FALSE(dirs_.Get(orphan_dir->digest())->has_value());
  EXPECT_TRUE(Verify().empty());
}

TEST_F(MaintenanceTest, GcDeletesNothingWhenAClosureIsBroken) {
  ASSERT_TRUE(PutBlob(blobs_, "orphan blob").ok());
  B3Digest d = DigestOf("r/d");
  ASSERT_TRUE(dirs_.Delete(std::span<const B3Digest>(&d, 1)).ok());
  auto r = CollectGarbage(blobs_, dirs_, roots_, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(*blobs_.Has(B3Digest::Of("orphan blob")));
}

TEST(StoreLockTest, ExclusiveWaitsForSharedHolders) {
  TempDir tmp;
  auto a = StoreLock::Acquire(tmp.path(), StoreLock::Mode::kShared);
  auto b = StoreLock::Acquire(tmp.path(), StoreLock::Mode::kShared);
  ASSERT_TRUE(a.ok() && b.ok());
  std::atomic<bool> waited{false}, got{false};
  std::thread t([&] {
    auto ex = StoreLock::Acquire(tmp.path(), StoreLock::Mode::kExclusive, [&] { waited = true; });
    EXPECT_TRUE(ex.ok());
    got = true;
  });
  while (!waited) std::this_thread::yield();
  EXPECT_FALSE(got);
  a->reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got);
  b->reset();
  t.join();
  EXPECT_TRUE(got);
}

TEST(StoreLockTest, ServeLockIsExclusiveNamesItsHolderAndIsFreeAgainOnceReleased) {
  TempDir tmp;
  ServeLock::Holder daemon{.program = "castor daemon", .pid = 42};
  auto first = ServeLock::TryAcquire(tmp.path(), daemon, nullptr);
  ASSERT_TRUE(first.ok() && *first != nullptr) << first.status();
  daemon.addresses = {"grpc+unix:///run/a.sock", "grpc+http://127.0.0.1:7000"};
  ASSERT_TRUE((*first)->Record(daemon).ok());

  ServeLock::Holder current;
  auto second = ServeLock::TryAcquire(tmp.path(), {.program = "castor gc", .pid = 7}, &current);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, nullptr);
  EXPECT_EQ(current.program, "castor daemon");
  EXPECT_EQ(current.pid, 42);
  EXPECT_EQ(current.addresses, daemon.addresses);
  EXPECT_EQ(current.Describe(),
            "castor daemon (pid 42, serving grpc+unix:///run/a.sock and "
            "grpc+http://127.0.0.1:7000)");

  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto lock = ServeLock::Acquire(tmp.path(), {.program = "castor gc", .pid = 7});
    EXPECT_TRUE(lock.ok() && *lock != nullptr);
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got);
  first->reset();
  waiter.join();
  EXPECT_TRUE(got);
  // The waiter recorded itself (and released the lock when it went).
  auto again = ServeLock::TryAcquire(tmp.path(), daemon, &current);
  ASSERT_TRUE(again.ok() && *again != nullptr);
}

TEST(StoreLockTest, ServeLockHolderOfAnEmptyFileIsAnotherProcess) {
  EXPECT_EQ(ServeLock::Holder{}.Describe(), "another process");
}

}  // namespace
}  // namespace castor::castore
