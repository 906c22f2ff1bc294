// The completeness check of a root before it is committed: everything the
// root refers to must be stored. A castor daemon runs it on every root Put,
// under the lock its own gc takes exclusively, so that a client that
// deduplicated against an object which a gc then removed gets an error
// instead of a root pointing at nothing (docs/gc.md). Thread-safe when the
// services are.
#pragma once

#include "absl/status/status.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/node.h"

namespace castor::castore {

// Checks that every Directory of `root`'s closure is stored (each digest read
// once, however often it is shared) and every blob it refers to is stored
// with the size its node states. FailedPrecondition names the first missing
// Directory or blob and its path ("root/a/b"); InvalidArgument names a blob
// (or the root Directory) whose stored size differs from its node's.
// Costs one Directory read per distinct Directory and one blob lookup per
// distinct blob.
absl::Status CheckClosureStored(BlobService& blobs, DirectoryService& directories,
                                const Entry& root);

}  // namespace castor::castore
