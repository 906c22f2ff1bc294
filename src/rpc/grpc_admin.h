// The client of castor.v1.AdminService: gc run by a daemon (`castor gc
// --root-service-addr grpc+...`). Thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "castore/maintenance/gc.h"

namespace castor::rpc {

// Asks the daemon at `address` (grpc+unix:///... or grpc+http://...) to
// collect garbage. No deadline: gc of a big store takes long, and it may
// first wait for local imports; keepalive pings notice a daemon that died or
// hangs. UNIMPLEMENTED (the daemon serves no AdminService) and
// PERMISSION_DENIED come back with a message saying what to do.
absl::StatusOr<castore::GcStats> CollectGarbageThrough(const std::string& address, bool dry_run);

}  // namespace castor::rpc
