// castor's FUSE file system, mounted for real in the test process: the
// semantics of docs/design.md's table "The filesystem", one behaviour per test.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "fs/transport/fuse_uring.h"
#include "mount_fixture.h"

namespace castor::testing {
namespace {

using castore::Entry;

std::string BlobB() {
  std::string s;
  s.reserve(255 * 4096);
  for (int i = 0; i < 4096; ++i) {
    for (int b = 0; b < 255; ++b) s.push_back(static_cast<char>(b));
  }
  return s;
}

const std::string kBlobA("\x00\x01", 2);
constexpr char kDanglingTarget[] = "/nix/store/somewhereelse";

struct Tree {
  castore::Services services = MemoryServices();
  castore::FileNode blob_a, blob_b, blob_a_exec;
  castore::DirectoryNode with_keep, complicated, deep;
  castore::B3Digest missing_dir, missing_blob;
};

Tree BuildTree() {
  Tree t;
  auto& s = t.services;
  t.blob_a = PutFile(s, kBlobA);
  t.blob_b = PutFile(s, BlobB());
  t.blob_a_exec = PutFile(s, kBlobA, true);
  castore::FileNode empty = PutFile(s, "");
  t.with_keep = PutDir(s, {Entry{Name(".keep"), empty}});
  t.complicated =
      PutDir(s, {Entry{Name(".keep"), empty}, Entry{Name("aa"), Symlink(kDanglingTarget)},
                 Entry{Name("keep"), t.with_keep}});
  castore::DirectoryNode b = PutDir(s, {Entry{Name("f"), PutFile(s, "deep file\n")}});
  castore::DirectoryNode a = PutDir(s, {Entry{Name("b"), b}});
  t.deep = PutDir(s, {Entry{Name("a"), a}});
  t.missing_dir = castore::B3Digest::Of("not a stored directory");
  t.missing_blob = castore::B3Digest::Of("not a stored blob");
  PutRoot(s, "blob_a", t.blob_a);
  PutRoot(s, "blob_a_copy", t.blob_a);
  PutRoot(s, "blob_a_exec", t.blob_a_exec);
  PutRoot(s, "blob_b", t.blob_b);
  PutRoot(s, "symlink", Symlink(kDanglingTarget));
  PutRoot(s, "symlink_to_blob_a", Symlink("blob_a"));
  PutRoot(s, "dir_with_keep", t.with_keep);
  PutRoot(s, "dir_with_keep_copy", t.with_keep);
  PutRoot(s, "dir_complicated", t.complicated);
  PutRoot(s, "deep", t.deep);
  PutRoot(s, "missing_dir", castore::DirectoryNode{t.missing_dir, 3});
  PutRoot(s, "missing_blob", castore::FileNode{t.missing_blob, 10, false});
  return t;
}

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
    tree_ = BuildTree();
  }
  void Mount(fs::FsOptions options = {}) {
    m_ = MountedFs::Mount(tree_.services, {.fs = options});
    ASSERT_NE(m_, nullptr);
  }
  std::string P(std::string_view rel = "") { return m_->Path(rel); }

  static std::string ReadAll(const std::string& path, int* err = nullptr) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (err) *err = errno;
      return "";
    }
    std::string out;
    char buf[65536];
    while (true) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (err) *err = errno;
        close(fd);
        return out;
      }
      if (n == 0) break;
      out.append(buf, n);
    }
    close(fd);
    if (err) *err = 0;
    return out;
  }

  // Names and d_types, in the order readdir returns them.
  static std::vector<std::pair<std::string, int>> List(const std::string& path,
                                                       int* err = nullptr) {
    std::vector<std::pair<std::string, int>> out;
    DIR* d = opendir(path.c_str());
    if (d == nullptr) {
      if (err) *err = errno;
      return out;
    }
    errno = 0;
    while (dirent* e = readdir(d)) {
      out.emplace_back(e->d_name, e->d_type);
      errno = 0;
    }
    if (err) *err = errno;
    closedir(d);
    return out;
  }

  Tree tree_;
  std::unique_ptr<MountedFs> m_;
};

TEST_F(MountTest, MountRootIsAReadOnlyDirectory) {
  Mount();
  struct stat st;
  ASSERT_EQ(stat(P().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(st.st_ino, 1u);
}

TEST_F(MountTest, ListingTheRootIsEpermWithoutListRoot) {
  Mount();
  int err = 0;
  auto names = List(P(), &err);
  EXPECT_EQ(err, EPERM);
  EXPECT_TRUE(names.empty());
}

TEST_F(MountTest, ListingTheRootShowsEveryRootWithListRoot) {
  Mount({.list_root = true});
  int err = -1;
  auto names = List(P(), &err);
  EXPECT_EQ(err, 0);
  std::vector<std::pair<std::string, int>> want = {
      {"blob_a", DT_REG},        {"blob_a_copy", DT_REG},
      {"blob_a_exec", DT_REG},   {"blob_b", DT_REG},
      {"deep", DT_DIR},          {"dir_complicated", DT_DIR},
      {"dir_with_keep", DT_DIR}, {"dir_with_keep_copy", DT_DIR},
      {"missing_blob", DT_REG},  {"missing_dir", DT_DIR},
      {"symlink", DT_LNK},       {"symlink_to_blob_a", DT_LNK}};
  EXPECT_EQ(names, want);
}

TEST_F(MountTest, StatAndReadSmallFileAtRoot) {
  Mount();
  struct stat st;
  ASSERT_EQ(stat(P("blob_a").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 2);
  EXPECT_EQ(ReadAll(P("blob_a")), kBlobA);
}

TEST_F(MountTest, StatAndReadOneMebibyteFileAtRoot) {
  Mount();
  struct stat st;
  ASSERT_EQ(stat(P("blob_b").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 255 * 4096);
  EXPECT_EQ(ReadAll(P("blob_b")), BlobB());
  // Positional reads across the whole file, twice (the second from cache).
  int fd = open(P("blob_b").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string want = BlobB();
  for (int round = 0; round < 2; ++round) {
    for (off_t off : {off_t{0}, off_t{1}, off_t{4095}, off_t{123457}, off_t{255 * 4096 - 3}}) {
      char buf[10];
      ssize_t n = pread(fd, buf, sizeof(buf), off);
      ssize_t expect = std::min<ssize_t>(10, 255 * 4096 - off);
      ASSERT_EQ(n, expect);
      EXPECT_EQ(std::string(buf, n), want.substr(off, n));
    }
    char b;
    EXPECT_EQ(pread(fd, &b, 1, 255 * 4096 + 100), 0);
  }
  close(fd);
}

TEST_F(MountTest, ReadlinkOfSymlinkRootAndDanglingStatIsEnoent) {
  Mount();
  char buf[256];
  ssize_t n = readlink(P("symlink").c_str(), buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), kDanglingTarget);
  struct stat st;
  ASSERT_EQ(lstat(P("symlink").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, static_cast<off_t>(sizeof(kDanglingTarget) - 1));
  errno = 0;
  EXPECT_EQ(stat(P("symlink").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(MountTest, StatAndReadThroughSymlinkToAnotherRoot) {
  Mount();
  struct stat st, target;
  ASSERT_EQ(stat(P("symlink_to_blob_a").c_str(), &st), 0);
  ASSERT_EQ(stat(P("blob_a").c_str(), &target), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_ino, target.st_ino);
  EXPECT_EQ(ReadAll(P("symlink_to_blob_a")), kBlobA);
}

TEST_F(MountTest, StatOfDirectory) {
  Mount();
  struct stat st;
  ASSERT_EQ(stat(P("dir_complicated").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), tree_.complicated.size);
}

TEST_F(MountTest, ModesOwnersAndTimes) {
  Mount();
  struct {
    const char* path;
    mode_t mode;
  } cases[] = {{"blob_a", S_IFREG | 0444},
               {"blob_a_exec", S_IFREG | 0555},
               {"dir_with_keep", S_IFDIR | 0555},
               {"dir_complicated/keep/.keep", S_IFREG | 0444}};
  for (const auto& c : cases) {
    struct stat st;
    ASSERT_EQ(stat(P(c.path).c_str(), &st), 0) << c.path;
    EXPECT_EQ(st.st_mode, c.mode) << c.path;
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
    EXPECT_EQ(st.st_atim.tv_sec, 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 0);
    EXPECT_EQ(st.st_ctim.tv_sec, 0);
    EXPECT_EQ(st.st_mtim.tv_nsec, 0);
  }
  struct stat st;
  ASSERT_EQ(lstat(P("symlink").c_str(), &st), 0);
  // docs/design.md: 0444 (FUSE passes the mode through as is; permissions of
  // symlinks are never checked).
  EXPECT_EQ(st.st_mode, S_IFLNK | 0444);
  EXPECT_EQ(st.st_mtim.tv_sec, 0);
  EXPECT_EQ(access(P("blob_a_exec").c_str(), X_OK), 0);
  EXPECT_EQ(access(P("blob_a").c_str(), X_OK), -1);
}

TEST_F(MountTest, XattrsWithShowXattr) {
  Mount({.show_xattr = true});
  char buf[256];
  ssize_t n = getxattr(P("blob_a").c_str(), fs::kBlobDigestXattr, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), tree_.blob_a.digest.ToB3());
  errno = 0;
  EXPECT_EQ(getxattr(P("blob_a").c_str(), fs::kDirectoryDigestXattr, buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, ENODATA);
  n = listxattr(P("blob_a").c_str(), buf, sizeof(buf));
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), std::string(fs::kBlobDigestXattr) + '\0');

  n = getxattr(P("dir_complicated").c_str(), fs::kDirectoryDigestXattr, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), tree_.complicated.digest.ToB3());
  errno = 0;
  EXPECT_EQ(getxattr(P("dir_complicated").c_str(), fs::kBlobDigestXattr, buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, ENODATA);
  n = listxattr(P("dir_complicated").c_str(), buf, sizeof(buf));
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), std::string(fs::kDirectoryDigestXattr) + '\0');
  // Size queries and a too small buffer.
  EXPECT_EQ(getxattr(P("blob_a").c_str(), fs::kBlobDigestXattr, nullptr, 0),
            static_cast<ssize_t>(tree_.blob_a.digest.ToB3().size()));
  errno = 0;
  EXPECT_EQ(getxattr(P("blob_a").c_str(), fs::kBlobDigestXattr, buf, 5), -1);
  EXPECT_EQ(errno, ERANGE);
  // Symlinks carry none.
  EXPECT_EQ(llistxattr(P("symlink").c_str(), buf, sizeof(buf)), 0);
}

TEST_F(MountTest, NoXattrsWithoutShowXattr) {
  Mount();
  char buf[256];
  errno = 0;
  EXPECT_EQ(getxattr(P("blob_a").c_str(), fs::kBlobDigestXattr, buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
}

TEST_F(MountTest, ReadFilesDeepWithoutTouchingParentsFirst) {
  Mount();
  EXPECT_EQ(ReadAll(P("deep/a/b/f")), "deep file\n");
  EXPECT_EQ(ReadAll(P("dir_complicated/keep/.keep")), "");
  struct stat st;
  EXPECT_EQ(stat(P("dir_with_keep/.keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
}

TEST_F(MountTest, ReaddirIsSortedWithTypes) {
  Mount();
  int err = -1;
  auto names = List(P("dir_complicated"), &err);
  EXPECT_EQ(err, 0);
  std::vector<std::pair<std::string, int>> want = {
      {".keep", DT_REG}, {"aa", DT_LNK}, {"keep", DT_DIR}};
  EXPECT_EQ(names, want);
  // Listed again (from the kernel's cache or not) it is the same.
  EXPECT_EQ(List(P("dir_complicated")), want);
}

TEST_F(MountTest, ReaddirDeepWithoutReaddirOfParent) {
  Mount();
  std::vector<std::pair<std::string, int>> want = {{".keep", DT_REG}};
  EXPECT_EQ(List(P("dir_complicated/keep")), want);
  std::vector<std::pair<std::string, int>> f = {{"f", DT_REG}};
  EXPECT_EQ(List(P("deep/a/b")), f);
}

TEST_F(MountTest, EqualContentSharesAnInode) {
  Mount();
  auto ino = [&](const char* rel) {
    struct stat st;
    EXPECT_EQ(lstat(P(rel).c_str(), &st), 0) << rel;
    return st.st_ino;
  };
  EXPECT_EQ(ino("dir_with_keep"), ino("dir_with_keep_copy"));
  EXPECT_EQ(ino("dir_with_keep"), ino("dir_complicated/keep"));
  EXPECT_EQ(ino("blob_a"), ino("blob_a_copy"));
  EXPECT_NE(ino("blob_a"), ino("blob_a_exec"));  // the mode differs
  EXPECT_EQ(ino("dir_with_keep/.keep"), ino("dir_complicated/.keep"));
  EXPECT_EQ(ino("symlink"), ino("dir_complicated/aa"));
  EXPECT_NE(ino("symlink"), ino("symlink_to_blob_a"));
  EXPECT_NE(ino("dir_with_keep"), ino("dir_complicated"));
}

TEST_F(MountTest, RootNamesMatchExactly) {
  Mount();
  struct stat st;
  for (const char* name : {"blob", "blob_", "blob_a_", "Blob_a", "blob_a ", "dir", "s"}) {
    errno = 0;
    EXPECT_EQ(stat(P(name).c_str(), &st), -1) << name;
    EXPECT_EQ(errno, ENOENT) << name;
  }
  errno = 0;
  EXPECT_EQ(stat(P("dir_complicated/kee").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(MountTest, MutationsFailWithErofs) {
  Mount();
  errno = 0;
  EXPECT_EQ(mkdir(P("newdir").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(open(P("newfile").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(mkdir(P("dir_complicated/x").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(open(P("blob_a").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(unlink(P("blob_a").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(rename(P("blob_a").c_str(), P("blob_c").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(symlink("x", P("dir_complicated/l").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
}

TEST_F(MountTest, MissingDirectoryStatsButListingAndLookupFailWithEio) {
  Mount();
  struct stat st;
  ASSERT_EQ(stat(P("missing_dir").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  int err = 0;
  List(P("missing_dir"), &err);
  EXPECT_EQ(err, EIO);
  errno = 0;
  EXPECT_EQ(stat(P("missing_dir/child").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO);
  // Still promptly EIO the second time, and the mount stays healthy.
  errno = 0;
  EXPECT_EQ(stat(P("missing_dir/other").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(ReadAll(P("blob_a")), kBlobA);
}

TEST_F(MountTest, MissingBlobStatsButReadFailsWithEio) {
  Mount();
  struct stat st;
  ASSERT_EQ(stat(P("missing_blob").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 10);
  int err = 0;
  ReadAll(P("missing_blob"), &err);
  EXPECT_EQ(err, EIO);
  EXPECT_EQ(ReadAll(P("blob_a")), kBlobA);
}

// Services that fail every read with Unavailable (a broken disk or network).
class FailingBlobService : public castore::MemoryBlobService {
 public:
  class Reader : public castore::BlobReader {
   public:
    explicit Reader(uint64_t size) : size_(size) {}
    uint64_t size() const override { return size_; }
    absl::StatusOr<size_t> ReadAt(uint64_t, std::span<uint8_t>) const override {
      return absl::UnavailableError("disk on fire");
    }

   private:
    uint64_t size_;
  };
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenRead(
      const castore::B3Digest& digest) override {
    if (digest == castore::B3Digest::Of("unreadable")) {
      return std::make_unique<Reader>(10);
    }
    return absl::UnavailableError("blob service unreachable");
  }
};

class FailingDirectoryService : public castore::MemoryDirectoryService {
 public:
  absl::StatusOr<std::optional<castore::Directory>> Get(const castore::B3Digest&) override {
    return absl::UnavailableError("directory service unreachable");
  }
};

class FailingRootService : public castore::MemoryRootService {
 public:
  absl::StatusOr<std::optional<Entry>> Get(const castore::PathComponent& name) override {
    if (name.str() == "broken") return absl::UnavailableError("root service unreachable");
    return castore::MemoryRootService::Get(name);
  }
};

TEST_F(MountTest, FailingServicesGiveEioPromptlyWhileStatStillWorks) {
  castore::Services s;
  s.blobs = std::make_shared<FailingBlobService>();
  s.directories = std::make_shared<FailingDirectoryService>();
  s.roots = std::make_shared<FailingRootService>();
  PutRoot(s, "file", castore::FileNode{castore::B3Digest::Of("x"), 5, false});
  PutRoot(s, "unreadable", castore::FileNode{castore::B3Digest::Of("unreadable"), 10, false});
  PutRoot(s, "dir", castore::DirectoryNode{castore::B3Digest::Of("y"), 2});
  m_ = MountedFs::Mount(s, {});
  ASSERT_NE(m_, nullptr);
  struct stat st;
  ASSERT_EQ(stat(P("file").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 5);
  int err = 0;
  ReadAll(P("file"), &err);
  EXPECT_EQ(err, EIO);
  err = 0;
  ReadAll(P("unreadable"), &err);
  EXPECT_EQ(err, EIO);
  ASSERT_EQ(stat(P("dir").c_str(), &st), 0);
  errno = 0;
  EXPECT_EQ(stat(P("dir/x").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO);
  List(P("dir"), &err);
  EXPECT_EQ(err, EIO);
  errno = 0;
  EXPECT_EQ(stat(P("broken").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO);
}

TEST_F(MountTest, RootsAddedWhileMountedAppear) {
  Mount({.list_root = true});
  struct stat st;
  errno = 0;
  EXPECT_EQ(stat(P("late").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  PutRoot(tree_.services, "late", tree_.blob_a);
  EXPECT_EQ(stat(P("late").c_str(), &st), 0);
  bool listed = false;
  for (const auto& [name, type] : List(P())) listed |= name == "late";
  EXPECT_TRUE(listed);
}

TEST_F(MountTest, MountsThroughFusermount) {
  m_ = MountedFs::Mount(tree_.services, {.force_fusermount = true});
  ASSERT_NE(m_, nullptr);
  EXPECT_EQ(ReadAll(P("deep/a/b/f")), "deep file\n");
}

TEST_F(MountTest, UnmountLeavesAPlainDirectoryAndForgetsEverything) {
  Mount();
  EXPECT_EQ(ReadAll(P("deep/a/b/f")), "deep file\n");
  EXPECT_GT(m_->fs().inode_count(), 1u);
  // RELEASE follows close(2) asynchronously.
  for (int i = 0; i < 200 && m_->fs().handle_count() != 0; ++i) usleep(10000);
  EXPECT_EQ(m_->fs().handle_count(), 0u);
  std::string path = P();
  ASSERT_TRUE(m_->transport().Stop().ok());
  EXPECT_TRUE(m_->transport().finished());
  struct statfs sfs;
  ASSERT_EQ(statfs(path.c_str(), &sfs), 0);
  EXPECT_NE(sfs.f_type, 0x65735546);  // FUSE_SUPER_MAGIC: no longer mounted
}

// Reads `path` from a thread pinned to `cpu` (the kernel puts an io_uring
// request on the queue of the CPU its caller runs on); *pinned says whether
// pinning worked (not for an offline CPU).
std::string ReadOnCpu(const std::string& path, int cpu, bool* pinned) {
  std::string out;
  std::thread th([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    *pinned = sched_setaffinity(0, sizeof(set), &set) == 0;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    close(fd);
  });
  th.join();
  return out;
}

TEST_F(MountTest, UringTransportServesRequestsThroughTheRingOnEveryCpu) {
  if (absl::Status a = fs::transport::FuseUring::Available(); !a.ok()) {
    GTEST_SKIP() << "FUSE over io_uring unavailable: " << a.message();
  }
  metrics::Counter& ring = fs::transport::FuseRequestsCounter("uring");
  const uint64_t before = ring.Value();
  m_ = MountedFs::Mount(tree_.services, {.transport = fs::transport::Transport::kUring});
  ASSERT_NE(m_, nullptr);
  ASSERT_EQ(m_->transport().transport(), fs::transport::Transport::kUring);
  ASSERT_NE(m_->transport().uring(), nullptr);
  EXPECT_EQ(m_->transport().uring()->queues(), fs::transport::PossibleCpus());
  EXPECT_EQ(ReadAll(P("blob_b")), BlobB());
  // Each queue serves: a first look-up of a name from every CPU (each
  // name is new to the kernel, so each reaches castor on that CPU's queue).
  const int cpus = fs::transport::PossibleCpus();
  for (int cpu = 0; cpu < cpus; ++cpu) {
    bool pinned = false;
    std::string got =
        ReadOnCpu(P(cpu % 2 == 0 ? "dir_complicated/keep/.keep" : "deep/a/b/f"), cpu, &pinned);
    if (!pinned) continue;  // an offline CPU
    EXPECT_EQ(got, cpu % 2 == 0 ? "" : "deep file\n") << "cpu " << cpu;
  }
  const uint64_t served = m_->transport().uring()->requests();
  EXPECT_GT(served, 5u);
  EXPECT_GE(ring.Value() - before, served);
}

TEST_F(MountTest, DevTransportServesThroughReadAndWrite) {
  metrics::Counter& dev = fs::transport::FuseRequestsCounter("dev");
  const uint64_t before = dev.Value();
  m_ = MountedFs::Mount(tree_.services, {.transport = fs::transport::Transport::kDev});
  ASSERT_NE(m_, nullptr);
  EXPECT_EQ(m_->transport().transport(), fs::transport::Transport::kDev);
  EXPECT_EQ(m_->transport().uring(), nullptr);
  EXPECT_EQ(ReadAll(P("deep/a/b/f")), "deep file\n");
  EXPECT_GT(dev.Value(), before);
}

}  // namespace
}  // namespace castor::testing
