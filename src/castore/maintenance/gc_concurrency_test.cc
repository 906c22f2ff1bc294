// gc beside running imports, on a real embedded store (file:// blobs, LMDB
// directories and roots), with the store lock of docs/gc.md: importers hold
// it shared from before their first dedup check until after the root
// commit, gc holds it exclusively, `rm` takes none. Each import reuses blobs
// of a root that was just removed (garbage for gc, a dedup hit for the
// import): exactly the race the lock exists for. Threads run side by side;
// the store must verify clean at every point an importer or verifier looks,
// and at the end. Meant for the ThreadSanitizer run as much as for the
// invariant.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/blob/local_blob_service.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "castore/maintenance/gc.h"
#include "castore/maintenance/store_lock.h"
#include "castore/maintenance/verify.h"
#include "castore/roots/lmdb_root_service.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

using testing::MakeDir;
using testing::TempDir;
using testing::WriteFile;

constexpr int kImporters = 2;
constexpr int kRounds = 5;
constexpr int kShared = 30;  // files every import has
constexpr int kOwn = 8;      // files only this round has (the next one reuses them)

std::string RootName(int t, int r) { return absl::StrCat("t", t, "-r", r); }
std::string OwnContent(int t, int r, int k) {
  return absl::StrCat("import ", t, " round ", r, " file ", k, std::string(100 * k, 'o'));
}

// Source tree of importer t, round r: shared/ (the same everywhere), own/
// (new in this round) and prev/ (the own/ files of round r-1, whose root is
// removed before this round starts).
void MakeSource(const std::string& dir, int t, int r) {
  MakeDir(dir);
  MakeDir(dir + "/shared");
  MakeDir(dir + "/own");
  MakeDir(dir + "/prev");
  for (int k = 0; k < kShared; ++k) {
    WriteFile(absl::StrCat(dir, "/shared/s", k), absl::StrCat("shared ", k, std::string(k, 's')));
  }
  for (int k = 0; k < kOwn; ++k) {
    WriteFile(absl::StrCat(dir, "/own/o", k), OwnContent(t, r, k));
    WriteFile(absl::StrCat(dir, "/prev/p", k), OwnContent(t, r - 1, k));
  }
}

struct Store {
  std::shared_ptr<BlobService> blobs;
  std::shared_ptr<DirectoryService> dirs;
  std::shared_ptr<RootService> roots;
};

// Problems VerifyStore reports (as text), or the error it failed with.
std::vector<std::string> VerifyProblems(Store& s) {
  std::vector<std::string> problems;
  auto stats = VerifyStore(*s.blobs, *s.dirs, *s.roots, VerifyOptions{.threads = 2},
                           [&](const VerifyProblem& p) {
                             problems.push_back(absl::StrCat(p.root, p.path, ": ", p.message));
                           });
  if (!stats.ok()) problems.push_back(stats.status().ToString());
  return problems;
}

TEST(GcBesideImportTest, ConcurrentImportsGcAndVerifyKeepTheStoreConsistent) {
  TempDir tmp;
  const std::string store = tmp / "store";
  auto blobs = LocalBlobService::Open(store + "/blobs");
  auto dirs = LmdbDirectoryService::Open(store + "/meta");
  auto roots = LmdbRootService::Open(store + "/meta");
  ASSERT_TRUE(blobs.ok()) << blobs.status();
  ASSERT_TRUE(dirs.ok()) << dirs.status();
  ASSERT_TRUE(roots.ok()) << roots.status();
  Store s{*blobs, *dirs, *roots};
  for (int t = 0; t < kImporters; ++t) {
    for (int r = 0; r < kRounds; ++r) MakeSource(tmp / RootName(t, r), t, r);
  }

  std::atomic<int> importers_left{kImporters};
  std::atomic<int> gc_rounds{0};
  std::atomic<uint64_t> blobs_deleted{0}, dirs_deleted{0};

  std::thread gc([&] {
    while (importers_left.load() > 0) {
      auto lock = StoreLock::Acquire(store, StoreLock::Mode::kExclusive);
      ASSERT_TRUE(lock.ok()) << lock.status();
      auto stats = CollectGarbage(*s.blobs, *s.dirs, *s.roots, /*dry_run=*/false);
      ASSERT_TRUE(stats.ok()) << stats.status();
      blobs_deleted += stats->blobs_deleted;
      dirs_deleted += stats->directories_deleted;
      lock->reset();
      ++gc_rounds;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  // Checks under a shared lock, beside the imports: never a problem.
  std::atomic<int> verifications{0};
  std::thread verifier([&] {
    while (importers_left.load() > 0) {
      auto lock = StoreLock::Acquire(store, StoreLock::Mode::kShared);
      ASSERT_TRUE(lock.ok()) << lock.status();
      EXPECT_EQ(VerifyProblems(s), std::vector<std::string>{});
      ++verifications;
      lock->reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });

  std::vector<std::thread> importers;
  for (int t = 0; t < kImporters; ++t) {
    importers.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        {
          auto lock = StoreLock::Acquire(store, StoreLock::Mode::kShared);
          ASSERT_TRUE(lock.ok()) << lock.status();
          auto result =
              ImportPath(*s.blobs, *s.dirs, tmp / RootName(t, r), ImportOptions{.threads = 3});
          ASSERT_TRUE(result.ok()) << result.status();
          auto name = PathComponent::Create(RootName(t, r));
          ASSERT_TRUE(name.ok());
          ASSERT_TRUE(CommitRoot(*s.blobs, *s.roots, Entry{*name, result->node}).ok());
        }
        // `castor rm` of the previous round: its own/ blobs become garbage,
        // which the next round's prev/ reuses.
        if (r > 0) {
          auto old = PathComponent::Create(RootName(t, r - 1));
          ASSERT_TRUE(old.ok());
          auto removed = s.roots->Remove(*old);
          ASSERT_TRUE(removed.ok() && *removed);
        }
        // Let gc run (and delete that garbage) before the next round, so
        // each round starts with objects to reuse that gc just touched.
        const int seen = gc_rounds.load();
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (gc_rounds.load() <= seen && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    });
  }
  for (auto& th : importers) th.join();
  importers_left = 0;
  gc.join();
  verifier.join();

  EXPECT_GE(gc_rounds.load(), kRounds);
  EXPECT_GT(verifications.load(), 0);
  // Removed roots left their own/ files behind: gc found and deleted them
  // while other imports ran.
  EXPECT_GT(blobs_deleted.load(), 0u);
  EXPECT_GT(dirs_deleted.load(), 0u);

  // The last root of each importer is complete, and one more gc keeps it so.
  EXPECT_EQ(VerifyProblems(s), std::vector<std::string>{});
  auto last = CollectGarbage(*s.blobs, *s.dirs, *s.roots, /*dry_run=*/false);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(VerifyProblems(s), std::vector<std::string>{});
  for (int t = 0; t < kImporters; ++t) {
    auto name = PathComponent::Create(RootName(t, kRounds - 1));
    auto root = s.roots->Get(*name);
    ASSERT_TRUE(root.ok() && root->has_value()) << RootName(t, kRounds - 1);
    std::string out = tmp / absl::StrCat("export-", t);
    ASSERT_TRUE(ExportNode(*s.blobs, *s.dirs, (*root)->node, out, ExportOptions{}).ok());
    EXPECT_EQ(testing::DescribeTree(out), testing::DescribeTree(tmp / RootName(t, kRounds - 1)));
  }
}

}  // namespace
}  // namespace castor::castore
