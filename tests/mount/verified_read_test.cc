// A real FUSE mount over a file:// blob store whose files rot after the
// mount has served them: no byte read from disk reaches a reader unless it
// was checked against the blob's digest when it was read (the kernel's page
// cache may keep bytes checked earlier; the test evicts it). A damaged piece
// of a big blob fails only the reads that touch it. Also: concurrent first
// opens of a big blob hash it once, and a restarted mount does not hash it
// again (its tree is kept in the store).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "castore/blob/local_blob_service.h"
#include "castore/testing/rot.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "mount_fixture.h"
#include "spdlog/spdlog.h"

namespace castor::testing {
namespace {

using castore::B3Digest;
using castore::testing::RandomBytes;
using castore::testing::Rot;
using castore::testing::TempDir;

// pread of `len` bytes at `offset` with readahead off (so the kernel asks
// the mount for these pages only): the bytes, or the errno.
ReadResult ReadRange(const std::string& path, uint64_t offset, size_t len) {
  ReadResult r;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    r.error = errno;
    return r;
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  r.data.resize(len);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, r.data.data() + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      r.error = errno;
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  r.data.resize(done);
  ::close(fd);
  return r;
}

// Drops the mounted file's pages from the page cache (FOPEN_KEEP_CACHE
// would otherwise serve the bytes checked earlier without asking the
// mount), and checks that none is resident any more.
void Evict(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED) << strerror(errno);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  ASSERT_EQ(::mincore(map, size, resident.data()), 0) << strerror(errno);
  size_t cached = 0;
  for (unsigned char c : resident) cached += c & 1;
  ::munmap(map, size);
  ::close(fd);
  ASSERT_EQ(cached, 0u) << path << ": pages still cached after POSIX_FADV_DONTNEED";
}

// Bytes this process got from read(2)-like calls so far (rchar): reading
// a blob's file to hash it counts, whatever the page cache holds.
uint64_t BytesReadByThisProcess() {
  std::ifstream in("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "rchar:") return value;
  }
  ADD_FAILURE() << "no rchar in /proc/self/io";
  return 0;
}

class MountVerifiedReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::off);  // every damaged read logs an EIO line
    services_ = Open();
    small_ = PutFile(services_, small_data_);
    big_ = PutFile(services_, big_data_);
    PutRoot(services_, "small", small_);
    PutRoot(services_, "big", big_);
  }
  void TearDown() override { spdlog::set_level(spdlog::level::info); }

  // Services over the file:// store in dir_ (a new LocalBlobService each
  // time, as a restarted mount has), memory directories and roots.
  castore::Services Open() {
    castore::Services s = MemoryServices();
    if (services_.roots != nullptr) {
      s.directories = services_.directories;
      s.roots = services_.roots;
    }
    auto blobs = castore::LocalBlobService::Open(dir_.path() + "/blobs");
    CASTOR_CHECK(blobs.ok());
    blobs_path_ = (*blobs)->dir();
    s.blobs = *blobs;
    return s;
  }

  // Removes the blob's tree, kept beside it since it was stored: the blob
  // is then as one stored by a castor that computed trees at first reads.
  void ForgetTree(const castore::FileNode& f) const {
    std::string hex = f.digest.ToHex();
    std::string outboard = blobs_path_ + "/outboard/16k/" + hex.substr(0, 2) + "/" + hex;
    CASTOR_CHECK(::unlink(outboard.c_str()) == 0);
  }

  std::string BlobFile(const castore::FileNode& f) const {
    std::string hex = f.digest.ToHex();
    return blobs_path_ + "/b3/" + hex.substr(0, 2) + "/" + hex;
  }

  TempDir dir_{"verified-read"};
  std::string blobs_path_;
  castore::Services services_;
  const std::string small_data_ = RandomBytes(3000, 1);
  const std::string big_data_ = RandomBytes(8 << 20, 2);
  castore::FileNode small_, big_;
};

TEST_F(MountVerifiedReadTest, BytesThatRotAfterTheFirstReadAreEio) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  auto mount = MountedFs::Mount(services_, {});
  ASSERT_NE(mount, nullptr);
  for (const auto& [name, node, data] :
       {std::tuple{"small", small_, small_data_}, std::tuple{"big", big_, big_data_}}) {
    SCOPED_TRACE(name);
    ReadResult first = ReadAll(mount->Path(name));
    ASSERT_EQ(first.error, 0) << strerror(first.error);
    ASSERT_TRUE(first.data == data);
    // Every byte of the blob's file changes, its size does not.
    ASSERT_TRUE(Rot(BlobFile(node), 0, data.size()));
    ASSERT_NO_FATAL_FAILURE(Evict(mount->Path(name)));
    ReadResult again = ReadAll(mount->Path(name));
    EXPECT_EQ(again.error, EIO) << strerror(again.error);
    EXPECT_TRUE(again.data.empty()) << again.data.size() << " bytes served";
  }
}

TEST_F(MountVerifiedReadTest, ADamagedPieceOfABigBlobFailsOnlyTheReadsTouchingIt) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  auto mount = MountedFs::Mount(services_, {});
  ASSERT_NE(mount, nullptr);
  const std::string path = mount->Path("big");
  ReadResult first = ReadAll(path);
  ASSERT_EQ(first.error, 0) << strerror(first.error);
  ASSERT_TRUE(first.data == big_data_);
  // One byte in the middle rots. Pieces are at most 1 MiB, so ranges more
  // than 1 MiB away from it lie in other pieces.
  const uint64_t bad = (5 << 20) + 1234;
  ASSERT_TRUE(Rot(BlobFile(big_), bad));
  ASSERT_NO_FATAL_FAILURE(Evict(path));
  for (uint64_t offset : {uint64_t{0}, uint64_t{1} << 20, uint64_t{3} << 20, uint64_t{7} << 20,
                          big_data_.size() - 5000}) {
    ReadResult r = ReadRange(path, offset, 4096);
    ASSERT_EQ(r.error, 0) << "at " << offset << ": " << strerror(r.error);
    EXPECT_TRUE(r.data == big_data_.substr(offset, 4096)) << "wrong bytes at " << offset;
  }
  for (uint64_t offset : {bad & ~uint64_t{4095}, bad - 100}) {
    ReadResult r = ReadRange(path, offset, 4096);
    EXPECT_EQ(r.error, EIO) << "at " << offset << ": " << r.data.size() << " bytes served";
  }
  // A read that starts in good pieces and runs into the damaged one serves
  // at most the good bytes before it.
  ReadResult across = ReadRange(path, bad - (2 << 20), 3 << 20);
  EXPECT_LT(across.data.size(), size_t{2} << 20);
  EXPECT_TRUE(across.data == big_data_.substr(bad - (2 << 20), across.data.size()));
}

// Holds every OpenRead until `n` callers are in it (or a deadline passes),
// so that the opens of one file really run at the same time.
class BarrierBlobService : public castore::BlobService {
 public:
  BarrierBlobService(std::shared_ptr<castore::BlobService> inner, int n)
      : inner_(std::move(inner)), n_(n) {}

  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenRead(const B3Digest& d) override {
    Arrive();
    return inner_->OpenRead(d);
  }
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenReadSized(const B3Digest& d,
                                                                     uint64_t size) override {
    Arrive();
    return inner_->OpenReadSized(d, size);
  }
  absl::StatusOr<bool> Has(const B3Digest& d) override { return inner_->Has(d); }
  absl::StatusOr<std::unique_ptr<castore::BlobWriter>> OpenWrite() override {
    return inner_->OpenWrite();
  }
  absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> Chunks(
      const B3Digest& d) override {
    return inner_->Chunks(d);
  }
  absl::Status Sync() override { return inner_->Sync(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    return inner_->ForEach(fn);
  }
  absl::Status Delete(const B3Digest& d) override { return inner_->Delete(d); }

 private:
  void Arrive() {
    arrived_.fetch_add(1);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived_.load() < n_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  std::shared_ptr<castore::BlobService> inner_;
  const int n_;
  std::atomic<int> arrived_{0};
};

// Opens `name` in `fs` and reads 4 KiB at `offset`; returns the bytes.
std::string OpenAndRead(fs::CastoreFs& fs, const std::string& name, uint64_t offset) {
  fuse_entry_out entry;
  EXPECT_EQ(fs.Lookup(FUSE_ROOT_ID, name, &entry), 0);
  fuse_open_out open_out{};
  int err = fs.Open(entry.nodeid, O_RDONLY, &open_out);
  EXPECT_EQ(err, 0) << strerror(err);
  if (err != 0) return "";
  std::string buf(4096, '\0');
  size_t n = 0;
  err = fs.Read(entry.nodeid, open_out.fh, offset,
                std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), buf.size()), &n);
  EXPECT_EQ(err, 0) << strerror(err);
  buf.resize(n);
  fs.Release(entry.nodeid, open_out.fh);
  fs.Forget(entry.nodeid, 1);
  return buf;
}

TEST_F(MountVerifiedReadTest, ConcurrentFirstOpensOfABigBlobHashItOnce) {
  // Big enough that hashing it takes far longer than the opens take to meet.
  const std::string huge = RandomBytes(64 << 20, 3);
  const castore::FileNode node = PutFile(services_, huge);
  ForgetTree(node);
  PutRoot(services_, "huge", node);
  constexpr int kOpens = 4;
  castore::Services services = services_;
  services.blobs = std::make_shared<BarrierBlobService>(services_.blobs, kOpens);
  fs::CastoreFs fs(services, {});
  const uint64_t before = BytesReadByThisProcess();
  std::vector<std::thread> threads;
  std::vector<std::string> got(kOpens);
  for (int i = 0; i < kOpens; ++i) {
    threads.emplace_back(
        [&, i] { got[i] = OpenAndRead(fs, "huge", static_cast<uint64_t>(i) << 20); });
  }
  for (auto& t : threads) t.join();
  const uint64_t read = BytesReadByThisProcess() - before;
  for (int i = 0; i < kOpens; ++i) {
    EXPECT_TRUE(got[i] == huge.substr(static_cast<uint64_t>(i) << 20, 4096));
  }
  // One pass over the blob, plus the pieces the reads needed.
  EXPECT_LT(read, huge.size() + (uint64_t{kOpens} << 20)) << read << " bytes read";
}

TEST_F(MountVerifiedReadTest, AFreshlyStoredBigBlobIsReadWithoutAPassOverIt) {
  castore::Services fresh = Open();
  fs::CastoreFs fs(fresh, {});
  const uint64_t before = BytesReadByThisProcess();
  EXPECT_TRUE(OpenAndRead(fs, "big", 5 << 20) == big_data_.substr(5 << 20, 4096));
  const uint64_t read = BytesReadByThisProcess() - before;
  EXPECT_LT(read, uint64_t{2} << 20) << read << " bytes read for a 4 KiB read";
}

TEST_F(MountVerifiedReadTest, ARestartedMountDoesNotHashABigBlobAgain) {
  ForgetTree(big_);
  {
    fs::CastoreFs fs(services_, {});
    EXPECT_TRUE(OpenAndRead(fs, "big", 3 << 20) == big_data_.substr(3 << 20, 4096));
  }
  services_.blobs.reset();
  castore::Services restarted = Open();
  fs::CastoreFs fs(restarted, {});
  const uint64_t before = BytesReadByThisProcess();
  EXPECT_TRUE(OpenAndRead(fs, "big", 5 << 20) == big_data_.substr(5 << 20, 4096));
  const uint64_t read = BytesReadByThisProcess() - before;
  EXPECT_LT(read, uint64_t{2} << 20) << read << " bytes read for a 4 KiB read";
}

}  // namespace
}  // namespace castor::testing
