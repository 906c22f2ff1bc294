// Verification of stored roots: every Directory in each root's closure is
// read (decoding and validation happen in DirectoryService::Get), every
// DirectoryNode's size is checked against its child, every referenced blob
// must exist with the size its FileNode states and hash to its digest. Each
// problem is reported with the root and the path inside it. Blobs are
// checked once each, in parallel; every path that references a bad blob is
// reported; a subtree shared by several paths is walked once and its
// problems reported at the first path. Nothing more than kMaxTreeDepth (2048)
// levels deep is walked: that depth is reported as a problem. Thread-safe
// when the services are.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/roots/root_service.h"

namespace castor::castore {

struct VerifyProblem {
  std::string root;
  // Path inside the root ("" for the root itself).
  std::string path;
  std::string message;
};

struct VerifyStats {
  uint64_t roots = 0, directories = 0, blobs = 0, blob_bytes = 0, problems = 0;
};

struct VerifyOptions {
  // Only these roots (all when empty). An unknown name is a problem.
  std::vector<std::string> roots;
  unsigned threads = 0;  // 0: one per core
};

// Calls `report` for each problem (from the calling thread). The returned
// status is an error only when the verification itself could not run (the
// root list is unreadable); problems are counted in the stats.
absl::StatusOr<VerifyStats> VerifyStore(BlobService& blobs, DirectoryService& directories,
                                        RootService& roots, const VerifyOptions& options,
                                        const std::function<void(const VerifyProblem&)>& report);

}  // namespace castor::castore
