// Test helpers for files seen from outside: writing a fixture file, and
// reading a file or listing a directory through a mount while remembering
// the errno the kernel gave (the assertions of the mount tests are about
// which errno, and that no byte came with it).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace castor::castore::testing {

// Creates or truncates `path` with `data` (mode 0644); a failure fails the test.
inline void WriteFile(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size())) << path;
  ::close(fd);
}

struct ReadResult {
  int error = 0;     // errno of the failing call, 0 when the whole file was read
  std::string data;  // what was read before it failed, or all of it
};

// Reads the file at `path` to its end with read(2), 64 KiB at a time.
inline ReadResult ReadAll(const std::string& path) {
  ReadResult r;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.error = errno;
    return r;
  }
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      r.error = errno;
      break;
    }
    if (n == 0) break;
    r.data.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return r;
}

struct ListResult {
  int error = 0;                // errno of opendir or readdir, 0 when the listing was whole
  std::set<std::string> names;  // without "." and "..", empty on error
};

inline ListResult ListNames(const std::string& path) {
  ListResult r;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) {
    r.error = errno;
    return r;
  }
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") r.names.insert(n);
    errno = 0;
  }
  r.error = errno;
  ::closedir(d);
  if (r.error != 0) r.names.clear();
  return r;
}

// Regular files below `dir`, as paths relative to it.
inline std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), dir).string());
  }
  return out;
}

}  // namespace castor::castore::testing
