// LocalBlobService (`file:///path`): one file per blob under
// PATH/b3/<first 2 hex digits>/<64 hex digits>. Thread-safe; its readers and
// writers belong to one thread at a time (ReadAt excepted).
//
// Writes go to a temp file in PATH/tmp (same filesystem; TempBlob, in
// temp_blob.h): an unnamed O_TMPFILE file linked into place (linkat) once the
// digest is known, or, where the filesystem lacks O_TMPFILE, a named one
// renamed into place; so a partially written blob is never visible.
// OpenWrite's writer hashes what it receives; OpenPrehashedWrite's trusts the
// digest its in-process caller computed over the same bytes (the importer),
// unless the store was opened with verify_prehashed. Blobs whose size is
// known to be large are written with O_DIRECT (no page-cache copy, no
// dirty-page writeback left for the final sync; the last partial block goes
// through the page cache), smaller ones through the page cache with writeback
// started at close. No per-file fsync: Sync() makes everything renamed so far
// durable with one syncfs(2), shared by concurrent callers (group commit,
// GroupSync; see docs/design.md, Durability). A dedup hit (the target already
// exists) is trusted only when its size matches; a file of the wrong size
// (e.g. short after a power loss) is replaced.
//
// Stale temp files (from a writer that crashed) are removed when the store is
// opened, if they are older than kStaleTempAge: younger ones may belong to a
// live writer in another process sharing the store.
//
// Reads are verified by range (OpenRead's readers are ChunkedBlobReaders
// over the blob's file): a blob is cut into groups of group_size bytes, and
// every group a read touches is read from the file and checked against its
// BLAKE3 chaining value before a byte of it is handed out, so bytes that
// rotted on disk after the blob was written (or after it was first read)
// are DataLoss, never served. The CVs come from the blob's tree. For blobs
// of at least persist_tree_min bytes it is stored as a bao outboard in
// PATH/outboard/16k/<2 hex>/<64 hex> (16k: the group size) when the blob is
// written, from the same pass that hashed it (OpenWrite's writer hashes in
// groups; OpenPrehashedWrite's takes the caller's group CVs, see
// PrehashedBlobWriter::Close; a dedup hit writes nothing); a process loads
// it and checks it against the digest (a rotten outboard is recomputed,
// never trusted). A blob without one (a smaller one, one stored by an older
// castor, or one whose outboard was lost) has its tree computed by one pass
// over the file at the first read that needs it (concurrent first reads
// share that pass) and checked against the digest; its outboard is stored
// then if it is big enough. Trees are kept in memory too (bounded,
// LayoutCache). A blob of at most one group is
// hashed whole each time it is read from disk. Blob files are opened with
// O_NOFOLLOW | O_NONBLOCK: anything but a regular file at a blob's path (a
// FIFO, a symlink, a device) is DataLoss naming the path, never a hang.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "castore/blob/blob_service.h"
#include "castore/blob/chunk_layout.h"
#include "castore/blob/group_sync.h"
#include "castore/blob/layout_cache.h"
#include "castore/blob/temp_blob.h"

namespace castor::castore {

struct LocalBlobOptions {
#ifdef NDEBUG
  static constexpr bool kDebugBuild = false;
#else
  static constexpr bool kDebugBuild = true;
#endif
  // Prehashed writers hash what they receive too and refuse (DataLoss,
  // nothing stored) a digest the bytes do not hash to. On in debug builds.
  bool verify_prehashed = kDebugBuild;
  // Blobs announced (size_hint) with at least this many bytes are written
  // with O_DIRECT where the filesystem supports it; 0: never.
  uint64_t direct_io_min = 256 << 10;
  // Unnamed (O_TMPFILE) temp files where the filesystem has them; false:
  // always named ones (tests cover both).
  bool unnamed_temps = true;
  // Name unnamed temp files with linkat(AT_EMPTY_PATH) where that is allowed
  // (CAP_DAC_READ_SEARCH); false: always through /proc/self/fd (tests cover
  // both).
  bool link_empty_path = true;
  // Start writeback of a page-cache-written blob when it is closed
  // (sync_file_range, asynchronous), so the final Sync has less left to do.
  bool early_writeback = true;
  // How Sync flushes the store's filesystem (tests make it fail).
  std::function<int(int fd)> syncfs = ::syncfs;
  // Verified reads check groups of this many bytes (a power of two of at
  // least 1 KiB): a read from disk reads and hashes whole groups, and a
  // blob's tree holds a 32-byte CV per group (64 bytes in its outboard).
  // 16 KiB: a random 4 KiB read hashes 16 KiB (about 6 us here), the tree
  // is 0.4% of the blob on disk, and 16 BLAKE3 chunks fill the widest SIMD
  // batch; docs/reliability.md has the measurements.
  uint64_t group_size = 16 << 10;
  // The trees of blobs of at least this many bytes are kept in the store
  // (smaller ones are cheaper to hash again than to load).
  uint64_t persist_tree_min = 1 << 20;
  // Trees kept in memory, least recently used dropped beyond this many
  // groups in total (32 bytes each: 32 MiB, the trees of 16 GiB of blobs).
  uint64_t max_tree_groups = 1 << 20;
};

class LocalBlobService : public BlobService, public std::enable_shared_from_this<LocalBlobService> {
 public:
  static constexpr std::chrono::seconds kStaleTempAge{3600};

  // A blob's file, open for reading (defined in the .cc; its readers share it).
  struct File;

  // Opens (creating PATH, PATH/b3 and PATH/tmp as needed) the store at the
  // absolute `path`. Errors name the path.
  static absl::StatusOr<std::shared_ptr<LocalBlobService>> Open(
      const std::string& path, const LocalBlobOptions& options = {});
  ~LocalBlobService() override;

  absl::StatusOr<bool> Has(const B3Digest& digest) override;
  // A reader that checks every group it reads (see above).
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override;
  // One stat(2), no open.
  absl::StatusOr<std::optional<uint64_t>> StoredSize(const B3Digest& digest) override;
  // A reader of the file as it is, unchecked.
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenReadUnverified(const B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override;
  absl::StatusOr<std::unique_ptr<PrehashedBlobWriter>> OpenPrehashedWrite(
      uint64_t size_hint) override;
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) override;
  absl::Status Sync() override;
  // Walks the shards; names that are not a blob of the right shard (temp
  // files, junk) are ignored.
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override;
  absl::Status Delete(const B3Digest& digest) override;

  const std::string& dir() const { return dir_; }
  // Where the blob's file is (or would be).
  std::string BlobPath(const B3Digest& digest) const;
  // Where the blob's tree is kept (or would be).
  std::string OutboardPath(const B3Digest& digest) const;
  uint64_t TreeGroupSize() const override { return options_.group_size; }
  // For this store's writers: keeps the tree (group CVs `cvs`, from the pass
  // that hashed the blob as it was written) of a blob just stored, when the
  // blob is big enough to have its tree kept (persist_tree_min) and `cvs`
  // is not empty.
  void KeepTree(const B3Digest& digest, uint64_t size, std::span<const blake3_tree::Cv> cvs) const;
  // Passes over whole blobs made to compute trees so far (tests, stats).
  uint64_t trees_computed() const { return trees_computed_.load(std::memory_order_relaxed); }
  std::string TempDir() const { return temps_->path(); }

  const LocalBlobOptions& options() const { return options_; }
  // Whether writers use unnamed O_TMPFILE files (probed at Open).
  bool uses_tmpfile() const { return temps_->uses_tmpfile(); }
  // Whether unnamed temp files are linked with AT_EMPTY_PATH (else via /proc).
  bool links_with_empty_path() const { return temps_->links_with_empty_path(); }
  // Results of Sync rounds kept for callers that have not picked them up
  // (tests: it stays bounded).
  size_t sync_results_kept() const { return sync_.results_kept(); }

 private:
  LocalBlobService(std::string store_dir, int dir_fd, std::shared_ptr<TempBlobDir> temps,
                   LocalBlobOptions options);
  // The blob's file, open; null when absent. DataLoss naming the path when
  // it is not a regular file.
  absl::StatusOr<std::shared_ptr<const File>> OpenFile(const B3Digest& digest) const;
  // The tree of the blob open as `file`: kept, loaded or computed (once for
  // concurrent callers).
  absl::StatusOr<std::shared_ptr<const ChunkLayout>> Tree(const std::shared_ptr<const File>& file);
  // The stored outboard of `file`'s blob checked against its digest; null
  // when there is none or it does not check out (logged).
  std::shared_ptr<const ChunkLayout> LoadTree(const File& file) const;
  // Keeps the tree of the blob `digest` of `size` bytes, whose group CVs
  // are `cvs`, in the store (failures are logged: it is only a shortcut).
  void SaveTree(const B3Digest& digest, uint64_t size, std::span<const blake3_tree::Cv> cvs) const;

  const std::string dir_;
  const int dir_fd_;                          // the store directory, for syncfs
  const std::shared_ptr<TempBlobDir> temps_;  // PATH/tmp: where writers write
  const LocalBlobOptions options_;
  LayoutCache trees_;
  std::atomic<uint64_t> trees_computed_{0};
  // Sync(): one syncfs of dir_fd_ per round, shared by concurrent callers.
  GroupSync sync_;
};

}  // namespace castor::castore
