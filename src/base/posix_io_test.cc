// The POSIX I/O helpers against a real filesystem: complete transfers over
// pipes (short reads and writes), mkdir -p, temporary files with and
// without a name, bounded tree removal, path splitting.
#include "base/posix_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

// A scratch directory of this test (base/testing has none yet to offer).
class PosixIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/castor-posix-io-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_, 64).ok()); }

  bool IsDir(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  bool Exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
  }

  std::string dir_;
};

TEST_F(PosixIoTest, WriteAllAndReadFullMoveEveryByteThroughAPipe) {
  // More than a pipe holds: the writer's writes and the reader's reads are
  // short, and both loops must go on.
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 251);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  UniqueFd r(p[0]), w(p[1]);
  std::thread writer([&] {
    EXPECT_TRUE(WriteAll(w.get(), data, "write pipe").ok());
    w.Reset();
  });
  std::vector<uint8_t> got(data.size() + 10);
  absl::StatusOr<size_t> n = ReadFull(r.get(), got, "read pipe");
  writer.join();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());  // short only because the pipe ended
  EXPECT_EQ(std::string(got.begin(), got.begin() + *n), data);
}

TEST_F(PosixIoTest, WriteAllNamesTheObjectOnError) {
  UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  absl::Status s = WriteAll(fd.get(), std::string_view("x"), "write /dev/null");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);  // EBADF
  EXPECT_EQ(std::string(ToStdView(s.message())).rfind("write /dev/null: ", 0), 0u) << s;
}

TEST_F(PosixIoTest, PreadFullReadsAtTheOffsetAndStopsAtTheEnd) {
  std::string path = dir_ + "/f";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  ASSERT_TRUE(WriteAll(fd.get(), std::string_view("0123456789"), "write f").ok());
  std::vector<uint8_t> buf(4);
  absl::StatusOr<size_t> n = PreadFull(fd.get(), buf, 3, "read f");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(std::string(buf.begin(), buf.end()), "3456");
  n = PreadFull(fd.get(), buf, 8, "read f");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 2), "89");
  n = PreadFull(fd.get(), buf, 100, "read f");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST_F(PosixIoTest, MkdirAllMakesEveryMissingLevelAndAcceptsExistingOnes) {
  std::string deep = dir_ + "/a/b//c/";
  ASSERT_TRUE(MkdirAll(deep).ok());
  EXPECT_TRUE(IsDir(dir_ + "/a/b/c"));
  EXPECT_TRUE(MkdirAll(deep).ok());
  EXPECT_TRUE(MkdirIfMissing(dir_ + "/a").ok());
}

TEST_F(PosixIoTest, MkdirRefusesAFileInTheWayNamingIt) {
  std::string file = dir_ + "/f";
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  absl::Status s = MkdirAll(file + "/sub");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find(file + " exists and is not a directory"), absl::string_view::npos);
}

TEST_F(PosixIoTest, UnnamedTempFileLeavesNothingInTheDirectory) {
  for (bool linkable : {false, true}) {
    absl::StatusOr<TempFile> t = CreateTempFile(dir_, {.unnamed = true, .linkable = linkable});
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE(t->fd);
    EXPECT_TRUE(WriteAll(t->fd.get(), std::string_view("data"), "write temp").ok());
    if (t->path.empty()) {
      // O_TMPFILE (or a scratch file unlinked at once): no entry at all.
      EXPECT_EQ(::rmdir(dir_.c_str()), 0) << "the directory is not empty";
      ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    } else {
      // Only where the filesystem lacks O_TMPFILE and the caller asked for
      // a file it can put in place.
      EXPECT_TRUE(linkable);
      EXPECT_TRUE(Exists(t->path));
      ::unlink(t->path.c_str());
    }
  }
}

TEST_F(PosixIoTest, NamedTempFileIsCreatedWithThePrefix) {
  absl::StatusOr<TempFile> t = CreateTempFile(dir_, {.prefix = "blob"});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->path.rfind(dir_ + "/blob-", 0), 0u) << t->path;
  struct stat st;
  ASSERT_EQ(::stat(t->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PosixIoTest, TempFileInAMissingDirectoryNamesIt) {
  absl::StatusOr<TempFile> t = CreateTempFile(dir_ + "/missing", {.unnamed = true});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find(dir_ + "/missing"), absl::string_view::npos);
}

TEST_F(PosixIoTest, RemoveTreeRemovesEverythingWithoutFollowingSymlinks) {
  std::string keep = dir_ + "/keep";
  ASSERT_TRUE(MkdirAll(keep).ok());
  UniqueFd kept(::open((keep + "/f").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  std::string top = dir_ + "/top";
  ASSERT_TRUE(MkdirAll(top + "/a/b").ok());
  UniqueFd f(::open((top + "/a/b/f").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_EQ(::symlink(keep.c_str(), (top + "/a/link").c_str()), 0);
  ASSERT_TRUE(RemoveTree(top, 8).ok());
  EXPECT_FALSE(Exists(top));
  EXPECT_TRUE(Exists(keep + "/f"));      // behind the symlink: untouched
  EXPECT_TRUE(RemoveTree(top, 8).ok());  // gone already: fine
}

TEST_F(PosixIoTest, RemoveTreeRefusesToGoDeeperThanTheBoundNamingTheEntry) {
  std::string top = dir_ + "/top";
  ASSERT_TRUE(MkdirAll(top + "/1/2/3").ok());
  absl::Status s = RemoveTree(top, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(top + "/1/2/3': more than 2 levels deep"), absl::string_view::npos)
      << s;
  EXPECT_TRUE(RemoveTree(top, 3).ok());
  EXPECT_FALSE(Exists(top));
}

TEST(SplitParent, SplitsOffTheLastComponent) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(SplitParent("a/b/c"), P("a/b", "c"));
  EXPECT_EQ(SplitParent("/c"), P("/", "c"));
  EXPECT_EQ(SplitParent("c"), P(".", "c"));
  EXPECT_EQ(SplitParent("a/b//"), P("a", "b"));
  EXPECT_EQ(SplitParent("/"), P("/", ""));
}

TEST(JoinPath, JoinsWithOneSlash) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("/", "b"), "/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
}

}  // namespace
}  // namespace castor
