// A real FUSE mount over services that fail, stall, truncate or corrupt
// answers (castore/testing/faulty_services.h): every fault becomes a prompt
// EIO, never a hang and never a wrong byte, and the mount serves correctly
// again as soon as the faults stop. Each service has its own injector.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "castore/testing/faulty_services.h"
#include "gtest/gtest.h"
#include "mount_fixture.h"
#include "spdlog/spdlog.h"

namespace castor::testing {
namespace {

using castore::testing::FaultInjector;
using castore::testing::FaultKind;
using castore::testing::FaultSchedule;
using Clock = std::chrono::steady_clock;

// Bound for "promptly": far below any test timeout, far above scheduling noise.
constexpr auto kPrompt = std::chrono::seconds(5);

std::string Pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  return s;
}

class FaultMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
    spdlog::set_level(spdlog::level::off);  // every fault logs an EIO line
    castore::Services inner = MemoryServices();
    PutRoot(inner, "big", PutFile(inner, content_));
    PutRoot(inner, "dir",
            PutDir(inner, {castore::Entry{Name("x"), PutFile(inner, "x-bytes")},
                           castore::Entry{Name("y"), PutFile(inner, "y-bytes")}}));
    castore::Services faulty;
    faulty.blobs = castore::testing::FaultyBlobService(inner.blobs, blob_faults_);
    faulty.directories = castore::testing::FaultyDirectoryService(inner.directories, dir_faults_);
    faulty.roots = castore::testing::FaultyRootService(inner.roots, root_faults_);
    mount_ = MountedFs::Mount(faulty, {});
    ASSERT_NE(mount_, nullptr);
  }
  void TearDown() override {
    mount_.reset();
    spdlog::set_level(spdlog::level::info);
  }

  // Reads `rel` and checks that whatever came back is a prefix of the truth:
  // a failure is allowed, a wrong byte is not.
  ReadResult ReadChecked(const std::string& rel, const std::string& truth) {
    auto start = Clock::now();
    ReadResult r = ReadAll(mount_->Path(rel));
    EXPECT_LT(Clock::now() - start, kPrompt) << rel;
    EXPECT_LE(r.data.size(), truth.size());
    EXPECT_TRUE(truth.compare(0, r.data.size(), r.data) == 0) << rel << ": wrong bytes served";
    if (r.error == 0) {
      EXPECT_EQ(r.data.size(), truth.size()) << rel << ": short file served";
    }
    return r;
  }

  const std::string content_ = Pattern(300000);
  std::shared_ptr<FaultInjector> blob_faults_ = std::make_shared<FaultInjector>();
  std::shared_ptr<FaultInjector> dir_faults_ = std::make_shared<FaultInjector>();
  std::shared_ptr<FaultInjector> root_faults_ = std::make_shared<FaultInjector>();
  std::unique_ptr<MountedFs> mount_;
};

TEST_F(FaultMountTest, UnavailableBlobsGiveEioPromptlyAndRecover) {
  blob_faults_->Set({.kind = FaultKind::kUnavailable});
  EXPECT_EQ(ReadChecked("big", content_).error, EIO);
  EXPECT_GT(blob_faults_->injected(), 0u);
  blob_faults_->Clear();
  ReadResult r = ReadChecked("big", content_);
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.data == content_);
}

TEST_F(FaultMountTest, ReadsFailingAfterOpenGiveEioAndRecover) {
  int fd = open(mount_->Path("big").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  blob_faults_->Set({.kind = FaultKind::kUnavailable});
  char buf[4096];
  auto start = Clock::now();
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_LT(Clock::now() - start, kPrompt);
  blob_faults_->Clear();
  ASSERT_EQ(pread(fd, buf, sizeof(buf), 0), static_cast<ssize_t>(sizeof(buf))) << strerror(errno);
  EXPECT_EQ(std::string(buf, sizeof(buf)), content_.substr(0, sizeof(buf)));
  close(fd);
}

// Intermittent failures may be hidden by the kernel retrying failed
// readahead; what must never happen is a wrong or missing byte.
TEST_F(FaultMountTest, IntermittentReadFailuresNeverServeWrongBytes) {
  blob_faults_->Set({.kind = FaultKind::kUnavailable, .every = 3});
  ReadChecked("big", content_);
  blob_faults_->Clear();
  EXPECT_TRUE(ReadChecked("big", content_).data == content_);
}

TEST_F(FaultMountTest, StalledBlobsStillServeTheRightBytes) {
  blob_faults_->Set({.kind = FaultKind::kStall, .stall = absl::Milliseconds(20)});
  ReadResult r = ReadChecked("big", content_);
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.data == content_);
  EXPECT_GT(blob_faults_->injected(), 0u);
}

TEST_F(FaultMountTest, TruncatedBlobIsEioNotAShortFile) {
  blob_faults_->Set({.kind = FaultKind::kTruncate});
  EXPECT_EQ(ReadChecked("big", content_).error, EIO);
  blob_faults_->Clear();
  EXPECT_TRUE(ReadChecked("big", content_).data == content_);
}

// A blob whose bytes do not hash to its digest is refused at open (EIO),
// never served; once the store is right again the file reads correctly.
TEST_F(FaultMountTest, CorruptedBlobBytesAreNeverServed) {
  blob_faults_->Set({.kind = FaultKind::kCorrupt});
  EXPECT_EQ(ReadChecked("big", content_).error, EIO);
  blob_faults_->Clear();
  EXPECT_TRUE(ReadChecked("big", content_).data == content_);
}

TEST_F(FaultMountTest, UnavailableDirectoriesGiveEioAndRecover) {
  struct stat st;
  dir_faults_->Set({.kind = FaultKind::kUnavailable});
  auto start = Clock::now();
  EXPECT_EQ(stat(mount_->Path("dir/x").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_LT(Clock::now() - start, kPrompt);
  dir_faults_->Clear();
  ASSERT_EQ(stat(mount_->Path("dir/x").c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(ReadChecked("dir/y", "y-bytes").data, "y-bytes");
}

TEST_F(FaultMountTest, WrongDirectoryFromTheServiceIsEioNotAWrongListing) {
  struct stat st;
  dir_faults_->Set({.kind = FaultKind::kCorrupt});
  EXPECT_EQ(stat(mount_->Path("dir/x").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO) << "a Directory not matching its digest was trusted";
  dir_faults_->Clear();
  ASSERT_EQ(stat(mount_->Path("dir/x").c_str(), &st), 0) << strerror(errno);
}

TEST_F(FaultMountTest, UnavailableRootsGiveEioAndRecover) {
  struct stat st;
  root_faults_->Set({.kind = FaultKind::kUnavailable});
  EXPECT_EQ(stat(mount_->Path("big").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO);
  root_faults_->Set({.kind = FaultKind::kCorrupt});
  EXPECT_EQ(stat(mount_->Path("big").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO);
  root_faults_->Clear();
  ASSERT_EQ(stat(mount_->Path("big").c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, static_cast<off_t>(content_.size()));
}

}  // namespace
}  // namespace castor::testing
