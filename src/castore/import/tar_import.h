// Tar import: a tar archive (plain, gzip, bzip2, xz or zstd, detected from
// its contents) becomes a castore directory tree without being unpacked to
// disk. Entries are streamed with libarchive; each file's bytes go through a
// BlobSink (hashed while written, skipped when already stored).
//
// Rules: absolute names, `..` components and names that are not valid
// PathComponents are rejected (the whole import fails naming the entry);
// names more than kMaxTreeDepth (2048) components deep (deeper than a PATH_MAX
// path) are rejected; `.` components and repeated slashes are ignored; parent directories that
// the archive does not list are created; a later entry of the same name
// replaces an earlier one (tar's extraction semantics); hard links take the
// content of their (earlier) target; device, FIFO and socket entries fail.
// Sparse entries (GNU tar's formats, which bsdtar writes too) are stored
// whole, their holes as zeros, at the entry's size; a sparse map with blocks
// out of order, overlapping or past that size fails naming the entry.
//
// Thread-safety: thread-safe when the services are (single-threaded inside).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/import/import.h"

namespace castor::castore {

// Imports the archive at `path` ("-" reads standard input). The result is
// always a directory node (the archive's top level).
absl::StatusOr<ImportResult> ImportTar(BlobService& blobs, DirectoryService& directories,
                                       const std::string& path, const ImportOptions& options = {});

// The same for an archive held in memory (`bytes`, only read during the
// call); `what` names the archive in errors.
absl::StatusOr<ImportResult> ImportTarBytes(BlobService& blobs, DirectoryService& directories,
                                            std::span<const uint8_t> bytes, const std::string& what,
                                            const ImportOptions& options = {});

}  // namespace castor::castore
