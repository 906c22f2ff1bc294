// Garbage collection: deletes the blobs and Directories that no root
// reaches.
//
// Safety against a concurrent import (the argument, also in docs/gc.md):
// an import writes blobs and Directories that nothing references until its
// root is committed, and it may *reuse* an object that is already stored
// (dedup) without writing it again. A collector that ran in between could
// delete such an object and the import would commit a root pointing at
// nothing. So imports and gc exclude each other with a StoreLock on the
// store directory: an import holds it shared from before its first dedup
// check until after its root commit; gc holds it exclusively from before it
// reads the roots until its last delete. Any number of imports run
// together; gc waits for them to finish (and new imports wait for gc). Under
// the exclusive lock every object is either reachable from a committed root
// or garbage left by an import that failed, was interrupted or crashed.
// A crashed import leaves no lock behind (flock dies with the process).
// Clients of a daemon hold no StoreLock; instead the daemon holds the
// store's ServeLock (store_lock.h), so no local gc runs beside it, runs gc
// itself with its root Puts excluded, and refuses a root whose closure is
// not wholly stored (closure_check.h; docs/gc.md).
//
// Marking aborts on any error (a missing or corrupt Directory): gc never
// deletes anything while it cannot see the whole reachable set. Run
// `castor verify` to find the problem.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/roots/root_service.h"

namespace castor::castore {

struct GcStats {
  uint64_t roots = 0;
  uint64_t blobs_kept = 0, blobs_deleted = 0, bytes_kept = 0, bytes_freed = 0;
  uint64_t directories_kept = 0, directories_deleted = 0;
};

// The caller holds the store's exclusive StoreLock. With dry_run nothing is
// deleted and the stats say what would be.
absl::StatusOr<GcStats> CollectGarbage(BlobService& blobs, DirectoryService& directories,
                                       RootService& roots, bool dry_run);

}  // namespace castor::castore
