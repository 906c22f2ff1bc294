#include "castore/maintenance/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace castor::castore {
namespace {

// Opens (creating) DIR/name for locking.
absl::StatusOr<int> OpenLockFile(const std::string& dir, const std::string& path) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir ", dir));
  }
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  return fd;
}

// flock(op), retried on EINTR.
int Flock(int fd, int op) {
  int rc;
  do {
    rc = flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

// The file's format: "program NAME", "pid N" and "address A" lines.
std::string EncodeHolder(const ServeLock::Holder& h) {
  std::string out = absl::StrCat("program ", h.program, "\npid ", h.pid, "\n");
  for (const std::string& a : h.addresses) absl::StrAppend(&out, "address ", a, "\n");
  return out;
}

// Reads what the holder recorded; lenient (it may be rewriting it).
ServeLock::Holder ReadHolder(const std::string& path) {
  ServeLock::Holder h;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return h;
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof(buf), 0);
  close(fd);
  if (n <= 0) return h;
  std::vector<std::string> lines = absl::StrSplit(std::string(buf, n), '\n');
  for (const std::string& line : lines) {
    size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    std::string key = line.substr(0, space), value = line.substr(space + 1);
    if (key == "program") {
      h.program = value;
    } else if (key == "pid") {
      if (!absl::SimpleAtoi(value, &h.pid)) h.pid = 0;
    } else if (key == "address") {
      h.addresses.push_back(value);
    }
  }
  return h;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreLock>> StoreLock::Acquire(
    const std::string& dir, Mode mode, const std::function<void()>& waiting) {
  std::string path = absl::StrCat(dir, "/lock");
  ASSIGN_OR_RETURN(int fd, OpenLockFile(dir, path));
  std::unique_ptr<StoreLock> lock(new StoreLock(fd));
  int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
  if (Flock(fd, op | LOCK_NB) == 0) return lock;
  if (errno != EWOULDBLOCK) return ErrnoStatus(errno, absl::StrCat("flock ", path));
  if (waiting) waiting();
  if (Flock(fd, op) != 0) return ErrnoStatus(errno, absl::StrCat("flock ", path));
  return lock;
}

StoreLock::~StoreLock() { close(fd_); }

std::string ServeLock::Holder::Describe() const {
  if (program.empty() && pid == 0) return "another process";
  std::string out = absl::StrCat(program.empty() ? "a process" : program, " (pid ", pid);
  if (!addresses.empty()) absl::StrAppend(&out, ", serving ", absl::StrJoin(addresses, " and "));
  return out + ")";
}

absl::StatusOr<std::unique_ptr<ServeLock>> ServeLock::Take(const std::string& dir,
                                                           const Holder& holder, bool wait,
                                                           Holder* current) {
  std::string path = absl::StrCat(dir, "/serve.lock");
  ASSIGN_OR_RETURN(int fd, OpenLockFile(dir, path));
  std::unique_ptr<ServeLock> lock(new ServeLock(fd, path));
  if (Flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (wait || errno != EWOULDBLOCK) return ErrnoStatus(errno, absl::StrCat("flock ", path));
    if (current != nullptr) *current = ReadHolder(path);
    return nullptr;
  }
  RETURN_IF_ERROR(lock->Record(holder));
  return lock;
}

absl::StatusOr<std::unique_ptr<ServeLock>> ServeLock::TryAcquire(const std::string& dir,
                                                                 const Holder& holder,
                                                                 Holder* current) {
  return Take(dir, holder, /*wait=*/false, current);
}

absl::StatusOr<std::unique_ptr<ServeLock>> ServeLock::Acquire(const std::string& dir,
                                                              const Holder& holder) {
  return Take(dir, holder, /*wait=*/true, nullptr);
}

absl::Status ServeLock::Record(const Holder& holder) {
  std::string text = EncodeHolder(holder);
  if (ftruncate(fd_, 0) != 0 ||
      pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return ErrnoStatus(errno, absl::StrCat("writing ", path_));
  }
  return absl::OkStatus();
}

ServeLock::~ServeLock() { close(fd_); }

}  // namespace castor::castore
