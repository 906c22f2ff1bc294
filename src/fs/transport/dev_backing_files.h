// DevBackingFiles: fuse::BackingFiles over a /dev/fuse connection, through
// the FUSE_DEV_IOC_BACKING_OPEN / _CLOSE ioctls (protocol 7.40). It is made
// before the mount and attached to the connection's descriptor once the
// mount exists (DevFuseSession calls MountOptions::on_connection before its
// workers start, so before the INIT reply and any OPEN).
// Thread-safe: Attach once, then Open and Close from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "fs/fuse/backing_files.h"

namespace castor::fs::transport {

class DevBackingFiles : public fuse::BackingFiles {
 public:
  DevBackingFiles() = default;
  // Closes its copy of the connection's descriptor (the kernel drops the
  // ids still registered when the connection ends).
  ~DevBackingFiles() override;
  DevBackingFiles(const DevBackingFiles&) = delete;
  DevBackingFiles& operator=(const DevBackingFiles&) = delete;

  // Uses a copy (dup) of `fuse_fd`, a /dev/fuse descriptor of the
  // connection; later calls are ignored. Unavailable when dup fails.
  absl::Status Attach(int fuse_fd);

  // Errors map the ioctl's errno: EPERM -> PermissionDenied (no
  // CAP_SYS_ADMIN or no passthrough agreed), ENOTTY / EOPNOTSUPP / EINVAL
  // -> Unimplemented (a kernel without passthrough), ELOOP ->
  // FailedPrecondition (the file's file system is stacked too deep), no
  // Attach yet -> FailedPrecondition; each names the descriptor.
  absl::StatusOr<int32_t> Open(int fd) override;
  absl::Status Close(int32_t id) override;

 private:
  std::atomic<int> fd_{-1};
};

}  // namespace castor::fs::transport
