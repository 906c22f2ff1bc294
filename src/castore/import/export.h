// Export: a castore node back to the local filesystem, exactly (types, the
// executable bit, symlink targets, bytes; directories 0755, files 0644 or
// 0755). Everything is created with *at calls relative to an open parent
// directory and O_NOFOLLOW / O_EXCL, so a symlink planted in the destination
// can never redirect a write. Every file's bytes are checked against its
// digest while they are copied. A tree more than kMaxTreeDepth (2048) levels
// deep (which only a damaged or hostile store holds) fails with
// InvalidArgument naming the path, as does removing one with --force.
// Thread-safe when the services are.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/node.h"

namespace castor::castore {

struct ExportOptions {
  // Replace an existing DEST (it is removed first, without following links).
  bool force = false;
};

struct ExportStats {
  uint64_t files = 0, directories = 0, symlinks = 0, bytes = 0;
};

// Writes `node` at `dest`. AlreadyExists when dest exists and !force;
// NotFound/DataLoss naming the digest and path for missing or corrupt
// objects; errno-derived codes naming the path for filesystem errors.
absl::StatusOr<ExportStats> ExportNode(BlobService& blobs, DirectoryService& directories,
                                       const Node& node, const std::string& dest,
                                       const ExportOptions& options = {});

}  // namespace castor::castore
