// FUSE passthrough on a real mount over a file:// blob store: the kernel
// reads the blob files itself (no READ reaches the mount), the bytes are
// the blob's, backing ids go back to the kernel as files close (none left
// after 10,000 open/close cycles), a blob file that rotted before its first
// open is EIO, and a mount whose registrations are refused serves reads
// itself.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/metrics.h"
#include "castore/blob/local_blob_service.h"
#include "castore/testing/rot.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "mount_fixture.h"
#include "spdlog/spdlog.h"

namespace castor::testing {
namespace {

using castore::testing::RandomBytes;
using castore::testing::Rot;
using castore::testing::TempDir;

// READ requests the dispatchers of this process answered so far.
uint64_t ReadRequests() {
  return metrics::Registry::Default()
      .AddCounterFamily("castor_fuse_requests_total", "FUSE requests handled, by opcode.",
                        {"opcode"})
      .WithLabels({"READ"})
      .Value();
}

// Refuses every registration as a kernel does without CAP_SYS_ADMIN.
class RefusingBackingFiles : public fs::fuse::BackingFiles {
 public:
  absl::StatusOr<int32_t> Open(int fd) override {
    ++attempts;
    return absl::PermissionDeniedError(
        absl::StrCat("FUSE_DEV_IOC_BACKING_OPEN of descriptor ", fd, ": EPERM"));
  }
  absl::Status Close(int32_t id) override {
    return absl::NotFoundError(absl::StrCat("backing id ", id));
  }
  std::atomic<int> attempts{0};
};

class PassthroughMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services_ = MemoryServices();
    auto blobs = castore::LocalBlobService::Open(dir_.path() + "/blobs");
    CASTOR_CHECK(blobs.ok());
    blobs_path_ = (*blobs)->dir();
    services_.blobs = *blobs;
    small_ = PutFile(services_, small_data_);
    big_ = PutFile(services_, big_data_);
    PutRoot(services_, "small", small_);
    PutRoot(services_, "big", big_);
  }

  std::unique_ptr<MountedFs> MountWithPassthrough(
      std::shared_ptr<fs::fuse::BackingFiles> backing_files = nullptr) {
    return MountedFs::Mount(
        services_,
        {.fs = {.backing_files = std::move(backing_files)}, .threads = 2, .passthrough = true});
  }

  std::string BlobFile(const castore::FileNode& f) const {
    std::string hex = f.digest.ToHex();
    return blobs_path_ + "/b3/" + hex.substr(0, 2) + "/" + hex;
  }

  TempDir dir_{"passthrough"};
  std::string blobs_path_;
  castore::Services services_;
  const std::string small_data_ = RandomBytes(3000, 1);
  const std::string big_data_ = RandomBytes(8 << 20, 2);
  castore::FileNode small_, big_;
};

TEST_F(PassthroughMountTest, BytesAreTheBlobsAndNoReadReachesTheMount) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  auto m = MountWithPassthrough();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->session().passthrough()) << "the kernel did not agree to FUSE passthrough";
  const uint64_t reads_before = ReadRequests();

  ReadResult big = ReadAll(m->Path("big"));
  ASSERT_EQ(big.error, 0) << strerror(big.error);
  EXPECT_TRUE(big.data == big_data_);
  ReadResult small = ReadAll(m->Path("small"));
  ASSERT_EQ(small.error, 0) << strerror(small.error);
  EXPECT_TRUE(small.data == small_data_);

  // mmap maps the backing file.
  int fd = ::open(m->Path("big").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  void* map = ::mmap(nullptr, big_data_.size(), PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED) << strerror(errno);
  EXPECT_EQ(std::memcmp(map, big_data_.data(), big_data_.size()), 0);
  EXPECT_EQ(m->fs().passthrough_backings(), 1u);
  ::munmap(map, big_data_.size());
  ::close(fd);

  EXPECT_EQ(ReadRequests(), reads_before) << "READ requests reached the mount";
}

TEST_F(PassthroughMountTest, BackingIdsGoBackAfterTenThousandOpenCloseCycles) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  auto m = MountWithPassthrough();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->session().passthrough()) << "the kernel did not agree to FUSE passthrough";
  const int64_t gauge_before = fs::CastoreFs::BackingGauge().Value();
  const std::string paths[] = {m->Path("small"), m->Path("big")};
  for (int i = 0; i < 10000; ++i) {
    int fd = ::open(paths[i % 2].c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << "open " << i << ": " << strerror(errno);
    char c;
    ASSERT_EQ(::pread(fd, &c, 1, 1000), 1) << "read " << i << ": " << strerror(errno);
    ASSERT_EQ(c, (i % 2 == 0 ? small_data_ : big_data_)[1000]);
    ::close(fd);
  }
  // The kernel sends RELEASE after close(2) returns.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((m->fs().passthrough_backings() != 0 || m->fs().handle_count() != 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(m->fs().passthrough_backings(), 0u);
  EXPECT_EQ(m->fs().handle_count(), 0u);
  EXPECT_EQ(fs::CastoreFs::BackingGauge().Value(), gauge_before);
  // Still served, by a fresh backing id.
  ReadResult big = ReadAll(m->Path("big"));
  ASSERT_EQ(big.error, 0) << strerror(big.error);
  EXPECT_TRUE(big.data == big_data_);
}

TEST_F(PassthroughMountTest, BlobFileThatRottedBeforeItsFirstOpenIsEio) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  spdlog::set_level(spdlog::level::off);
  // Served once by a mount without passthrough, so the store keeps the
  // blob's tree and a later open checks only what it reads.
  {
    auto plain = MountedFs::Mount(services_, {});
    ASSERT_NE(plain, nullptr);
    ReadResult big = ReadAll(plain->Path("big"));
    ASSERT_EQ(big.error, 0) << strerror(big.error);
  }
  ASSERT_TRUE(Rot(BlobFile(big_), 5 << 20));
  auto m = MountWithPassthrough();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->session().passthrough()) << "the kernel did not agree to FUSE passthrough";
  errno = 0;
  int fd = ::open(m->Path("big").c_str(), O_RDONLY);
  int err = errno;
  if (fd >= 0) ::close(fd);
  EXPECT_LT(fd, 0) << "a rotted blob file was handed to the kernel";
  EXPECT_EQ(err, EIO);
  ReadResult small = ReadAll(m->Path("small"));
  EXPECT_EQ(small.error, 0) << strerror(small.error);
  EXPECT_TRUE(small.data == small_data_);
  spdlog::set_level(spdlog::level::info);
}

TEST_F(PassthroughMountTest, RefusedRegistrationsAreServedByTheMount) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  auto refusing = std::make_shared<RefusingBackingFiles>();
  auto m = MountWithPassthrough(refusing);
  ASSERT_NE(m, nullptr);
  const uint64_t reads_before = ReadRequests();
  for (int i = 0; i < 2; ++i) {
    ReadResult big = ReadAll(m->Path("big"));
    ASSERT_EQ(big.error, 0) << strerror(big.error);
    EXPECT_TRUE(big.data == big_data_);
    ReadResult small = ReadAll(m->Path("small"));
    ASSERT_EQ(small.error, 0) << strerror(small.error);
    EXPECT_TRUE(small.data == small_data_);
  }
  EXPECT_GT(ReadRequests(), reads_before);
  EXPECT_EQ(refusing->attempts.load(), 1) << "asked again after the kernel refused";
  EXPECT_FALSE(m->fs().passthrough());
}

}  // namespace
}  // namespace castor::testing
