// The daemon's root Put checks the root's whole closure (every Directory and
// every blob, with its size) and refuses a root that would point at
// something missing with FAILED_PRECONDITION naming the first missing digest
// and its path. A client that deduplicated against a blob which a gc then
// removed gets that refusal instead of a dangling root. gc run by the
// daemon (castor.v1.AdminService) excludes root Puts while it runs, takes
// the store's exclusive StoreLock, and is served to unix-socket peers only
// unless allowed. In-process daemons on unix sockets (and TCP) over memory
// services.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "base/status.h"
#include "castore/maintenance/closure_check.h"
#include "castore/maintenance/gc.h"
#include "castore/maintenance/store_lock.h"
#include "gtest/gtest.h"
#include "rpc/grpc_admin.h"
#include "rpc/testing.h"

namespace castor::rpc {
namespace {

using castore::B3Digest;
using castore::Directory;
using castore::Entry;
using castore::PathComponent;
using testing::LocalDaemon;

Entry File(std::string_view name, std::string_view data) {
  return {*PathComponent::Create(name), castore::FileNode{B3Digest::Of(data), data.size(), false}};
}
Entry Dir(std::string_view name, const Directory& d) {
  return {*PathComponent::Create(name), castore::DirectoryNode{d.digest(), d.size()}};
}

absl::Status PutDirectories(castore::DirectoryService& dirs, const std::vector<Directory>& list) {
  ASSIGN_OR_RETURN(auto putter, dirs.OpenPutter());
  for (const Directory& d : list) RETURN_IF_ERROR(putter->Put(d));
  return putter->Close().status();
}

// Counts Get calls (how often the closure check reads a Directory).
class CountingDirectories final : public castore::DirectoryService {
 public:
  explicit CountingDirectories(std::shared_ptr<castore::DirectoryService> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override {
    ++gets;
    return inner_->Get(digest);
  }
  absl::StatusOr<B3Digest> Put(const Directory& directory) override {
    return inner_->Put(directory);
  }
  absl::StatusOr<std::unique_ptr<castore::DirectoryPutter>> OpenPutter() override {
    return inner_->OpenPutter();
  }
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override {
    return inner_->GetRecursive(root, fn);
  }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override {
    return inner_->ForEach(fn);
  }
  absl::Status Delete(std::span<const B3Digest> digests) override {
    return inner_->Delete(digests);
  }
  std::atomic<uint64_t> gets{0};

 private:
  std::shared_ptr<castore::DirectoryService> inner_;
};

// top/{m/{leaf/{a, b}}, c}; every blob stored unless a test removes one.
struct Tree {
  Directory leaf = *Directory::Create({File("a", "hello"), File("b", "world!")});
  Directory mid = *Directory::Create({Dir("leaf", leaf)});
  Directory top = *Directory::Create({Dir("m", mid), File("c", "x")});
};

class RootClosureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* data : {"hello", "world!", "x"}) {
      ASSERT_TRUE(castore::PutBlob(*backing().blobs, data).ok());
    }
    ASSERT_TRUE(PutDirectories(*backing().directories, {t_.leaf, t_.mid, t_.top}).ok());
  }
  const castore::Services& backing() { return daemon_.backing(); }

  Tree t_;
  LocalDaemon daemon_;
  castore::Services clients_ = daemon_.Clients();
};

TEST_F(RootClosureTest, RootPutOfACompleteClosureSucceeds) {
  ASSERT_TRUE(clients_.roots->Put(Dir("r", t_.top)).ok());
  EXPECT_TRUE(backing().roots->Get(*PathComponent::Create("r"))->has_value());
}

TEST_F(RootClosureTest, RootPutIsRefusedWhenABlobDeepInTheTreeIsMissingNamingItsDigestAndPath) {
  B3Digest missing = B3Digest::Of(std::string_view("world!"));
  ASSERT_TRUE(backing().blobs->Delete(missing).ok());
  absl::Status s = clients_.roots->Put(Dir("r", t_.top));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), missing.ToB3())) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "r/m/leaf/b")) << s;
  EXPECT_FALSE(backing().roots->Get(*PathComponent::Create("r"))->has_value());
}

TEST_F(RootClosureTest, RootPutIsRefusedWhenADirectoryBelowTheRootIsMissingNamingItsDigestAndPath) {
  B3Digest missing = t_.leaf.digest();
  ASSERT_TRUE(backing().directories->Delete({&missing, 1}).ok());
  absl::Status s = clients_.roots->Put(Dir("r", t_.top));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), missing.ToB3())) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "r/m/leaf")) << s;
  EXPECT_FALSE(backing().roots->Get(*PathComponent::Create("r"))->has_value());
}

TEST_F(RootClosureTest, RootPutIsRefusedWhenABlobIsStoredWithAnotherSizeThanItsNodeSays) {
  Entry lying{*PathComponent::Create("a"),
              castore::FileNode{B3Digest::Of(std::string_view("hello")), 4, false}};
  Directory d = *Directory::Create({lying});
  ASSERT_TRUE(PutDirectories(*backing().directories, {d}).ok());
  absl::Status s = clients_.roots->Put(Dir("r", d));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "r/a")) << s;
}

// 40 levels, each Directory referring to the next one twice: 2^40 paths, 41
// Directories. The check reads each Directory once.
TEST(RootClosureWalk, ReadsEachDirectoryOnceHoweverOftenItIsShared) {
  auto counting =
      std::make_shared<CountingDirectories>(std::make_shared<castore::MemoryDirectoryService>());
  LocalDaemon daemon({std::make_shared<castore::MemoryBlobService>(), counting,
                      std::make_shared<castore::MemoryRootService>()});
  ASSERT_TRUE(castore::PutBlob(*daemon.backing().blobs, "leaf").ok());
  std::vector<Directory> chain{*Directory::Create({File("f", "leaf")})};
  for (int i = 0; i < 40; ++i) {
    chain.push_back(*Directory::Create({Dir("x", chain.back()), Dir("y", chain.back())}));
  }
  ASSERT_TRUE(PutDirectories(*counting, chain).ok());
  counting->gets = 0;
  absl::Status s = daemon.Clients().roots->Put(Dir("deep", chain.back()));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_LE(counting->gets.load(), chain.size() + 1);
}

// The race this check exists for, made deterministic: a client finds a blob
// stored (so does not upload it), a gc then removes it (its only root was
// removed), and the client's Directory Put (which does not look at blobs)
// and root Put follow. The root must be refused, never stored dangling.
TEST_F(RootClosureTest, ADeduplicatedBlobCollectedBeforeTheRootPutMakesTheRootPutFail) {
  ASSERT_TRUE(clients_.roots->Put(Dir("old", t_.leaf)).ok());
  B3Digest reused = B3Digest::Of(std::string_view("hello"));
  ASSERT_TRUE(*clients_.blobs->Has(reused));  // the client's dedup check: no upload
  ASSERT_TRUE(*clients_.roots->Remove(*PathComponent::Create("old")));
  auto stats = castore::CollectGarbage(*backing().blobs, *backing().directories, *backing().roots,
                                       /*dry_run=*/false);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_FALSE(*backing().blobs->Has(reused));

  Directory fresh = *Directory::Create({File("a", "hello"), File("new", "new bytes")});
  ASSERT_TRUE(castore::PutBlob(*clients_.blobs, "new bytes").ok());
  ASSERT_TRUE(PutDirectories(*clients_.directories, {fresh}).ok());
  absl::Status s = clients_.roots->Put(Dir("fresh", fresh));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), reused.ToB3())) << s;
  EXPECT_FALSE(backing().roots->Get(*PathComponent::Create("fresh"))->has_value());
}

// --- gc through the daemon --------------------------------------------------

castore::Services MemoryServices() {
  return {std::make_shared<castore::MemoryBlobService>(),
          std::make_shared<castore::MemoryDirectoryService>(),
          std::make_shared<castore::MemoryRootService>()};
}

TEST(DaemonAdmin, CollectGarbageDeletesWhatNoRootReachesAndDryRunDeletesNothing) {
  LocalDaemon daemon(MemoryServices());
  const castore::Services& store = daemon.backing();
  Tree t;
  for (const char* data : {"hello", "world!", "x", "garbage"}) {
    ASSERT_TRUE(castore::PutBlob(*store.blobs, data).ok());
  }
  ASSERT_TRUE(PutDirectories(*store.directories, {t.leaf, t.mid, t.top}).ok());
  ASSERT_TRUE(daemon.Clients().roots->Put(Dir("r", t.mid)).ok());

  auto dry = CollectGarbageThrough(daemon.address(), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->roots, 1u);
  EXPECT_EQ(dry->blobs_deleted, 2u);  // "x" and "garbage"
  EXPECT_EQ(dry->bytes_freed, 8u);
  EXPECT_EQ(dry->blobs_kept, 2u);
  EXPECT_EQ(dry->bytes_kept, 11u);
  EXPECT_EQ(dry->directories_deleted, 1u);  // top
  EXPECT_EQ(dry->directories_kept, 2u);
  EXPECT_TRUE(*store.blobs->Has(B3Digest::Of(std::string_view("garbage"))));

  auto gc = CollectGarbageThrough(daemon.address(), /*dry_run=*/false);
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->blobs_deleted, 2u);
  EXPECT_EQ(gc->directories_deleted, 1u);
  EXPECT_FALSE(*store.blobs->Has(B3Digest::Of(std::string_view("garbage"))));
  EXPECT_FALSE(store.directories->Get(t.top.digest())->has_value());
  EXPECT_TRUE(castore::CheckClosureStored(*store.blobs, *store.directories, Dir("r", t.mid)).ok());
}

// Blobs whose ForEach (gc's sweep, after its mark) holds until `release`
// is set, at most 2 s.
class SweepHoldingBlobs final : public castore::BlobService {
 public:
  explicit SweepHoldingBlobs(std::shared_ptr<castore::BlobService> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<bool> Has(const B3Digest& d) override { return inner_->Has(d); }
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenRead(const B3Digest& d) override {
    return inner_->OpenRead(d);
  }
  absl::StatusOr<std::unique_ptr<castore::BlobWriter>> OpenWrite() override {
    return inner_->OpenWrite();
  }
  absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> Chunks(
      const B3Digest& d) override {
    return inner_->Chunks(d);
  }
  absl::Status Sync() override { return inner_->Sync(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    sweeping = true;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!release && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return inner_->ForEach(fn);
  }
  absl::Status Delete(const B3Digest& d) override { return inner_->Delete(d); }

  std::atomic<bool> sweeping{false}, release{false};

 private:
  std::shared_ptr<castore::BlobService> inner_;
};

// A root Put that arrives while the daemon's gc is between its mark (which
// did not see the root) and its sweep must not commit before the sweep: it
// would point at what the sweep deletes. Without the exclusion the Put
// commits at once (and releases the sweep); with it, it waits for the gc,
// then finds its Directory gone.
TEST(DaemonAdmin, NoRootPutCommitsWhileTheDaemonsGcRuns) {
  auto blobs = std::make_shared<SweepHoldingBlobs>(std::make_shared<castore::MemoryBlobService>());
  castore::Services store = MemoryServices();
  store.blobs = blobs;
  LocalDaemon daemon(store);
  ASSERT_TRUE(castore::PutBlob(*blobs, "unreferenced until the root commits").ok());
  Directory d = *Directory::Create({File("a", "unreferenced until the root commits")});
  ASSERT_TRUE(PutDirectories(*store.directories, {d}).ok());

  std::thread gc([&] { EXPECT_TRUE(CollectGarbageThrough(daemon.address(), false).ok()); });
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!blobs->sweeping && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(blobs->sweeping);
  absl::Status put = daemon.Clients().roots->Put(Dir("r", d));
  blobs->release = true;
  gc.join();

  EXPECT_EQ(put.code(), absl::StatusCode::kFailedPrecondition) << put;
  auto root = store.roots->Get(*PathComponent::Create("r"));
  ASSERT_TRUE(root.ok());
  if (root->has_value()) {
    EXPECT_TRUE(castore::CheckClosureStored(*store.blobs, *store.directories, **root).ok())
        << "a root points at something gc deleted";
  }
}

TEST(DaemonAdmin, GcWaitsForLocalImportsHoldingTheStoreLock) {
  castore::testing::TempDir dir("admin-lock");
  DaemonOptions options;
  options.handlers.store_dir = dir.path();
  LocalDaemon daemon(MemoryServices(), options);
  auto import = castore::StoreLock::Acquire(dir.path(), castore::StoreLock::Mode::kShared);
  ASSERT_TRUE(import.ok());
  std::atomic<bool> done{false};
  std::thread gc([&] {
    EXPECT_TRUE(CollectGarbageThrough(daemon.address(), false).ok());
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done) << "gc ran beside an import holding the store lock";
  import->reset();
  gc.join();
  EXPECT_TRUE(done);
}

TEST(DaemonAdmin, TcpPeersAreRefusedUnlessAllowedAndOffServesNothing) {
  for (AdminAccess access : {AdminAccess::kUnixSockets, AdminAccess::kAll, AdminAccess::kOff}) {
    castore::testing::TempDir dir("admin-tcp");
    DaemonOptions options;
    options.handlers.admin = access;
    auto daemon = Daemon::Start(MemoryServices(),
                                {*ListenAddress::Parse("unix://" + dir.path() + "/s.sock"),
                                 *ListenAddress::Parse("127.0.0.1:0")},
                                options);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    const std::string unix_addr = (*daemon)->client_addresses()[0];
    const std::string tcp_addr = (*daemon)->client_addresses()[1];
    auto over_unix = CollectGarbageThrough(unix_addr, true);
    auto over_tcp = CollectGarbageThrough(tcp_addr, true);
    switch (access) {
      case AdminAccess::kUnixSockets:
        EXPECT_TRUE(over_unix.ok()) << over_unix.status();
        EXPECT_EQ(over_tcp.status().code(), absl::StatusCode::kPermissionDenied)
            << over_tcp.status();
        EXPECT_TRUE(absl::StrContains(over_tcp.status().message(), "--admin all"))
            << over_tcp.status();
        break;
      case AdminAccess::kAll:
        EXPECT_TRUE(over_unix.ok()) << over_unix.status();
        EXPECT_TRUE(over_tcp.ok()) << over_tcp.status();
        break;
      case AdminAccess::kOff:
        EXPECT_EQ(over_unix.status().code(), absl::StatusCode::kUnimplemented);
        EXPECT_TRUE(absl::StrContains(over_unix.status().message(), "--admin off"))
            << over_unix.status();
        EXPECT_EQ(over_tcp.status().code(), absl::StatusCode::kUnimplemented);
        break;
    }
  }
}

}  // namespace
}  // namespace castor::rpc
