// The walk of one wide directory through CastoreFs, in process: a root
// "big" holding N subdirectories (one file each), looked up child by child
// the way `find` or `ls -lR` does when the kernel has no dentries for them:
// LOOKUP of the child in big, OPENDIR + READDIRPLUS of the child, LOOKUP of
// its file, FORGET of both. big stays held throughout, as the kernel holds
// a directory while it looks names up in it. The Directories live in LMDB
// (each fetch decodes and hashes what it reads), behind a counting wrapper.
//
//   wide_directory_bench [N] [CACHE_ENTRIES]
//
// N defaults to 200000, CACHE_ENTRIES (FsOptions::directory_cache_entries)
// to the mount's default. The store is built in $CASTOR_BENCH_DIR (default
// /dev/shm) and removed afterwards. Prints the walk's wall time and how
// often the big Directory and Directories in all were fetched.
#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/roots/memory_root_service.h"
#include "castore/testing/counting_services.h"
#include "castore/testing/temp_dir.h"
#include "fs/castore_fs.h"
#include "fs/fuse/wire.h"

namespace {

using castor::castore::B3Digest;
using castor::castore::Directory;
using castor::castore::DirectoryNode;
using castor::castore::Entry;
using castor::castore::FileNode;
using castor::castore::PathComponent;

std::string ChildName(int i) { return absl::StrFormat("d%06d", i); }

int Fail(const std::string& what) {
  std::fprintf(stderr, "wide_directory_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  castor::fs::FsOptions options;
  if (argc > 2) options.directory_cache_entries = std::strtoull(argv[2], nullptr, 10);
  const char* base = std::getenv("CASTOR_BENCH_DIR");
  setenv("TMPDIR", base && *base ? base : "/dev/shm", 1);
  castor::castore::testing::TempDir dir("wide-bench");

  auto lmdb = castor::castore::LmdbDirectoryService::Open(dir.path() + "/meta");
  if (!lmdb.ok()) return Fail(lmdb.status().ToString());
  std::vector<Entry> children;
  std::vector<Directory> batch;
  for (int i = 0; i < n; ++i) {
    Directory child = *Directory::Create({Entry{
        *PathComponent::Create("f"), FileNode{B3Digest::Of(absl::StrCat("blob ", i)), 1, false}}});
    children.push_back(
        Entry{*PathComponent::Create(ChildName(i)), DirectoryNode{child.digest(), child.size()}});
    batch.push_back(std::move(child));
    if (batch.size() == 10000 || i + 1 == n) {
      if (auto s = (*lmdb)->WriteAll(batch); !s.ok()) return Fail(s.ToString());
      batch.clear();
    }
  }
  Directory big = *Directory::Create(std::move(children));
  if (auto s = (*lmdb)->WriteAll(std::span(&big, 1)); !s.ok()) return Fail(s.ToString());

  auto counting = std::make_shared<castor::castore::testing::CountingDirectoryService>(*lmdb);
  castor::castore::Services services{std::make_shared<castor::castore::MemoryBlobService>(),
                                     counting,
                                     std::make_shared<castor::castore::MemoryRootService>()};
  if (auto s = services.roots->Put(
          Entry{*PathComponent::Create("big"), DirectoryNode{big.digest(), big.size()}});
      !s.ok()) {
    return Fail(s.ToString());
  }
  castor::fs::CastoreFs fs(services, options);

  auto start = std::chrono::steady_clock::now();
  fuse_entry_out entry;
  if (fs.Lookup(FUSE_ROOT_ID, "big", &entry) != 0) return Fail("lookup of big failed");
  const uint64_t big_ino = entry.nodeid;
  std::vector<uint8_t> buffer(64 * 1024);
  for (int i = 0; i < n; ++i) {
    if (fs.Lookup(big_ino, ChildName(i), &entry) != 0) return Fail("lookup of a child failed");
    const uint64_t child = entry.nodeid;
    fuse_open_out open;
    if (fs.OpenDir(child, O_RDONLY, &open) != 0) return Fail("opendir failed");
    castor::fs::fuse::DirentWriter writer(buffer);
    if (fs.ReadDir(child, open.fh, 0, /*plus=*/true, writer) != 0) return Fail("readdir failed");
    fs.ReleaseDir(child, open.fh);
    if (fs.Lookup(child, "f", &entry) != 0) return Fail("lookup of a file failed");
    fs.Forget(entry.nodeid, 2);
    fs.Forget(child, 1);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "children %d  cache_entries %llu  walk %.3f s  (%.2f us per child)  "
      "big fetched %llu times  directories fetched %llu\n",
      n, static_cast<unsigned long long>(options.directory_cache_entries), seconds,
      seconds * 1e6 / n, static_cast<unsigned long long>(counting->gets(big.digest())),
      static_cast<unsigned long long>(counting->gets()));
  return 0;
}
