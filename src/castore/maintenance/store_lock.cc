#include "castore/maintenance/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"

namespace castor::castore {

absl::StatusOr<std::unique_ptr<StoreLock>> StoreLock::Acquire(
    const std::string& dir, Mode mode, const std::function<void()>& waiting) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir ", dir));
  }
  std::string path = absl::StrCat(dir, "/lock");
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::unique_ptr<StoreLock> lock(new StoreLock(fd));
  int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
  if (flock(fd, op | LOCK_NB) == 0) return lock;
  if (errno != EWOULDBLOCK) return ErrnoStatus(errno, absl::StrCat("flock ", path));
  if (waiting) waiting();
  while (flock(fd, op) != 0) {
    if (errno != EINTR) return ErrnoStatus(errno, absl::StrCat("flock ", path));
  }
  return lock;
}

StoreLock::~StoreLock() { close(fd_); }

}  // namespace castor::castore
