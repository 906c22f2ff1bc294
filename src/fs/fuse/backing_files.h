// BackingFiles: registration of local files with a FUSE connection for
// passthrough (protocol 7.40), so the kernel reads such a file itself and
// READ requests for it never reach the daemon. The filesystem decides what
// to register; a transport implements the registration (over /dev/fuse:
// fs/transport/dev_backing_files.h), which keeps src/fs/fuse and the
// filesystem free of device I/O and testable with a fake.
// Implementations are thread-safe: Open and Close run concurrently from
// any number of request threads.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace castor::fs::fuse {

class BackingFiles {
 public:
  virtual ~BackingFiles() = default;

  // Registers the open file `fd` (which the caller keeps owning; the
  // kernel takes its own reference) and returns its backing id, > 0, for
  // fuse_open_out. Errors: PermissionDenied (no CAP_SYS_ADMIN, or the
  // connection did not agree to passthrough), Unimplemented (the kernel has
  // no passthrough), FailedPrecondition (no connection yet; the file's file
  // system is stacked too deep), others for this file only.
  virtual absl::StatusOr<int32_t> Open(int fd) = 0;
  // Drops backing id `id`. Files the kernel opened with it keep reading.
  // NotFound for an unknown id.
  virtual absl::Status Close(int32_t id) = 0;
};

}  // namespace castor::fs::fuse
