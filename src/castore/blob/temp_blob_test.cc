#include "castore/blob/temp_blob.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "castore/testing/files.h"
#include "castore/testing/temp_dir.h"

namespace castor::castore {
namespace {

namespace fs = std::filesystem;

using testing::FilesUnder;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  return s;
}

ino_t Inode(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Parameter: unnamed (O_TMPFILE) temp files or named ones.
class TempBlobTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    fs::create_directories(temp_path());
    fs::create_directories(dir_.path() + "/blobs");
    auto d = TempBlobDir::Open(temp_path(), Options());
    ASSERT_TRUE(d.ok()) << d.status();
    temps_ = *d;
    ASSERT_EQ(temps_->uses_tmpfile(), GetParam()) << "O_TMPFILE unsupported here?";
  }
  TempBlobOptions Options() const {
    TempBlobOptions opts;
    opts.unnamed = GetParam();
    opts.link_empty_path = false;
    return opts;
  }
  std::string temp_path() const { return dir_.path() + "/tmp"; }
  std::string Target(const std::string& name) const { return dir_.path() + "/blobs/ab/" + name; }
  // Writes `data` in pieces of `piece` bytes and commits it to `target`.
  absl::StatusOr<bool> Put(const std::string& target, const std::string& data, uint64_t size_hint,
                           size_t piece) {
    auto blob = temps_->Create(size_hint);
    if (!blob.ok()) return blob.status();
    for (size_t off = 0; off < data.size(); off += piece) {
      std::string_view part = std::string_view(data).substr(off, piece);
      absl::Status s = (*blob)->Write(Bytes(part));
      if (!s.ok()) return s;
    }
    EXPECT_EQ((*blob)->size(), data.size());
    return (*blob)->Commit(target);
  }

  testing::TempDir dir_{"temp-blob"};
  std::shared_ptr<TempBlobDir> temps_;
};

INSTANTIATE_TEST_SUITE_P(Temps, TempBlobTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Unnamed" : "Named";
                         });

TEST_P(TempBlobTest, CommitPutsTheBytesAtTheTargetCreatingItsDirectory) {
  const std::string data = Pattern(100000);
  auto placed = Put(Target("one"), data, 0, 777);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_TRUE(*placed);
  EXPECT_EQ(ReadFile(Target("one")), data);
  EXPECT_TRUE(FilesUnder(temp_path()).empty());
}

TEST_P(TempBlobTest, NothingIsAtTheTargetBeforeCommit) {
  auto blob = temps_->Create(0);
  ASSERT_TRUE(blob.ok()) << blob.status();
  ASSERT_TRUE((*blob)->Write(Bytes("partial")).ok());
  EXPECT_FALSE(fs::exists(Target("x")));
  // An unnamed temp file has no name at all; a named one is in the temp dir.
  EXPECT_EQ(FilesUnder(temp_path()).size(), GetParam() ? 0u : 1u);
  ASSERT_TRUE((*blob)->Commit(Target("x")).ok());
  EXPECT_EQ(ReadFile(Target("x")), "partial");
}

TEST_P(TempBlobTest, AnUncommittedBlobLeavesNoFile) {
  {
    auto blob = temps_->Create(0);
    ASSERT_TRUE(blob.ok()) << blob.status();
    ASSERT_TRUE((*blob)->Write(Bytes(Pattern(50000))).ok());
  }
  EXPECT_TRUE(FilesUnder(dir_.path()).empty());
}

TEST_P(TempBlobTest, AFileOfTheSameSizeAtTheTargetIsKept) {
  fs::create_directories(dir_.path() + "/blobs/ab");
  WriteFile(Target("d"), "12345");
  const ino_t before = Inode(Target("d"));
  auto placed = Put(Target("d"), "abcde", 5, 5);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_FALSE(*placed);
  EXPECT_EQ(Inode(Target("d")), before);
  EXPECT_EQ(ReadFile(Target("d")), "12345");
  EXPECT_TRUE(FilesUnder(temp_path()).empty());
}

TEST_P(TempBlobTest, AFileOfTheWrongSizeAtTheTargetIsReplaced) {
  fs::create_directories(dir_.path() + "/blobs/ab");
  WriteFile(Target("short"), "");  // as after a power loss
  auto placed = Put(Target("short"), "abcde", 0, 2);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_TRUE(*placed);
  EXPECT_EQ(ReadFile(Target("short")), "abcde");
  EXPECT_TRUE(FilesUnder(temp_path()).empty());
}

// Announced sizes at and around the O_DIRECT threshold, in aligned and odd
// pieces: every byte arrives whichever way it went.
TEST_P(TempBlobTest, BlobsOfEverySizeAroundTheDirectIoLimitRoundTrip) {
  const uint64_t direct_min = temps_->options().direct_io_min;
  int n = 0;
  for (uint64_t size :
       {direct_min - 1, direct_min, direct_min + 1, direct_min + 4096 + 17, uint64_t{3} << 20}) {
    for (size_t piece : {size_t{4096}, size_t{65536 + 3}, static_cast<size_t>(size)}) {
      const std::string data = Pattern(size);
      const std::string target = Target("s" + std::to_string(n++));
      auto placed = Put(target, data, size, piece);
      ASSERT_TRUE(placed.ok()) << placed.status() << " size " << size << " piece " << piece;
      EXPECT_EQ(ReadFile(target), data) << "size " << size << " piece " << piece;
    }
  }
  EXPECT_TRUE(FilesUnder(temp_path()).empty());
}

TEST_P(TempBlobTest, UseAfterCommitIsFailedPrecondition) {
  auto blob = temps_->Create(0);
  ASSERT_TRUE(blob.ok()) << blob.status();
  ASSERT_TRUE((*blob)->Write(Bytes("abc")).ok());
  ASSERT_TRUE((*blob)->Commit(Target("c")).ok());
  EXPECT_EQ((*blob)->Write(Bytes("more")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*blob)->Commit(Target("c2")).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(Target("c2")));
}

TEST_P(TempBlobTest, RemoveStaleRemovesOnlyOldRegularFiles) {
  const std::string stale = temp_path() + "/blob-stale";
  const std::string fresh = temp_path() + "/blob-fresh";
  WriteFile(stale, "x");
  WriteFile(fresh, "y");
  struct timeval old[2] = {{::time(nullptr) - 7200, 0}, {::time(nullptr) - 7200, 0}};
  ASSERT_EQ(::utimes(stale.c_str(), old), 0);
  temps_->RemoveStale(std::chrono::hours(1));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
}

TEST(TempBlobDir, OpenOfAMissingDirectoryNamesIt) {
  testing::TempDir dir{"temp-blob"};
  auto d = TempBlobDir::Open(dir.path() + "/missing", {});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(d.status().message().find(dir.path() + "/missing"), std::string::npos);
}

}  // namespace
}  // namespace castor::castore
