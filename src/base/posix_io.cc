#include "base/posix_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor {

absl::Status WriteAll(int fd, std::span<const uint8_t> data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = RetryOnEintr([&] { return ::write(fd, data.data(), data.size()); });
    if (n < 0) return ErrnoStatus(errno, what);
    data = data.subspan(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view data, std::string_view what) {
  return WriteAll(fd, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()), what);
}

absl::StatusOr<size_t> ReadFull(int fd, std::span<uint8_t> buf, std::string_view what) {
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = RetryOnEintr([&] { return ::read(fd, buf.data() + got, buf.size() - got); });
    if (n < 0) return ErrnoStatus(errno, what);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

absl::StatusOr<size_t> PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset,
                                 std::string_view what) {
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = RetryOnEintr([&] {
      return ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(offset + got));
    });
    if (n < 0) return ErrnoStatus(errno, what);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

absl::Status MkdirIfMissing(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path));
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status MkdirAll(const std::string& path, mode_t mode) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    if (path[pos - 1] == '/') continue;  // "//" or a trailing slash
    RETURN_IF_ERROR(MkdirIfMissing(path.substr(0, pos), mode));
  }
  return absl::OkStatus();
}

absl::StatusOr<TempFile> CreateTempFile(const std::string& dir, const TempFileOptions& options) {
  const int flags = O_RDWR | O_CLOEXEC | options.extra_flags;
  if (options.unnamed) {
    int fd = ::open(dir.c_str(), O_TMPFILE | flags, 0600);
    if (fd >= 0) return TempFile{UniqueFd(fd), ""};
    // EOPNOTSUPP: this filesystem has no O_TMPFILE; EISDIR: nor the kernel.
    // Any other error (EINVAL for O_DIRECT, EACCES, ENOSPC) the named file
    // below meets too and reports.
  }
  std::string path = absl::StrCat(dir, "/", ToAbslView(options.prefix), "-XXXXXX");
  int fd = ::mkostemp(path.data(), O_CLOEXEC | options.extra_flags);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create temp file in ", dir));
  if (options.unnamed && !options.linkable) {
    ::unlink(path.c_str());
    path.clear();
  }
  return TempFile{UniqueFd(fd), std::move(path)};
}

namespace {

// `depth`: levels below the top of the removal.
absl::Status RemoveAt(int dirfd, const char* name, const std::string& path, size_t depth,
                      size_t max_depth) {
  struct stat st;
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("lstat ", path));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name, 0) != 0) return ErrnoStatus(errno, absl::StrCat("unlink ", path));
    return absl::OkStatus();
  }
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    absl::Status s = ErrnoStatus(errno, absl::StrCat("opendir ", path));
    ::close(fd);
    return s;
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
  std::vector<std::string> names;
  while (struct dirent* de = ::readdir(d)) {
    std::string_view n = de->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  for (const std::string& n : names) {
    std::string child = JoinPath(path, n);
    if (depth == max_depth) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot remove '", child, "': more than ", max_depth, " levels deep"));
    }
    RETURN_IF_ERROR(RemoveAt(fd, n.c_str(), child, depth + 1, max_depth));
  }
  closer.reset();
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rmdir ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RemoveTreeAt(int dirfd, const char* name, const std::string& path, size_t max_depth) {
  return RemoveAt(dirfd, name, path, 0, max_depth);
}

absl::Status RemoveTree(const std::string& path, size_t max_depth) {
  return RemoveAt(AT_FDCWD, path.c_str(), path, 0, max_depth);
}

std::pair<std::string, std::string> SplitParent(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {".", std::string(path)};
  if (path == "/") return {"/", ""};
  std::string parent = slash == 0 ? "/" : std::string(path.substr(0, slash));
  return {std::move(parent), std::string(path.substr(slash + 1))};
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(ToAbslView(dir), ToAbslView(name));
  return absl::StrCat(ToAbslView(dir), "/", ToAbslView(name));
}

}  // namespace castor
