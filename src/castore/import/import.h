// Import: a local filesystem tree (or a tar archive, see tar_import.h)
// becomes castore blobs and Directories, and finally a named root.
//
// ImportPath walks the tree on the calling thread and hashes+stores files on
// a pool of worker threads (more than cores: they wait for I/O). Each file
// is read once, in bounded chunks, and each byte hashed once, by a BlobSink
// (blob_sink.h) that hands the same bytes on to a PrehashedBlobWriter; a blob
// that is already stored (same digest, same size) is not written again. A
// file of more than 32 MiB is read and hashed by its worker while a thread
// of its own writes the pieces read before (at most three 4 MiB pieces in
// flight), so one big file is not read, hashed and written in turn.
// Directories are built bottom-up by a TreeBuilder (tree_builder.h) once
// every file below them is stored and go to one DirectoryPutter, leaves
// first. Nothing is referenced by a root:
// CommitRoot makes the blobs durable (BlobService::Sync) and only then sets
// the root, so a crash or error at any point leaves no half-visible root.
// Entries more than kMaxTreeDepth (2048) levels below the top are refused
// (InvalidArgument naming the path).
//
// Thread-safety: the functions are thread-safe when the services are;
// ImportProgress is updated by the import and may be read concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/node.h"
#include "castore/roots/root_service.h"

namespace castor::castore {

// Live counters, for a progress display.
struct ImportProgress {
  std::atomic<uint64_t> files_found{0};
  std::atomic<uint64_t> bytes_found{0};
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
  // Set once the whole tree has been listed (totals are final).
  std::atomic<bool> scan_done{false};
};

struct ImportOptions {
  // Worker threads reading, hashing and storing files; 0: four per core
  // (8 to 32), as they spend much of their time waiting for I/O.
  unsigned threads = 0;
  // Polled often; when it becomes true the import stops with Cancelled.
  const std::atomic<bool>* cancel = nullptr;
  ImportProgress* progress = nullptr;
};

struct ImportStats {
  uint64_t files = 0;
  uint64_t directories = 0;
  uint64_t symlinks = 0;
  // Sum of the file sizes (hard links counted once per name).
  uint64_t bytes = 0;
  // Bytes of blobs this import wrote because they were not stored yet.
  uint64_t bytes_new = 0;
  uint64_t blobs_new = 0;
  std::chrono::steady_clock::duration elapsed{};
};

struct ImportResult {
  Node node;
  ImportStats stats;
};

// Imports `path` (a directory, a regular file or a symlink, which is not
// followed). Errors name the path: InvalidArgument for special files
// (devices, FIFOs, sockets) and invalid names, PermissionDenied /
// Unavailable for unreadable entries, Aborted for a file that changed while
// it was read, NotFound for a missing path, Cancelled when options.cancel
// was set. Blobs and Directories already written stay as unreferenced
// objects for `castor gc`.
absl::StatusOr<ImportResult> ImportPath(BlobService& blobs, DirectoryService& directories,
                                        const std::string& path, const ImportOptions& options = {});

// Makes every blob durable (blobs.Sync()) and then sets the root `name`.
absl::Status CommitRoot(BlobService& blobs, RootService& roots, const Entry& root);

// Runs `run_import` and commits its node as the root `name` (CommitRoot). A
// castor daemon refuses a root whose closure is not wholly stored with
// FailedPrecondition: its gc removed something this import reused (or wrote)
// before the root made it reachable. With `retry`, the import then runs once
// more — its dedup checks now see what is missing, so it stores it again —
// after calling `retrying` with the refusal, and commits again; a second
// refusal is returned. (The source must be readable twice: not a pipe.)
absl::StatusOr<ImportResult> ImportAndCommit(
    BlobService& blobs, RootService& roots, const PathComponent& name,
    const std::function<absl::StatusOr<ImportResult>()>& run_import, bool retry,
    const std::function<void(const absl::Status&)>& retrying = nullptr);

// Stores one file's contents read from `fd` (positioned at 0) whose fstat
// size is `expected_size`, for ImportPath and tests. `what` names the file in
// errors. Sets *is_new when the blob was not stored before. A change of the
// file while it is read (size or mtime) is an error; `mtime_at_open`, when
// given, is the mtime of the caller's fstat after opening (spares one fstat).
absl::StatusOr<B3Digest> StoreFileContents(BlobService& blobs, int fd, uint64_t expected_size,
                                           const std::string& what, bool* is_new,
                                           const std::atomic<bool>* cancel = nullptr,
                                           ImportProgress* progress = nullptr,
                                           const struct timespec* mtime_at_open = nullptr);

}  // namespace castor::castore
