#include "castore/blob/local_blob_service.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  return out;
}

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

class LocalBlobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = LocalBlobService::Open(dir_.path() + "/store");
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = *s;
  }
  testing::TempDir dir_{"local-blob"};
  std::shared_ptr<LocalBlobService> service_;
};

TEST_F(LocalBlobServiceTest, StoresOneFilePerBlobInHexShards) {
  auto d = PutBlob(*service_, "Hello World!");
  ASSERT_TRUE(d.ok()) << d.status();
  std::string hex = d->ToHex();
  EXPECT_EQ(service_->BlobPath(*d), service_->root() + "/b3/" + hex.substr(0, 2) + "/" + hex);
  EXPECT_EQ(FilesUnder(service_->root()),
            std::vector<std::string>{"b3/" + hex.substr(0, 2) + "/" + hex});
  std::ifstream in(service_->BlobPath(*d), std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(contents, "Hello World!");
}

TEST_F(LocalBlobServiceTest, TempFilesAreNeverVisibleAsBlobs) {
  auto w = service_->OpenWrite();
  ASSERT_TRUE(w.ok()) << w.status();
  std::string data(3 << 20, 'q');
  ASSERT_TRUE((*w)->Write(data).ok());
  // The bytes live in tmp/ only.
  auto files = FilesUnder(service_->root());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].rfind("tmp/", 0), 0u) << files[0];
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
  files = FilesUnder(service_->root());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].rfind("b3/", 0), 0u) << files[0];
}

TEST_F(LocalBlobServiceTest, AbandonedWriterLeavesNoTempFile) {
  {
    auto w = service_->OpenWrite();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(std::string_view("partial")).ok());
  }
  EXPECT_TRUE(FilesUnder(service_->root()).empty());
}

TEST_F(LocalBlobServiceTest, OverwrittenBlobFileIsDataLossOnVerify) {
  auto d = PutBlob(*service_, "original contents");
  ASSERT_TRUE(d.ok());
  WriteFile(service_->BlobPath(*d), "tampered contents");  // same size
  absl::Status s = VerifyBlob(*service_, *d);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(d->ToB3()), std::string::npos) << s;
}

TEST_F(LocalBlobServiceTest, TruncatedBlobFileIsDataLossOnVerify) {
  std::string data(100000, 'z');
  auto d = PutBlob(*service_, data);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(::truncate(service_->BlobPath(*d).c_str(), 1000), 0);
  absl::Status s = VerifyBlob(*service_, *d);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(LocalBlobServiceTest, TruncationUnderAnOpenReaderIsDataLoss) {
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

TEST_F(LocalBlobServiceTest, DedupKeepsAnExistingFileOfTheRightSize) {
  auto d = PutBlob(*service_, "same bytes");
  ASSERT_TRUE(d.ok());
  struct stat before;
  ASSERT_EQ(::stat(service_->BlobPath(*d).c_str(), &before), 0);
  ASSERT_TRUE(PutBlob(*service_, "same bytes").ok());
  struct stat after;
  ASSERT_EQ(::stat(service_->BlobPath(*d).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(FilesUnder(service_->root()).size(), 1u);
}

TEST_F(LocalBlobServiceTest, ExistingFileOfTheWrongSizeIsReplaced) {
  auto d = PutBlob(*service_, "the full contents");
  ASSERT_TRUE(d.ok());
  WriteFile(service_->BlobPath(*d), "");  // as after a power loss
  ASSERT_FALSE(VerifyBlob(*service_, *d).ok());
  ASSERT_TRUE(PutBlob(*service_, "the full contents").ok());
  EXPECT_TRUE(VerifyBlob(*service_, *d).ok());
}

TEST_F(LocalBlobServiceTest, ReaderHandsOutItsLocalFd) {
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

TEST_F(LocalBlobServiceTest, ForEachIgnoresJunkAndTempNames) {
  auto d = PutBlob(*service_, "real blob");
  ASSERT_TRUE(d.ok());
  std::string hex = d->ToHex();
  std::string shard = service_->root() + "/b3/" + hex.substr(0, 2);
  WriteFile(shard + "/junk", "x");
  WriteFile(shard + "/" + std::string(64, 'A'), "x");  // uppercase
  WriteFile(shard + "/" + (hex.substr(0, 2) == "00" ? "11" : "00") + hex.substr(2),
            "x");                                                 // wrong shard
  fs::create_directories(shard + "/" + std::string(64, hex[0]));  // a directory
  fs::create_directories(service_->root() + "/b3/zz");
  WriteFile(service_->root() + "/b3/zz/" + std::string(64, 'a'), "x");
  WriteFile(service_->root() + "/b3/stray", "x");
  WriteFile(service_->root() + "/tmp/blob-leftover", "x");
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

TEST_F(LocalBlobServiceTest, OpenRemovesStaleTempFilesOnly) {
  std::string stale = service_->TempDir() + "/blob-stale";
  std::string fresh = service_->TempDir() + "/blob-fresh";
  WriteFile(stale, "old");
  WriteFile(fresh, "new");
  struct timespec times[2] = {{::time(nullptr) - 2 * 3600, 0}, {::time(nullptr) - 2 * 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), times, 0), 0);
  auto again = LocalBlobService::Open(service_->root());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
}

TEST_F(LocalBlobServiceTest, ConcurrentSyncCallersAllSucceed) {
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
