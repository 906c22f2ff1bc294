// Helpers for the import/export tests: tree building and tree comparison
// (and castore/testing/temp_dir.h's TempDir). Test-only.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/status.h"
#include "castore/import/export.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor::castore::testing {

inline void WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

inline void MakeDir(const std::string& path) { ASSERT_EQ(mkdir(path.c_str(), 0755), 0) << path; }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Describes a tree as sorted lines: "path kind details" (type, exec bit,
// contents, symlink target), for EXPECT_EQ between source and export.
inline void DescribeTree(const std::string& root, const std::string& rel,
                         std::vector<std::string>& out) {
  std::string path = rel.empty() ? root : root + "/" + rel;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    out.push_back(rel + " MISSING");
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(4096, '\0');
    ssize_t n = readlink(path.c_str(), target.data(), target.size());
    target.resize(n < 0 ? 0 : n);
    out.push_back(rel + " symlink " + target);
  } else if (S_ISREG(st.st_mode)) {
    out.push_back(rel + " file " + ((st.st_mode & S_IXUSR) ? "x " : "- ") + ReadFile(path));
  } else if (S_ISDIR(st.st_mode)) {
    out.push_back(rel + " dir");
    std::vector<std::string> names;
    DIR* d = opendir(path.c_str());
    while (struct dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) DescribeTree(root, rel.empty() ? n : rel + "/" + n, out);
  } else {
    out.push_back(rel + " special");
  }
}

inline std::vector<std::string> DescribeTree(const std::string& root) {
  std::vector<std::string> out;
  DescribeTree(root, "", out);
  return out;
}

// Raises the soft open-file limit to at least `n` (a deep walk holds a
// descriptor per level, as the castor command allows for by raising its
// own); false when the hard limit is lower.
inline bool RaiseOpenFileLimit(rlim_t n) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur >= n) return true;
  if (rl.rlim_max < n) return false;
  rl.rlim_cur = n;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

// Creates `path` and a chain of `levels` directories named "d" below it
// (with *at calls: the chain may be longer than a PATH_MAX path).
inline void MakeDeepDirs(const std::string& path, size_t levels) {
  MakeDir(path);
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  for (size_t i = 0; i < levels; ++i) {
    ASSERT_EQ(mkdirat(fd, "d", 0755), 0) << i;
    int child = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(fd);
    ASSERT_GE(child, 0) << i;
    fd = child;
  }
  close(fd);
}

// Stores a chain of `levels` Directories, each holding one entry "d" that
// leads to the next, ending in an empty one; returns the top.
inline DirectoryNode PutDeepChain(DirectoryService& dirs, size_t levels) {
  auto leaf = Directory::Create({});
  CASTOR_CHECK(leaf.ok());
  DirectoryNode node{leaf->digest(), leaf->size()};
  CASTOR_CHECK(dirs.Put(*leaf).ok());
  for (size_t i = 0; i < levels; ++i) {
    auto d = Directory::Create({Entry{*PathComponent::Create("d"), node}});
    CASTOR_CHECK(d.ok());
    CASTOR_CHECK(dirs.Put(*d).ok());
    node = DirectoryNode{d->digest(), d->size()};
  }
  return node;
}

// Removes a chain of directories named "d" below `path`, and `path`, however
// deep it is (RemoveTree stops at kMaxTreeDepth): the top link is cut off
// and its child moved up, one level at a time.
inline void RemoveDeepDirs(const std::string& path) {
  std::string moved = path + ".next";
  while (rename((path + "/d").c_str(), moved.c_str()) == 0) {
    ASSERT_EQ(rmdir(path.c_str()), 0) << path;
    ASSERT_EQ(rename(moved.c_str(), path.c_str()), 0) << path;
  }
  ASSERT_EQ(errno, ENOENT) << path;
  ASSERT_EQ(rmdir(path.c_str()), 0) << path;
}

}  // namespace castor::castore::testing
