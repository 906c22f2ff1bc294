// The POSIX I/O loops every layer needs, written once: writes and reads that
// go on until done (retrying EINTR, continuing after short transfers),
// mkdir -p, temporary files (O_TMPFILE where the filesystem has it), removal
// of a tree with a depth bound, and path splitting. Errors are ErrnoStatus
// values naming the object. Stateless; safe from any thread.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace castor {

// Calls `f` again while it fails with EINTR (returns a negative value with
// errno EINTR); its last result, errno intact.
template <typename F>
auto RetryOnEintr(F f) -> decltype(f()) {
  decltype(f()) r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

// Writes all of `data` to `fd`. `what` names the write in an error
// ("write /x/y").
absl::Status WriteAll(int fd, std::span<const uint8_t> data, std::string_view what);
absl::Status WriteAll(int fd, std::string_view data, std::string_view what);

// Reads into `buf` until it is full or the file ends: the count (short only
// at the end of the file). `what` names the read in an error.
absl::StatusOr<size_t> ReadFull(int fd, std::span<uint8_t> buf, std::string_view what);

// The same at `offset`, with pread (the file position is not used).
absl::StatusOr<size_t> PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset,
                                 std::string_view what);

// mkdir `path` unless it is a directory already (FailedPrecondition when it
// exists as something else).
absl::Status MkdirIfMissing(const std::string& path, mode_t mode = 0755);

// mkdir -p: every missing directory on `path`, each as MkdirIfMissing.
absl::Status MkdirAll(const std::string& path, mode_t mode = 0755);

struct TempFileOptions {
  // A file without a name (O_TMPFILE), gone when its descriptor closes;
  // linkat through /proc/self/fd can still give it one. Where the filesystem
  // has no O_TMPFILE, a named file is made instead: see `linkable`.
  bool unnamed = false;
  // With `unnamed`, when O_TMPFILE is not there: true keeps the named file
  // (its path is returned, so the caller can rename it into place); false
  // unlinks it at once (a scratch file nobody sees).
  bool linkable = false;
  // Named files are DIR/PREFIX-XXXXXX.
  std::string_view prefix = "tmp";
  // Added to O_RDWR | O_CLOEXEC, e.g. O_DIRECT.
  int extra_flags = 0;
};

struct TempFile {
  UniqueFd fd;
  std::string path;  // empty when the file has no name
};

// Creates a temporary file (mode 0600) in the directory `dir`.
absl::StatusOr<TempFile> CreateTempFile(const std::string& dir, const TempFileOptions& options);

// Removes `name` in the directory `dirfd` (AT_FDCWD: relative to the working
// directory), and everything below it when it is a directory, without
// following symlinks; a missing entry is fine. `path` names it in errors.
// Refuses (InvalidArgument, naming the entry) to go more than `max_depth`
// levels below it: the bound is the caller's (castore's kMaxTreeDepth).
absl::Status RemoveTreeAt(int dirfd, const char* name, const std::string& path, size_t max_depth);
absl::Status RemoveTree(const std::string& path, size_t max_depth);

// "a/b/c" -> {"a/b", "c"}; "/c" -> {"/", "c"}; "c" -> {".", "c"}. Trailing
// slashes are dropped first ("a/b/" -> {"a", "b"}); "/" -> {"/", ""}.
std::pair<std::string, std::string> SplitParent(std::string_view path);

// dir + "/" + name, with no doubled slash; `name` alone when `dir` is empty.
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace castor
