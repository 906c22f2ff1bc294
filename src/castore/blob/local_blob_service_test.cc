#include "castore/blob/local_blob_service.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/testing/files.h"
#include "castore/testing/rot.h"
#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

namespace fs = std::filesystem;

using testing::FilesUnder;

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Parameter: how temp files are made and put in place.
enum class Temps { kNamed, kUnnamedViaProc, kUnnamedEmptyPath };

class LocalBlobServiceTest : public ::testing::TestWithParam<Temps> {
 protected:
  void SetUp() override {
    auto s = LocalBlobService::Open(dir_.path() + "/store", Options());
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = *s;
    ASSERT_EQ(service_->uses_tmpfile(), GetParam() != Temps::kNamed)
        << "O_TMPFILE unsupported here?";
    if (GetParam() == Temps::kUnnamedEmptyPath && !service_->links_with_empty_path()) {
      GTEST_SKIP() << "linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH";
    }
    if (GetParam() == Temps::kUnnamedViaProc) {
      ASSERT_FALSE(service_->links_with_empty_path());
    }
  }
  static LocalBlobOptions Options() {
    LocalBlobOptions opts;
    opts.unnamed_temps = GetParam() != Temps::kNamed;
    opts.link_empty_path = GetParam() == Temps::kUnnamedEmptyPath;
    return opts;
  }
  testing::TempDir dir_{"local-blob"};
  std::shared_ptr<LocalBlobService> service_;
};

INSTANTIATE_TEST_SUITE_P(Temps, LocalBlobServiceTest,
                         ::testing::Values(Temps::kNamed, Temps::kUnnamedViaProc,
                                           Temps::kUnnamedEmptyPath),
                         [](const ::testing::TestParamInfo<Temps>& info) {
                           switch (info.param) {
                             case Temps::kNamed:
                               return "Named";
                             case Temps::kUnnamedViaProc:
                               return "UnnamedViaProc";
                             case Temps::kUnnamedEmptyPath:
                               return "UnnamedEmptyPath";
                           }
                           return "unknown";
                         });

TEST_P(LocalBlobServiceTest, StoresOneFilePerBlobInHexShards) {
  auto d = PutBlob(*service_, "Hello World!");
  ASSERT_TRUE(d.ok()) << d.status();
  std::string hex = d->ToHex();
  EXPECT_EQ(service_->BlobPath(*d), service_->dir() + "/b3/" + hex.substr(0, 2) + "/" + hex);
  EXPECT_EQ(FilesUnder(service_->dir()),
            std::vector<std::string>{"b3/" + hex.substr(0, 2) + "/" + hex});
  std::ifstream in(service_->BlobPath(*d), std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(contents, "Hello World!");
}

TEST_P(LocalBlobServiceTest, TempFilesAreNeverVisibleAsBlobs) {
  auto w = service_->OpenWrite();
  ASSERT_TRUE(w.ok()) << w.status();
  std::string data(3 << 20, 'q');
  ASSERT_TRUE((*w)->Write(data).ok());
  // The bytes live in tmp/ only, in a file without a name when unnamed
  // temp files are used.
  auto files = FilesUnder(service_->dir());
  if (service_->uses_tmpfile()) {
    EXPECT_TRUE(files.empty()) << files[0];
  } else {
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].rfind("tmp/", 0), 0u) << files[0];
  }
  int listed = 0;
  ASSERT_TRUE(service_
                  ->ForEach([&](const B3Digest&, uint64_t) {
                    ++listed;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(listed, 0);
  auto d = (*w)->Close();
  ASSERT_TRUE(d.ok()) << d.status();
  // The blob and, as it is big, its tree; nothing in tmp/.
  files = FilesUnder(service_->dir());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].rfind("b3/", 0), 0u) << files[0];
  EXPECT_EQ(files[1].rfind("outboard/16k/", 0), 0u) << files[1];
}

TEST_P(LocalBlobServiceTest, AbandonedWriterLeavesNoTempFile) {
  {
    auto w = service_->OpenWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(std::string_view("partial")).ok());
  }
  EXPECT_TRUE(FilesUnder(service_->dir()).empty());
}

TEST_P(LocalBlobServiceTest, OverwrittenBlobFileIsDataLossOnVerify) {
  auto d = PutBlob(*service_, "original contents");
  ASSERT_TRUE(d.ok());
  WriteFile(service_->BlobPath(*d), "tampered contents");  // same size
  absl::Status s = VerifyBlob(*service_, *d);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(d->ToB3()), std::string::npos) << s;
}

TEST_P(LocalBlobServiceTest, TruncatedBlobFileIsDataLossOnVerify) {
  std::string data(100000, 'z');
  auto d = PutBlob(*service_, data);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(::truncate(service_->BlobPath(*d).c_str(), 1000), 0);
  absl::Status s = VerifyBlob(*service_, *d);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_P(LocalBlobServiceTest, TruncationUnderAnOpenReaderIsDataLoss) {
  std::string data(100000, 'z');
  auto d = PutBlob(*service_, data);
  ASSERT_TRUE(d.ok());
  auto r = service_->OpenRead(*d);
  ASSERT_TRUE(r.ok() && *r != nullptr);
  ASSERT_EQ(::truncate(service_->BlobPath(*d).c_str(), 10), 0);
  std::string buf(1000, '\0');
  auto n = (*r)->ReadAt(50000, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), 1000));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << n.status();
}

TEST_P(LocalBlobServiceTest, DedupKeepsAnExistingFileOfTheRightSize) {
  auto d = PutBlob(*service_, "same bytes");
  ASSERT_TRUE(d.ok());
  struct stat before;
  ASSERT_EQ(::stat(service_->BlobPath(*d).c_str(), &before), 0);
  ASSERT_TRUE(PutBlob(*service_, "same bytes").ok());
  struct stat after;
  ASSERT_EQ(::stat(service_->BlobPath(*d).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(FilesUnder(service_->dir()).size(), 1u);
}

TEST_P(LocalBlobServiceTest, ExistingFileOfTheWrongSizeIsReplaced) {
  auto d = PutBlob(*service_, "the full contents");
  ASSERT_TRUE(d.ok());
  WriteFile(service_->BlobPath(*d), "");  // as after a power loss
  ASSERT_FALSE(VerifyBlob(*service_, *d).ok());
  ASSERT_TRUE(PutBlob(*service_, "the full contents").ok());
  EXPECT_TRUE(VerifyBlob(*service_, *d).ok());
}

TEST_P(LocalBlobServiceTest, ReaderHandsOutItsLocalFd) {
  auto d = PutBlob(*service_, "fd contents");
  ASSERT_TRUE(d.ok());
  auto r = service_->OpenRead(*d);
  ASSERT_TRUE(r.ok() && *r != nullptr);
  int fd = (*r)->LocalFd();
  ASSERT_GE(fd, 0);
  char buf[32];
  ASSERT_EQ(::pread(fd, buf, sizeof(buf), 0), 11);
  EXPECT_EQ(std::string_view(buf, 11), "fd contents");
}

TEST_P(LocalBlobServiceTest, ForEachIgnoresJunkAndTempNames) {
  auto d = PutBlob(*service_, "real blob");
  ASSERT_TRUE(d.ok());
  std::string hex = d->ToHex();
  std::string shard = service_->dir() + "/b3/" + hex.substr(0, 2);
  WriteFile(shard + "/junk", "x");
  WriteFile(shard + "/" + std::string(64, 'A'), "x");  // uppercase
  WriteFile(shard + "/" + (hex.substr(0, 2) == "00" ? "11" : "00") + hex.substr(2),
            "x");                                                 // wrong shard
  fs::create_directories(shard + "/" + std::string(64, hex[0]));  // a directory
  fs::create_directories(service_->dir() + "/b3/zz");
  WriteFile(service_->dir() + "/b3/zz/" + std::string(64, 'a'), "x");
  WriteFile(service_->dir() + "/b3/stray", "x");
  WriteFile(service_->dir() + "/tmp/blob-leftover", "x");
  std::vector<B3Digest> seen;
  ASSERT_TRUE(service_
                  ->ForEach([&](const B3Digest& digest, uint64_t size) {
                    seen.push_back(digest);
                    EXPECT_EQ(size, 9u);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen, std::vector<B3Digest>{*d});
}

TEST_P(LocalBlobServiceTest, OpenRemovesStaleTempFilesOnly) {
  std::string stale = service_->TempDir() + "/blob-stale";
  std::string fresh = service_->TempDir() + "/blob-fresh";
  WriteFile(stale, "old");
  WriteFile(fresh, "new");
  struct timespec times[2] = {{::time(nullptr) - 2 * 3600, 0}, {::time(nullptr) - 2 * 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), times, 0), 0);
  auto again = LocalBlobService::Open(service_->dir());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
}

TEST_P(LocalBlobServiceTest, ConcurrentSyncCallersAllSucceed) {
  ASSERT_TRUE(PutBlob(*service_, "a").ok());
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      (void)PutBlob(*service_, std::string(i + 1, 'b'));
      results[i] = service_->Sync();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : results) EXPECT_TRUE(s.ok()) << s;
}

std::string PseudoRandom(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x);
  }
  return out;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A page-aligned copy of `data` (the importer hands over aligned buffers,
// which O_DIRECT writes take without a copy).
struct AlignedCopy {
  explicit AlignedCopy(std::string_view data) : size(data.size()) {
    void* p = nullptr;
    EXPECT_EQ(posix_memalign(&p, 4096, std::max<size_t>(size, 1)), 0);
    ptr.reset(static_cast<uint8_t*>(p));
    std::memcpy(ptr.get(), data.data(), size);
  }
  std::span<const uint8_t> span(size_t off = 0, size_t len = SIZE_MAX) const {
    return {ptr.get() + off, std::min(len, size - off)};
  }
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> ptr;
  size_t size;
};

// Writes `data` through a prehashed writer announced with `hint`, in pieces
// of `piece` bytes (from an aligned buffer), and closes it with `digest`.
absl::StatusOr<bool> WritePrehashed(LocalBlobService& service, std::string_view data,
                                    const B3Digest& digest, uint64_t hint, size_t piece) {
  auto w = service.OpenPrehashedWrite(hint);
  if (!w.ok()) return w.status();
  AlignedCopy copy(data);
  for (size_t off = 0; off < data.size(); off += piece) {
    absl::Status s = (*w)->Write(copy.span(off, piece));
    if (!s.ok()) return s;
  }
  EXPECT_EQ((*w)->bytes_written(), data.size());
  return (*w)->Close(digest);
}

TEST_P(LocalBlobServiceTest, PrehashedWritesOfEverySizeAroundTheDirectIoLimitsRoundTrip) {
  const uint64_t direct_min = service_->options().direct_io_min;
  ASSERT_GT(direct_min, 0u);
  std::vector<size_t> sizes = {0,
                               1,
                               4095,
                               4096,
                               4097,
                               direct_min - 1,
                               direct_min,
                               direct_min + 1,
                               (1 << 20) + 4096,
                               (5 << 20) + 7};
  // Whole (one piece), a page-multiple piece size and odd pieces (which
  // arrive at unaligned offsets and must be gathered).
  for (size_t piece : {size_t{1} << 30, size_t{1} << 20, size_t{65537}}) {
    for (size_t size : sizes) {
      SCOPED_TRACE(absl::StrCat("size ", size, " piece ", piece));
      std::string data = PseudoRandom(size, static_cast<uint32_t>(size + piece));
      B3Digest digest = B3Digest::Of(std::string_view(data));
      // Unknown, exact, too small and too big announcements (the write
      // buffer is sized by the announcement and must cope with either).
      for (uint64_t hint :
           {uint64_t{0}, uint64_t{size}, uint64_t{size / 3 + 1}, uint64_t{size * 2 + 5}}) {
        auto had = service_->Has(digest);
        ASSERT_TRUE(had.ok());
        auto stored = WritePrehashed(*service_, data, digest, hint, piece);
        ASSERT_TRUE(stored.ok()) << stored.status();
        EXPECT_EQ(*stored, !*had) << "stored exactly when it was not there";
        EXPECT_TRUE(VerifyBlob(*service_, digest).ok());
        auto read = ReadBlob(*service_, digest);
        ASSERT_TRUE(read.ok() && read->has_value());
        EXPECT_TRUE(**read == data);
      }
    }
  }
  // Nothing is left behind in tmp/.
  for (const std::string& f : FilesUnder(service_->dir())) {
    EXPECT_NE(f.rfind("tmp/", 0), 0u) << f;
  }
}

TEST_P(LocalBlobServiceTest, PrehashedWriteWithoutDirectIoRoundTrips) {
  LocalBlobOptions opts = Options();
  opts.direct_io_min = 0;
  auto service = LocalBlobService::Open(dir_.path() + "/buffered", opts);
  ASSERT_TRUE(service.ok()) << service.status();
  std::string data = PseudoRandom((3 << 20) + 5, 3);
  B3Digest digest = B3Digest::Of(std::string_view(data));
  auto stored = WritePrehashed(**service, data, digest, data.size(), 1 << 20);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored);
  EXPECT_TRUE(VerifyBlob(**service, digest).ok());
}

TEST_P(LocalBlobServiceTest, VerifyingPrehashedWriterRefusesAWrongDigest) {
  LocalBlobOptions opts = Options();
  opts.verify_prehashed = true;
  auto service = LocalBlobService::Open(dir_.path() + "/verifying", opts);
  ASSERT_TRUE(service.ok()) << service.status();
  size_t blobs = 0;
  for (size_t size : {size_t{10}, size_t{1} << 20}) {
    std::string data = PseudoRandom(size, 9);
    B3Digest right = B3Digest::Of(std::string_view(data));
    B3Digest wrong = B3Digest::Of(std::string_view("other bytes"));
    auto stored = WritePrehashed(**service, data, wrong, size, 1 << 20);
    EXPECT_EQ(stored.status().code(), absl::StatusCode::kDataLoss) << stored.status();
    EXPECT_NE(stored.status().message().find(wrong.ToB3()), std::string::npos);
    EXPECT_FALSE(*(*service)->Has(wrong));
    EXPECT_FALSE(*(*service)->Has(right));
    EXPECT_EQ(FilesUnder((*service)->dir()).size(), blobs) << "no temp file is left";
    // The right digest is accepted.
    stored = WritePrehashed(**service, data, right, size, 1 << 20);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(*stored);
    ++blobs;
  }
}

TEST_P(LocalBlobServiceTest, PrehashedWriteReplacesAFileOfTheWrongSize) {
  std::string data = PseudoRandom(300000, 4);
  B3Digest digest = B3Digest::Of(std::string_view(data));
  ASSERT_TRUE(WritePrehashed(*service_, data, digest, data.size(), 1 << 20).ok());
  ASSERT_EQ(::truncate(service_->BlobPath(digest).c_str(), 4096), 0);  // as after a power loss
  auto stored = WritePrehashed(*service_, data, digest, data.size(), 1 << 20);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored);
  EXPECT_TRUE(VerifyBlob(*service_, digest).ok());
  EXPECT_EQ(FilesUnder(service_->dir()).size(), 1u);
}

TEST_P(LocalBlobServiceTest, AbandonedPrehashedWriterLeavesNoTempFile) {
  {
    auto w = service_->OpenPrehashedWrite(1 << 20);
    ASSERT_TRUE(w.ok());
    AlignedCopy data(PseudoRandom(1 << 19, 5));
    ASSERT_TRUE((*w)->Write(data.span()).ok());
  }
  EXPECT_TRUE(FilesUnder(service_->dir()).empty());
}

TEST_P(LocalBlobServiceTest, ConcurrentPrehashedWritersOfOneBlobStoreItOnce) {
  std::string data = PseudoRandom(600000, 6);
  B3Digest digest = B3Digest::Of(std::string_view(data));
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<bool>> results(6, false);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = WritePrehashed(*service_, data, digest, data.size(), 65536); });
  }
  for (auto& t : threads) t.join();
  int stored = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    stored += *r ? 1 : 0;
  }
  EXPECT_EQ(stored, 1);
  EXPECT_TRUE(VerifyBlob(*service_, digest).ok());
  EXPECT_EQ(FilesUnder(service_->dir()).size(), 1u);
}

TEST_P(LocalBlobServiceTest, WriterUseAfterCloseIsFailedPrecondition) {
  auto w = service_->OpenPrehashedWrite(0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(Bytes("abc")).ok());
  ASSERT_TRUE((*w)->Close(B3Digest::Of(std::string_view("abc"))).ok());
  EXPECT_EQ((*w)->Write(Bytes("d")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*w)->Close(B3Digest::Of(std::string_view("abc"))).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Every caller of a failing syncfs learns of the failure, and the service
// keeps no result once its callers have it (a daemon syncs on every Put).
TEST_P(LocalBlobServiceTest, ConcurrentFailingSyncsAreReportedAndThenForgotten) {
  LocalBlobOptions opts = Options();
  opts.syncfs = [](int) {
    errno = EIO;
    return -1;
  };
  auto failing = LocalBlobService::Open(dir_.path() + "/failing", opts);
  ASSERT_TRUE(failing.ok()) << failing.status();
  std::atomic<int> reported{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        absl::Status s = (*failing)->Sync();
        if (!s.ok() && s.message().find("syncfs " + (*failing)->dir()) != std::string::npos) {
          ++reported;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(reported.load(), 1000);
  EXPECT_EQ((*failing)->sync_results_kept(), 0u);
}

// The group CVs of `data` in `service`'s groups, as an importer has them.
std::vector<blake3_tree::Cv> GroupCvsOf(const LocalBlobService& service, std::string_view data) {
  blake3_tree::GroupHasher hasher(service.TreeGroupSize());
  hasher.Update(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  return hasher.Finish().cvs;
}

ino_t InodeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST_P(LocalBlobServiceTest, ABigBlobsTreeIsKeptAsItIsWrittenAndNotComputedAtItsFirstRead) {
  ASSERT_EQ(service_->TreeGroupSize(), 16u << 10);
  const uint64_t groups = 3 * 64 + 1;
  const std::string hashed = PseudoRandom((3 << 20) + 5, 21);     // OpenWrite
  const std::string prehashed = PseudoRandom((3 << 20) + 5, 22);  // the importer's way
  const B3Digest hashed_digest = *PutBlob(*service_, hashed);
  const B3Digest prehashed_digest = B3Digest::Of(std::string_view(prehashed));
  auto w = service_->OpenPrehashedWrite(prehashed.size());
  ASSERT_TRUE(w.ok()) << w.status();
  AlignedCopy copy(prehashed);
  ASSERT_TRUE((*w)->Write(copy.span(0, prehashed.size())).ok());
  const std::vector<blake3_tree::Cv> cvs = GroupCvsOf(*service_, prehashed);
  ASSERT_EQ(cvs.size(), groups);
  auto stored = (*w)->Close(prehashed_digest, cvs);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored);
  for (const B3Digest& d : {hashed_digest, prehashed_digest}) {
    ASSERT_TRUE(fs::exists(service_->OutboardPath(d))) << d.ToB3();
    EXPECT_EQ(fs::file_size(service_->OutboardPath(d)), 8u + 64 * (groups - 1));
  }
  // A later process reads both without a pass over either blob.
  auto later = LocalBlobService::Open(service_->dir(), Options());
  ASSERT_TRUE(later.ok()) << later.status();
  const std::vector<std::pair<B3Digest, const std::string*>> blobs = {
      {hashed_digest, &hashed}, {prehashed_digest, &prehashed}};
  for (const auto& [d, data] : blobs) {
    auto r = (*later)->OpenRead(d);
    ASSERT_TRUE(r.ok() && *r != nullptr) << r.status();
    std::string buf(100, '\0');
    auto n = (*r)->ReadAt(2 << 20, std::span(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(buf, data->substr(2 << 20, 100));
  }
  EXPECT_EQ((*later)->trees_computed(), 0u);
  EXPECT_EQ(service_->trees_computed(), 0u);
  // Dedup hits write nothing: not the blob, not its tree.
  const ino_t blob_inode = InodeOf(service_->BlobPath(prehashed_digest));
  const ino_t tree_inode = InodeOf(service_->OutboardPath(prehashed_digest));
  ASSERT_EQ(*PutBlob(*service_, prehashed), prehashed_digest);
  auto again = service_->OpenPrehashedWrite(prehashed.size());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Write(copy.span(0, prehashed.size())).ok());
  stored = (*again)->Close(prehashed_digest, cvs);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_FALSE(*stored);
  EXPECT_EQ(InodeOf(service_->BlobPath(prehashed_digest)), blob_inode);
  EXPECT_EQ(InodeOf(service_->OutboardPath(prehashed_digest)), tree_inode);
  // Smaller blobs have no tree kept (it is cheaper to hash them again).
  const std::string small = PseudoRandom((1 << 20) - 1, 23);
  const B3Digest small_digest = *PutBlob(*service_, small);
  EXPECT_FALSE(fs::exists(service_->OutboardPath(small_digest)));
  // Delete (gc) removes the blob and its tree.
  ASSERT_TRUE(service_->Delete(hashed_digest).ok());
  EXPECT_FALSE(fs::exists(service_->BlobPath(hashed_digest)));
  EXPECT_FALSE(fs::exists(service_->OutboardPath(hashed_digest)));
  for (const std::string& f : FilesUnder(service_->dir())) {
    EXPECT_NE(f.rfind("tmp/", 0), 0u) << f;
  }
}

TEST_P(LocalBlobServiceTest, PrehashedWriterRefusesGroupCvsThatAreNotOnePerGroup) {
  const std::string data = PseudoRandom((2 << 20) + 1, 24);
  const B3Digest digest = B3Digest::Of(std::string_view(data));
  std::vector<blake3_tree::Cv> cvs = GroupCvsOf(*service_, data);
  cvs.pop_back();
  AlignedCopy copy(data);
  auto w = service_->OpenPrehashedWrite(data.size());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(copy.span(0, data.size())).ok());
  auto stored = (*w)->Close(digest, cvs);
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kInvalidArgument) << stored.status();
  EXPECT_NE(stored.status().message().find(digest.ToB3()), std::string::npos) << stored.status();
  EXPECT_TRUE(FilesUnder(service_->dir()).empty()) << "nothing stored, no temp file left";
}

TEST_P(LocalBlobServiceTest, VerifyingPrehashedWriterRefusesGroupCvsThatAreNotTheBlobs) {
  LocalBlobOptions opts = Options();
  opts.verify_prehashed = true;
  auto service = LocalBlobService::Open(dir_.path() + "/verifying", opts);
  ASSERT_TRUE(service.ok()) << service.status();
  const std::string data = PseudoRandom((2 << 20) + 1, 25);
  const B3Digest digest = B3Digest::Of(std::string_view(data));
  std::vector<blake3_tree::Cv> cvs = GroupCvsOf(**service, data);
  cvs[7][3] ^= 1;
  AlignedCopy copy(data);
  auto w = (*service)->OpenPrehashedWrite(data.size());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(copy.span(0, data.size())).ok());
  auto stored = (*w)->Close(digest, cvs);
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kDataLoss) << stored.status();
  EXPECT_TRUE(FilesUnder((*service)->dir()).empty()) << "nothing stored, no temp file left";
  // Without CVs from the caller, a verifying writer keeps the ones it computed.
  ASSERT_TRUE(WritePrehashed(**service, data, digest, data.size(), 1 << 20).ok());
  EXPECT_TRUE(fs::exists((*service)->OutboardPath(digest)));
}

// --- Verified reads by range ---------------------------------------------------

class LocalVerifiedReadTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kGroup = 4096;
  void SetUp() override {
    service_ = Open();
    data_ = PseudoRandom(40 * kGroup + 100, 9);
    digest_ = *PutBlob(*service_, data_);
    // As a blob stored by a castor that kept trees only once they had been
    // computed at a first read: no tree yet.
    ASSERT_EQ(::unlink(service_->OutboardPath(digest_).c_str()), 0);
  }
  // Another service over the same directory, as a later process has.
  std::shared_ptr<LocalBlobService> Open() {
    LocalBlobOptions opts;
    opts.group_size = kGroup;
    opts.persist_tree_min = 16 * kGroup;
    auto s = LocalBlobService::Open(dir_.path() + "/store", opts);
    CASTOR_CHECK(s.ok());
    return *s;
  }
  static absl::StatusOr<std::string> Read(const BlobReader& r, uint64_t offset, size_t len) {
    std::string buf(len, '\0');
    ASSIGN_OR_RETURN(size_t n, r.ReadAt(offset, std::span<uint8_t>(
                                                    reinterpret_cast<uint8_t*>(buf.data()), len)));
    buf.resize(n);
    return buf;
  }
  testing::TempDir dir_{"local-verified"};
  std::shared_ptr<LocalBlobService> service_;
  std::string data_;
  B3Digest digest_;
};

TEST_F(LocalVerifiedReadTest, ReadsCheckEachPieceAndFailOnlyWhereTheFileRotted) {
  auto r = service_->OpenRead(digest_);
  ASSERT_TRUE(r.ok() && *r != nullptr);
  EXPECT_TRUE((*r)->Verified());
  EXPECT_EQ((*r)->size(), data_.size());
  ASSERT_EQ(*Read(**r, 0, data_.size() + 10), data_);
  // Rot in group 7, under the open reader and for new ones.
  ASSERT_TRUE(testing::Rot(service_->BlobPath(digest_), 7 * kGroup + 99));
  for (int fresh = 0; fresh < 2; ++fresh) {
    auto reader = fresh ? *service_->OpenRead(digest_) : std::move(*r);
    // Group 7 is not in the reader's memory: only the last pieces it read.
    EXPECT_EQ(*Read(*reader, 3 * kGroup + 5, 100), data_.substr(3 * kGroup + 5, 100));
    EXPECT_EQ(*Read(*reader, 8 * kGroup, kGroup), data_.substr(8 * kGroup, kGroup));
    auto bad = Read(*reader, 7 * kGroup + 4000, 10);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
    EXPECT_NE(bad.status().message().find(service_->BlobPath(digest_)), std::string::npos)
        << bad.status();
    EXPECT_NE(bad.status().message().find(digest_.ToB3()), std::string::npos) << bad.status();
    // A read covering groups whole checks them in the caller's buffer: the
    // damaged one does not stay there.
    std::string buf(4 * kGroup, 'x');
    auto n = reader->ReadAt(5 * kGroup,
                            std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
    EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(buf.substr(2 * kGroup, kGroup), std::string(kGroup, '\0'));
  }
  // Whole-blob checks see it too, and report it the way they always did.
  absl::Status v = VerifyBlob(*service_, digest_);
  EXPECT_EQ(v.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(v.message().find("hash to"), std::string::npos) << v;
}

TEST_F(LocalVerifiedReadTest, ABlobOfOneGroupIsHashedWholeOnEveryReadFromDisk) {
  const std::string small = PseudoRandom(kGroup, 3);
  const B3Digest d = *PutBlob(*service_, small);
  ASSERT_EQ(*Read(**service_->OpenRead(d), 0, kGroup), small);
  ASSERT_TRUE(testing::Rot(service_->BlobPath(d), 10));
  EXPECT_EQ(Read(**service_->OpenRead(d), 100, 5).status().code(), absl::StatusCode::kDataLoss);
  // An empty blob too: its end is only answered once its (no) bytes check out.
  const B3Digest empty = *PutBlob(*service_, "");
  EXPECT_EQ(*Read(**service_->OpenRead(empty), 0, 10), "");
  WriteFile(service_->BlobPath(empty), "x");
  EXPECT_EQ(Read(**service_->OpenRead(empty), 0, 10).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(service_->trees_computed(), 0u);
  EXPECT_FALSE(fs::exists(service_->OutboardPath(d)));
}

TEST_F(LocalVerifiedReadTest, TheTreeIsComputedOnceAndKeptInTheStoreForLaterProcesses) {
  ASSERT_EQ(*Read(**service_->OpenRead(digest_), 5 * kGroup, 10), data_.substr(5 * kGroup, 10));
  ASSERT_EQ(*Read(**service_->OpenRead(digest_), 9 * kGroup, 10), data_.substr(9 * kGroup, 10));
  EXPECT_EQ(service_->trees_computed(), 1u);
  ASSERT_TRUE(fs::exists(service_->OutboardPath(digest_)));
  EXPECT_EQ(fs::file_size(service_->OutboardPath(digest_)), 8u + 64 * 40);
  for (int i = 0; i < 3; ++i) {
    auto r = *service_->OpenRead(digest_);
    ASSERT_EQ(*Read(*r, i * 13 * kGroup, 10), data_.substr(i * 13 * kGroup, 10));
  }
  EXPECT_EQ(service_->trees_computed(), 1u);
  for (int i = 0; i < 3; ++i) {
    auto later = Open();
    ASSERT_EQ(*Read(**later->OpenRead(digest_), 30 * kGroup, 10), data_.substr(30 * kGroup, 10));
    ASSERT_EQ(*Read(**later->OpenRead(digest_), 2 * kGroup, 10), data_.substr(2 * kGroup, 10));
    EXPECT_EQ(later->trees_computed(), 0u);
  }
  auto later = Open();
  // gc removes the tree with the blob.
  ASSERT_TRUE(later->Delete(digest_).ok());
  EXPECT_FALSE(fs::exists(service_->OutboardPath(digest_)));
}

TEST_F(LocalVerifiedReadTest, ARottenKeptTreeIsComputedAgainNotTrusted) {
  ASSERT_TRUE(Read(**service_->OpenRead(digest_), 0, 10).ok());
  const std::string path = service_->OutboardPath(digest_);
  std::ifstream in(path, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), {});
  // A flipped CV, a cut file, a file of junk.
  for (const std::string& bad :
       {std::string(), good.substr(0, good.size() - 1), std::string(good.size(), 'x')}) {
    std::string rotten = bad.empty() ? good : bad;
    if (bad.empty()) rotten[200] ^= 1;
    WriteFile(path, rotten);
    auto later = Open();
    ASSERT_EQ(*Read(**later->OpenRead(digest_), 20 * kGroup, 10), data_.substr(20 * kGroup, 10));
    EXPECT_EQ(later->trees_computed(), 1u);
    std::ifstream again(path, std::ios::binary);
    EXPECT_TRUE(std::string((std::istreambuf_iterator<char>(again)), {}) == good);
  }
  // A tree cannot vouch for rotten bytes: a blob damaged before its tree
  // was computed fails as a whole, whatever tree is lying around.
  ASSERT_TRUE(testing::Rot(service_->BlobPath(digest_), 11 * kGroup));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  auto later = Open();
  EXPECT_EQ(Read(**later->OpenRead(digest_), 0, 10).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(LocalVerifiedReadTest, ConcurrentFirstReadsShareOnePassOverTheBlob) {
  auto fresh = Open();
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = fresh->OpenRead(digest_);
      if (!r.ok() || *r == nullptr) return;
      auto got = Read(**r, t * 4 * kGroup, 100);
      if (got.ok() && *got == data_.substr(t * 4 * kGroup, 100)) ++good;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 8);
  // Nothing had read the blob before: one pass, shared by all eight.
  EXPECT_EQ(fresh->trees_computed(), 1u);
}

TEST_F(LocalVerifiedReadTest, AFifoOrASymlinkAtABlobPathIsDataLossNamingItAndNoHang) {
  const std::string path = service_->BlobPath(digest_);
  WriteFile(dir_.path() + "/copy", data_);
  for (bool fifo : {true, false}) {
    ASSERT_EQ(::unlink(path.c_str()), 0);
    if (fifo) {
      ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
    } else {
      ASSERT_EQ(::symlink((dir_.path() + "/copy").c_str(), path.c_str()), 0);
    }
    for (auto open : {&LocalBlobService::OpenRead, &LocalBlobService::OpenReadUnverified}) {
      auto r = ((*service_).*open)(digest_);
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
      EXPECT_NE(r.status().message().find(path + " is not a regular file (" +
                                          (fifo ? "a FIFO" : "a symbolic link") + ")"),
                std::string::npos)
          << r.status();
    }
    EXPECT_FALSE(*service_->Has(digest_));
    // Storing the blob again puts a regular file in its place.
    ASSERT_EQ(*PutBlob(*service_, data_), digest_);
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(path)));
    EXPECT_TRUE(VerifyBlob(*service_, digest_).ok());
  }
}

TEST(LocalBlobServiceOpen, RelativeOrEmptyPathIsInvalidArgument) {
  EXPECT_EQ(LocalBlobService::Open("relative/dir").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LocalBlobService::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LocalBlobServiceOpen, PathThatIsAFileIsAnErrorNamingIt) {
  testing::TempDir dir("local-blob-file");
  std::string file = dir.path() + "/plain";
  WriteFile(file, "x");
  auto s = LocalBlobService::Open(file);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(file), std::string::npos) << s.status();
}

TEST(LocalBlobServiceOpen, CreatesMissingDirectories) {
  testing::TempDir dir("local-blob-mk");
  auto s = LocalBlobService::Open(dir.path() + "/a/b/c/");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(fs::is_directory(dir.path() + "/a/b/c/b3"));
  EXPECT_TRUE(fs::is_directory(dir.path() + "/a/b/c/tmp"));
}

}  // namespace
}  // namespace castor::castore
