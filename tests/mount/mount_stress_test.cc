// Load on a real mount: many threads reading many files at once (every byte
// checked), and a million-entry tree whose inodes the kernel forgets again
// when its caches are dropped.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "mount_fixture.h"

namespace castor::testing {
namespace {

using castore::Entry;

std::string Content(int i) {
  std::mt19937 rng(i);
  std::string s(rng() % 40000, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(MountStressTest, SixteenThreadsReadAThousandFilesConcurrently) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  castore::Services s = MemoryServices();
  constexpr int kFiles = 1000;
  std::vector<std::string> contents(kFiles);
  std::vector<Entry> entries;
  for (int i = 0; i < kFiles; ++i) {
    contents[i] = Content(i);
    entries.push_back(Entry{Name(absl::StrCat("f", i)), PutFile(s, contents[i])});
  }
  // One big file read by every thread at scattered offsets.
  std::string big = Content(123456) + Content(7) + std::string(3 << 20, 'x') + Content(8);
  entries.push_back(Entry{Name("big"), PutFile(s, big)});
  PutRoot(s, "tree", PutDir(s, std::move(entries)));
  auto m = MountedFs::Mount(s, {.threads = 4});
  ASSERT_NE(m, nullptr);

  std::atomic<int> failures{0};
  std::atomic<long> bytes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> order(kFiles);
      for (int i = 0; i < kFiles; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(t));
      std::vector<char> buf(64 * 1024);
      for (int k = 0; k < kFiles; ++k) {
        int i = order[k];
        // Each thread reads a different subset whole; all read some files.
        if ((i + t) % 4 != 0) continue;
        int fd = open(m->Path(absl::StrCat("tree/f", i)).c_str(), O_RDONLY);
        if (fd < 0) {
          ++failures;
          continue;
        }
        std::string got;
        ssize_t n;
        while ((n = read(fd, buf.data(), buf.size())) > 0) got.append(buf.data(), n);
        close(fd);
        if (n < 0 || got != contents[i]) ++failures;
        bytes += got.size();
      }
      int fd = open(m->Path("tree/big").c_str(), O_RDONLY);
      if (fd < 0) {
        ++failures;
        return;
      }
      std::mt19937_64 rng(t);
      for (int r = 0; r < 200; ++r) {
        size_t off = rng() % big.size();
        size_t len = 1 + rng() % buf.size();
        ssize_t n = pread(fd, buf.data(), len, off);
        size_t want = std::min(len, big.size() - off);
        if (n != static_cast<ssize_t>(want) ||
            std::memcmp(buf.data(), big.data() + off, want) != 0) {
          ++failures;
        }
      }
      close(fd);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(bytes.load(), 0);
}

TEST(MountStressTest, MillionEntryWalkThenDroppedCachesShrinkTheInodeTable) {
  if (!CanMount()) GTEST_SKIP() << "/dev/fuse not usable";
  if (geteuid() != 0) GTEST_SKIP() << "dropping caches needs root";
  auto start = std::chrono::steady_clock::now();
  castore::Services s = MemoryServices();
  constexpr int kDirs = 1000, kPerDir = 1000;
  std::vector<Entry> top;
  for (int d = 0; d < kDirs; ++d) {
    std::vector<Entry> files;
    files.reserve(kPerDir);
    for (int f = 0; f < kPerDir; ++f) {
      // Distinct fake digests: stat needs no blob.
      uint64_t id = uint64_t(d) * kPerDir + f;
      castore::FileNode node{
          castore::B3Digest::Of(std::string_view(reinterpret_cast<const char*>(&id), sizeof(id))),
          id % 4096, false};
      files.push_back(Entry{Name(absl::StrCat("file", f)), node});
    }
    top.push_back(Entry{Name(absl::StrCat("dir", d)), PutDir(s, std::move(files))});
  }
  PutRoot(s, "big", PutDir(s, std::move(top)));
  auto m = MountedFs::Mount(s, {.threads = 2});
  ASSERT_NE(m, nullptr);

  // The walk: list every directory and stat every entry (find -printf does
  // the same), keeping nothing open.
  size_t seen = 0;
  for (int d = 0; d < kDirs; ++d) {
    std::string dir = m->Path(absl::StrCat("big/dir", d));
    DIR* h = opendir(dir.c_str());
    ASSERT_NE(h, nullptr) << dir;
    while (dirent* e = readdir(h)) {
      struct stat st;
      ASSERT_EQ(fstatat(dirfd(h), e->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
      ASSERT_TRUE(S_ISREG(st.st_mode));
      ++seen;
    }
    closedir(h);
  }
  EXPECT_EQ(seen, size_t{kDirs} * kPerDir);
  size_t after_walk = m->fs().inode_count();
  // Each distinct file is one inode; the kernel may already have evicted a
  // few under memory pressure.
  EXPECT_GT(after_walk, size_t{kDirs} * kPerDir / 2);

  // Dropping dentries and inodes makes the kernel FORGET them.
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "2", 1), 1);
  close(fd);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (m->fs().inode_count() > after_walk / 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  size_t after_drop = m->fs().inode_count();
  EXPECT_LT(after_drop, after_walk / 100) << "after walk " << after_walk;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("1M-entry walk: %zu inodes after the walk, %zu after drop_caches, %.1f s\n",
              after_walk, after_drop, secs);
}

}  // namespace
}  // namespace castor::testing
