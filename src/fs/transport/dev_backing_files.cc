#include "fs/transport/dev_backing_files.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "fs/fuse/abi.h"

namespace castor::fs::transport {
namespace {

absl::Status IoctlStatus(int err, const std::string& what) {
  std::string message = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case EPERM:
      return absl::PermissionDeniedError(
          absl::StrCat(message, " (needs CAP_SYS_ADMIN and a connection that agreed to it)"));
    case ENOTTY:
    case EOPNOTSUPP:
    case EINVAL:
      return absl::UnimplementedError(
          absl::StrCat(message, " (a kernel without FUSE passthrough)"));
    case ELOOP:
      return absl::FailedPreconditionError(absl::StrCat(
          message, " (the file's file system is stacked deeper than the mount allows)"));
    case ENOENT:
      return absl::NotFoundError(message);
    default:
      return ErrnoStatus(err, what);
  }
}

}  // namespace

DevBackingFiles::~DevBackingFiles() {
  int fd = fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
}

absl::Status DevBackingFiles::Attach(int fuse_fd) {
  if (fd_.load() >= 0) return absl::OkStatus();
  int copy = ::fcntl(fuse_fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ErrnoStatus(errno, "dup of the /dev/fuse descriptor");
  int expected = -1;
  if (!fd_.compare_exchange_strong(expected, copy)) ::close(copy);
  return absl::OkStatus();
}

absl::StatusOr<int32_t> DevBackingFiles::Open(int fd) {
  int dev = fd_.load();
  if (dev < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("FUSE passthrough of descriptor ", fd, ": no FUSE connection yet"));
  }
  fuse::FuseBackingMap map{};
  map.fd = fd;
  int id = ::ioctl(dev, fuse::kDevIocBackingOpen, &map);
  if (id < 0) {
    return IoctlStatus(errno, absl::StrCat("FUSE_DEV_IOC_BACKING_OPEN of descriptor ", fd));
  }
  return static_cast<int32_t>(id);
}

absl::Status DevBackingFiles::Close(int32_t id) {
  int dev = fd_.load();
  if (dev < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("closing FUSE backing id ", id, ": no FUSE connection"));
  }
  uint32_t arg = static_cast<uint32_t>(id);
  if (::ioctl(dev, fuse::kDevIocBackingClose, &arg) != 0) {
    return IoctlStatus(errno, absl::StrCat("FUSE_DEV_IOC_BACKING_CLOSE of backing id ", id));
  }
  return absl::OkStatus();
}

}  // namespace castor::fs::transport
