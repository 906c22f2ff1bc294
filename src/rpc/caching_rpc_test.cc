// The directory cache (`--cache`) in front of a real daemon on a unix socket,
// under CastoreFs as a mount uses it: the first look into a huge remote tree
// fetches the Directories asked for, not the tree's closure, and what comes
// through the cache is still checked against its digest.
#include <fcntl.h>

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "castore/directory/caching_directory_service.h"
#include "castore/testing/counting_services.h"
#include "fs/castore_fs.h"
#include "fs/fuse/wire.h"
#include "gtest/gtest.h"
#include "rpc/testing.h"

namespace castor::rpc {
namespace {

using castore::B3Digest;
using castore::Directory;
using castore::DirectoryNode;
using castore::Entry;
using castore::FileNode;
using castore::PathComponent;
using castore::testing::CountingDirectoryService;
using testing::LocalDaemon;
using testing::TempDir;

Entry DirEntry(const std::string& name, const Directory& d) {
  return {*PathComponent::Create(name), DirectoryNode{d.digest(), d.size()}};
}

// A root of `mids` Directories of `leaves` Directories each (one file per
// leaf, so all differ): 1 + mids * (1 + leaves) Directories.
Directory BuildTree(castore::MemoryDirectoryService& dirs, int mids, int leaves) {
  std::vector<Entry> top;
  for (int m = 0; m < mids; ++m) {
    std::vector<Entry> mid;
    std::vector<Directory> batch;
    for (int l = 0; l < leaves; ++l) {
      Directory leaf =
          *Directory::Create({{*PathComponent::Create("f"),
                               FileNode{B3Digest::Of(absl::StrFormat("%d/%d", m, l)), 1, false}}});
      mid.push_back(DirEntry(absl::StrFormat("l%04d", l), leaf));
      batch.push_back(std::move(leaf));
    }
    Directory m_dir = *Directory::Create(std::move(mid));
    top.push_back(DirEntry(absl::StrFormat("m%04d", m), m_dir));
    batch.push_back(std::move(m_dir));
    dirs.InsertAll(batch);
  }
  Directory root = *Directory::Create(std::move(top));
  dirs.InsertAll(std::span(&root, 1));
  return root;
}

// OPENDIR + one READDIRPLUS + RELEASEDIR; the errno, 0 when listed.
int ListPlus(fs::CastoreFs& fs, uint64_t ino) {
  fuse_open_out open;
  if (int err = fs.OpenDir(ino, O_RDONLY, &open); err != 0) return err;
  std::vector<uint8_t> buffer(64 * 1024);
  fs::fuse::DirentWriter writer(buffer);
  int err = fs.ReadDir(ino, open.fh, 0, /*plus=*/true, writer);
  fs.ReleaseDir(ino, open.fh);
  return err;
}

uint64_t Lookup(fs::CastoreFs& fs, uint64_t parent, std::string_view name) {
  fuse_entry_out out;
  EXPECT_EQ(fs.Lookup(parent, name, &out), 0) << name;
  return out.nodeid;
}

struct CachedMount {
  explicit CachedMount(const LocalDaemon& daemon, size_t prefetch = 0) : dir("dircache") {
    castore::Services clients = daemon.Clients();
    auto local = castore::OpenLmdbDirectoryCacheStore(dir.path() + "/meta");
    EXPECT_TRUE(local.ok()) << local.status();
    cache = std::make_shared<castore::CachingDirectoryService>(
        *local, clients.directories, castore::CachingDirectoryOptions{.prefetch = prefetch});
    clients.directories = cache;
    fs = std::make_unique<fs::CastoreFs>(clients, fs::FsOptions{});
  }
  TempDir dir;
  std::shared_ptr<castore::CachingDirectoryService> cache;
  std::unique_ptr<fs::CastoreFs> fs;
};

// Streams the first `open_for` Directories of a GetRecursive, then holds the
// stream until Release(), so the test decides when the daemon may go on. How
// far a daemon streams ahead of a reader is otherwise bounded only by HTTP/2
// flow control and by how slow the reader is (ThreadSanitizer makes it very
// slow); held here, the only way past the gate is the prefetcher's cancel
// arriving after the test released it.
class GatedDirectoryService : public castore::MemoryDirectoryService {
 public:
  explicit GatedDirectoryService(uint64_t open_for) : open_for_(open_for) {}
  void Release() { released_.Notify(); }
  // Whether the (one) held GetRecursive has returned within `timeout`.
  bool WaitFinished(absl::Duration timeout) {
    return finished_.WaitForNotificationWithTimeout(timeout);
  }
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override {
    uint64_t streamed = 0;
    bool held = false;
    absl::Status status = MemoryDirectoryService::GetRecursive(root, [&](const Directory& d) {
      if (++streamed == open_for_) {
        held = true;
        if (!released_.WaitForNotificationWithTimeout(absl::Seconds(60)))
          return absl::DeadlineExceededError("the test never released the gate");
      }
      return fn(d);
    });
    if (held) finished_.Notify();
    return status;
  }

 private:
  const uint64_t open_for_;
  absl::Notification released_;
  absl::Notification finished_;
};

TEST(CachingRpcTest, FirstLookIntoAHugeRemoteTreeFetchesWhatItAsksForNotTheClosure) {
  auto memory = std::make_shared<GatedDirectoryService>(/*open_for=*/1000);
  Directory root = BuildTree(*memory, 100, 999);  // 100,000 Directories + the root
  auto counting = std::make_shared<CountingDirectoryService>(memory);
  castore::Services backing{std::make_shared<castore::MemoryBlobService>(), counting,
                            std::make_shared<castore::MemoryRootService>()};
  ASSERT_TRUE(backing.roots->Put(DirEntry("r", root)).ok());
  LocalDaemon daemon(backing);
  {
    CachedMount mount(daemon);
    uint64_t r = Lookup(*mount.fs, FUSE_ROOT_ID, "r");
    ASSERT_EQ(ListPlus(*mount.fs, r), 0);  // ls r
    uint64_t m = Lookup(*mount.fs, r, "m0042");
    ASSERT_EQ(ListPlus(*mount.fs, m), 0);  // ls r/m0042
    Lookup(*mount.fs, m, "l0007");
    // The daemon sent r and r/m0042, nothing else.
    EXPECT_EQ(counting->recursive_gets(), 0u);
    EXPECT_EQ(counting->directories_sent(), 2u);
  }
  // Background prefetching stays within its budget.
  counting->Reset();
  {
    CachedMount mount(daemon, /*prefetch=*/100);
    uint64_t r = Lookup(*mount.fs, FUSE_ROOT_ID, "r");
    ASSERT_EQ(ListPlus(*mount.fs, r), 0);
    mount.cache->WaitIdle();  // the prefetcher kept its 100 and cancelled
    EXPECT_EQ(mount.cache->prefetched(), 100u);
    memory->Release();
    ASSERT_TRUE(memory->WaitFinished(absl::Seconds(60)));
    // The cancel ends the daemon's stream: it may send what fits in the
    // moment before the cancel reaches it, nowhere near the closure
    // (100,101 Directories) that a GetRecursive without one would send.
    EXPECT_LT(counting->directories_sent(), 10000u);
  }
}

// A daemon that answers a Get of `victim` with another Directory.
class SwappingDirectoryService : public castore::MemoryDirectoryService {
 public:
  B3Digest victim;
  Directory other;
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override {
    if (digest == victim) return other;
    return MemoryDirectoryService::Get(digest);
  }
};

TEST(CachingRpcTest, ADirectoryThatDoesNotMatchItsDigestIsEioAndNotCached) {
  auto dirs = std::make_shared<SwappingDirectoryService>();
  Directory root = BuildTree(*dirs, 2, 3);
  dirs->victim = std::get<DirectoryNode>(root.entries()[1].node).digest;  // m0001
  dirs->other = *Directory::Create({});
  castore::Services backing{std::make_shared<castore::MemoryBlobService>(), dirs,
                            std::make_shared<castore::MemoryRootService>()};
  ASSERT_TRUE(backing.roots->Put(DirEntry("r", root)).ok());
  LocalDaemon daemon(backing);
  CachedMount mount(daemon);
  uint64_t r = Lookup(*mount.fs, FUSE_ROOT_ID, "r");
  EXPECT_EQ(ListPlus(*mount.fs, Lookup(*mount.fs, r, "m0000")), 0);
  EXPECT_EQ(ListPlus(*mount.fs, Lookup(*mount.fs, r, "m0001")), EIO);
  mount.cache->WaitIdle();
  auto local = castore::OpenLmdbDirectoryCacheStore(mount.dir.path() + "/meta");
  ASSERT_TRUE(local.ok());
  EXPECT_FALSE((*local)->Get(dirs->victim)->has_value());
  EXPECT_FALSE((*local)->Get(dirs->other.digest())->has_value());
  EXPECT_TRUE((*local)->Get(root.digest())->has_value());
}

}  // namespace
}  // namespace castor::rpc
