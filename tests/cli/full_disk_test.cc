// The castor binary on a store that lives on a small tmpfs mounted by the
// test (needs root): an import that runs out of space, first in the blob
// files and then in LMDB, fails with a clear error naming the store and
// "No space left on device", sets no root, leaves no temp file behind and a
// store that `castor verify` accepts; once space is freed the next import
// succeeds.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "base/status.h"
#include "castore/testing/files.h"
#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

using castore::testing::RandomBytes;
using castore::testing::RunResult;
using castore::testing::TempDir;
using castore::testing::TmpfsMount;
using castore::testing::WriteFile;

constexpr uint64_t kStoreSize = 32 << 20;

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

// Sources live on /dev/shm when there is one (fast), never on the store's
// tmpfs.
std::string SourceBase() {
  struct stat st;
  if (::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && ::access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  return "/tmp";
}

// A fresh directory under SourceBase(), removed with its contents.
class SourceDir {
 public:
  SourceDir() {
    std::string tmpl = SourceBase() + "/castor-full-disk-src-XXXXXX";
    CASTOR_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~SourceDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs for the store";
    bin_ = castore::testing::CastorBinary();
    store_ = dir_.path() + "/store";
    ASSERT_EQ(::mkdir(store_.c_str(), 0755), 0);
    tmpfs_ = std::make_unique<TmpfsMount>(store_, kStoreSize);
    ASSERT_TRUE(tmpfs_->mounted())
        << "mount -t tmpfs on " << store_ << ": " << strerror(tmpfs_->error());
    src_ = sources_.path();
  }
  void TearDown() override { tmpfs_.reset(); }

  RunResult Castor(std::vector<std::string> args) {
    args.insert(args.begin(), bin_);
    args.push_back("--store");
    args.push_back(store_);
    return castore::testing::Run(args, dir_.path() + "/run");
  }

  void ExpectRoots(const std::string& expected) {
    RunResult r = Castor({"roots"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, expected);
  }
  void ExpectVerifyPasses() {
    RunResult r = Castor({"verify"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
  }
  // Nothing of a writer is left in the blob store's temp directory.
  void ExpectNoTempFiles() {
    EXPECT_EQ(Entries(store_ + "/blobs/tmp"), std::vector<std::string>{});
  }

  TempDir dir_{"full-disk"};  // declared first: removed after the tmpfs is gone
  SourceDir sources_;
  std::unique_ptr<TmpfsMount> tmpfs_;
  std::string bin_, store_, src_;
};

TEST_F(FullDiskTest, BlobsFillingTheDiskFailTheImportCleanlyAndFreeingSpaceFixesIt) {
  std::string tree = src_ + "/tree";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tree + "/small").c_str(), 0755), 0);
  for (int i = 0; i < 20; ++i) {
    WriteFile(tree + "/small/f" + std::to_string(i), RandomBytes(10000 + i, i));
  }
  WriteFile(tree + "/big", RandomBytes(48 << 20, 99));  // 1.5 times the store

  RunResult r = Castor({"import", tree});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(store_ + "/blobs"), std::string::npos) << "error names no store: " << r.err;
  EXPECT_NE(r.err.find("tree/big"), std::string::npos) << "error names no source file: " << r.err;
  ExpectRoots("");
  ExpectNoTempFiles();
  ExpectVerifyPasses();
  // What the failed import stored is unreferenced: gc may remove it.
  RunResult gc = Castor({"gc"});
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_NE(gc.out.find("reachable from 0 roots"), std::string::npos) << gc.out;
  ExpectVerifyPasses();

  // Free space by dropping the big part of the source: the import succeeds.
  ASSERT_EQ(::unlink((tree + "/big").c_str()), 0);
  r = Castor({"import", tree});
  ASSERT_EQ(r.code, 0) << r.err;
  RunResult roots = Castor({"roots"});
  EXPECT_EQ(roots.out.rfind("tree\tdirectory b3:", 0), 0u) << roots.out;
  ExpectNoTempFiles();
  ExpectVerifyPasses();
  RunResult cat = Castor({"cat", "tree/small/f7"});
  EXPECT_EQ(cat.code, 0) << cat.err;
  EXPECT_TRUE(cat.out == RandomBytes(10007, 7));
}

// The same through a `castor daemon` whose store is the full tmpfs: the
// client gets the daemon's error, the daemon serves on, and the next import
// through it succeeds once space is freed.
TEST_F(FullDiskTest, ImportThroughADaemonOnAFullStoreFailsCleanlyAndTheDaemonServesOn) {
  std::string sock = dir_.path() + "/d.sock", addr = "grpc+unix://" + sock;
  std::string log = dir_.path() + "/daemon.log";
  castore::testing::Child daemon = castore::testing::Child::Spawn(
      {bin_, "daemon", "--store", store_, "--listen", "unix://" + sock}, log, log);
  ASSERT_TRUE(daemon.started());
  auto remote = [&](std::vector<std::string> args) {
    args.insert(args.begin(), bin_);
    for (const char* flag :
         {"--blob-service-addr", "--directory-service-addr", "--root-service-addr"}) {
      args.push_back(flag);
      args.push_back(addr);
    }
    return castore::testing::Run(args, dir_.path() + "/remote");
  };
  RunResult up;
  for (int i = 0; i < 1500; ++i) {
    up = remote({"roots"});
    if (up.code == 0) break;
    ASSERT_TRUE(daemon.Running()) << castore::testing::SlurpFile(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(up.code, 0) << up.err;

  std::string tree = src_ + "/tree";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  WriteFile(tree + "/small", "small");
  WriteFile(tree + "/big", RandomBytes(48 << 20, 98));
  RunResult r = remote({"import", tree});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(store_ + "/blobs"), std::string::npos) << r.err;
  std::printf("the client says: %s", r.err.c_str());
  EXPECT_EQ(remote({"roots"}).out, "");
  ExpectNoTempFiles();
  EXPECT_TRUE(daemon.Running());

  ASSERT_EQ(::unlink((tree + "/big").c_str()), 0);
  r = remote({"import", tree});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(remote({"cat", "tree/small"}).out, "small");
  ExpectVerifyPasses();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(std::chrono::seconds(15)), 0) << castore::testing::SlurpFile(log);
}

TEST_F(FullDiskTest, MetadataFillingTheDiskFailsTheImportCleanlyAndFreeingSpaceFixesIt) {
  // A first root, so that the LMDB file exists and must grow for the next.
  std::string first = src_ + "/first";
  ASSERT_EQ(::mkdir(first.c_str(), 0755), 0);
  WriteFile(first + "/hello", "hello");
  ASSERT_EQ(Castor({"import", first}).code, 0);

  // Many distinct directories of empty files: no blob bytes, but megabytes
  // of Directory values for LMDB.
  std::string wide = src_ + "/wide";
  ASSERT_EQ(::mkdir(wide.c_str(), 0755), 0);
  for (int i = 0; i < 4000; ++i) {
    std::string d = wide + "/d" + std::to_string(i);
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
    WriteFile(d + "/empty-" + std::to_string(i) + "-" + std::string(100, 'n'), "");
  }
  // Fill the tmpfs to the last block, beside the store's own files.
  std::string filler = store_ + "/filler";
  {
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    std::string chunk(1 << 20, 'f');
    for (size_t size = chunk.size(); size >= 4096; size /= 2) {
      while (::write(fd, chunk.data(), size) == static_cast<ssize_t>(size)) {
      }
    }
    ::close(fd);
  }

  RunResult r = Castor({"import", wide});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(store_ + "/meta"), std::string::npos) << "error names no store: " << r.err;
  RunResult roots = Castor({"roots"});
  EXPECT_EQ(roots.code, 0) << roots.err;
  EXPECT_EQ(roots.out.find("wide"), std::string::npos) << roots.out;
  EXPECT_EQ(roots.out.rfind("first\tdirectory b3:", 0), 0u) << roots.out;
  ExpectNoTempFiles();
  ExpectVerifyPasses();

  ASSERT_EQ(::unlink(filler.c_str()), 0);
  r = Castor({"import", wide});
  ASSERT_EQ(r.code, 0) << r.err;
  ExpectVerifyPasses();
  RunResult ls = Castor({"ls", "wide/d3999"});
  EXPECT_EQ(ls.out, "empty-3999-" + std::string(100, 'n') + "\n");
}

}  // namespace
}  // namespace castor
