// BlobService: content-addressed storage of byte strings ("blobs") keyed by
// their BLAKE3 digest. Implementations are thread-safe; readers and writers
// they hand out belong to one thread at a time (BlobReader::ReadAt excepted,
// which may run concurrently on one reader).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "castore/blake3_tree.h"
#include "castore/digest.h"

namespace castor::castore {

struct ChunkMeta {
  B3Digest digest;
  uint64_t size = 0;
  friend bool operator==(const ChunkMeta&, const ChunkMeta&) = default;
};

class BlobService;
struct ChunkLayout;

// A seekable reader of one blob.
class BlobReader {
 public:
  virtual ~BlobReader() = default;

  // Total size of the blob in bytes.
  virtual uint64_t size() const = 0;

  // Reads up to buf.size() bytes at `offset` (positional; does not move the
  // cursor). Returns the number read: fewer only at the end of the blob, 0 at
  // or past it. Safe to call from several threads at once. Unavailable on
  // I/O errors, DataLoss when the backend detects corruption.
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const = 0;

  // Reads from the cursor and advances it.
  absl::StatusOr<size_t> Read(std::span<uint8_t> buf) {
    auto n = ReadAt(cursor_, buf);
    if (n.ok()) cursor_ += *n;
    return n;
  }
  // Moves the cursor (may go past the end; reads there return 0).
  void Seek(uint64_t offset) { cursor_ = offset; }
  uint64_t Tell() const { return cursor_; }

  // A file descriptor holding exactly this blob's bytes, when the backend
  // stores it as a local file (FUSE passthrough can hand it to the kernel);
  // -1 otherwise. Owned by the reader.
  virtual int LocalFd() const { return -1; }

  // True when every byte this reader hands out is checked against the blob's
  // digest before it is handed out: a remote client that downloaded and
  // hashed the whole blob, or a reader that checks each piece it reads
  // against a BLAKE3 tree verified against the digest (ChunkedBlobReader:
  // chunks fetched from a daemon, or pieces of a local blob file, checked as
  // they are read from disk). A caller must then not hash the whole blob
  // itself (that would read all of it).
  virtual bool Verified() const { return false; }

  // For readers that fetch a blob piecewise (ChunkedBlobReader): from now on
  // keep every chunk fetched in `store` (a blob under the chunk's digest) and
  // look there first, checking what is found like anything fetched. Returns
  // false when the reader does not fetch piecewise (a caching caller then
  // copies the whole blob instead). Call before sharing the reader.
  virtual bool KeepChunksIn(std::shared_ptr<BlobService> store) {
    (void)store;
    return false;
  }

  // For readers that fetch a blob piecewise by a layout checked against the
  // digest when the reader was made (ChunkedBlobReader): that layout, so a
  // cache can keep it and open the blob again later without asking for it
  // (BlobService::OpenReadWithLayout). Null otherwise.
  virtual std::shared_ptr<const ChunkLayout> KnownLayout() const { return nullptr; }

 private:
  uint64_t cursor_ = 0;
};

// Receives one blob's bytes; nothing is visible in the service before Close.
class BlobWriter {
 public:
  // Destroying a writer that was not closed discards what it received.
  virtual ~BlobWriter() = default;
  virtual absl::Status Write(std::span<const uint8_t> data) = 0;
  absl::Status Write(std::string_view data) {
    return Write(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  // Stores the blob under the digest of the bytes written and returns it.
  // May be called once.
  virtual absl::StatusOr<B3Digest> Close() = 0;
  // Bytes written so far.
  virtual uint64_t bytes_written() const = 0;
};

// Receives one blob's bytes from a caller that hashes them itself (the
// importer reads each file once and hashes what it reads), so that a byte is
// hashed once, not once by the caller and again by the service. In-process
// only: nothing that serves remote peers hands one out. One thread at a time.
class PrehashedBlobWriter {
 public:
  // Destroying a writer that was not closed discards what it received.
  virtual ~PrehashedBlobWriter() = default;
  virtual absl::Status Write(std::span<const uint8_t> data) = 0;
  // Stores the blob under `digest`, which the caller computed over exactly
  // the bytes it wrote. Returns true when this writer stored the blob, false
  // when a blob of that digest and size was stored already (what was written
  // is dropped). DataLoss when the service checks `digest` and the bytes do
  // not hash to it (see BlobService::OpenPrehashedWrite): nothing is stored
  // under `digest` then. May be called once (either form).
  //
  // `group_cvs`: the CVs of the blob's groups of the service's
  // TreeGroupSize() bytes, from the caller's blake3_tree::GroupHasher (the
  // pass that gave `digest`), or empty. A service that keeps trees beside its
  // blobs keeps these instead of computing them at the first read (it drops
  // them with the bytes on a dedup hit), and refuses CVs that are not one
  // per group with InvalidArgument, or, when it checks prehashed writes, not
  // the blob's with DataLoss (nothing stored); other services ignore them.
  virtual absl::StatusOr<bool> Close(const B3Digest& digest,
                                     std::span<const blake3_tree::Cv> group_cvs) = 0;
  absl::StatusOr<bool> Close(const B3Digest& digest) { return Close(digest, {}); }
  virtual uint64_t bytes_written() const = 0;
};

class BlobService {
 public:
  virtual ~BlobService() = default;

  // Whether the blob is stored. Unavailable on backend errors.
  virtual absl::StatusOr<bool> Has(const B3Digest& digest) = 0;

  // A reader, or null when the blob is not stored.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) = 0;

  // OpenRead for a caller that knows the blob's size from a node. A hint
  // (the reader's size() stays the truth): a remote backend uses it to
  // fetch a small blob whole in one round trip instead of first asking
  // whether it comes in chunks, and stops a whole download there, so a blob
  // longer than its node says is DataLoss rather than a download without
  // bound. Defaults to OpenRead.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenReadSized(const B3Digest& digest,
                                                                    uint64_t expected_size) {
    (void)expected_size;
    return OpenRead(digest);
  }

  // The stored blob's size, nullopt when it is not stored: the import's
  // dedup check and the daemon's closure check ask this of every file.
  // Defaults to OpenRead's size(); a backend answers it cheaper when it can
  // (a stat for local files).
  virtual absl::StatusOr<std::optional<uint64_t>> StoredSize(const B3Digest& digest);

  // OpenRead for a caller that checks every byte it reads itself (hashes
  // the whole blob, or checks each piece against a verified tree) and hands
  // out none before: a reader that may skip the backend's own checks (a
  // LocalBlobService reader hashes each piece it reads), so that bytes are
  // not hashed twice. Defaults to OpenRead.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenReadUnverified(const B3Digest& digest) {
    return OpenRead(digest);
  }

  // A writer for a new blob.
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() = 0;

  // The group size of the BLAKE3 trees (blake3_tree.h) this service keeps
  // beside its blobs (LocalBlobService's outboards), 0 when it keeps none. A
  // caller of OpenPrehashedWrite that hashes with a GroupHasher of this size
  // hands the group CVs to PrehashedBlobWriter::Close.
  virtual uint64_t TreeGroupSize() const { return 0; }

  // A writer for a caller that hashes the bytes itself; `size_hint` is the
  // expected size when known (a backend may pick its I/O strategy from it),
  // else 0. This default hashes again (OpenWrite) and refuses a mismatching
  // digest with DataLoss, so it is safe for every backend; a backend that
  // trusts its in-process callers overrides it to skip the second hash
  // (LocalBlobService, unless opened with verify_prehashed).
  virtual absl::StatusOr<std::unique_ptr<PrehashedBlobWriter>> OpenPrehashedWrite(
      uint64_t size_hint);

  // The blob's chunk list: nullopt when the blob is not stored, empty when it
  // is stored whole.
  virtual absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) = 0;

  // For a blob whose Chunks() are content-defined (not its groups): the bao
  // outboard of its groups (blake3_tree.h) when the backend keeps one, so
  // that a server can hand out a layout a client checks chunk by chunk
  // (VerifyChunkLayout); "" when it has none.
  virtual absl::StatusOr<std::string> ChunksOutboard(const B3Digest& digest) {
    (void)digest;
    return std::string();
  }

  // A reader of blob `layout->digest` whose layout the caller already holds,
  // checked against the digest (kept from an earlier reader's KnownLayout()):
  // no round trip asks for it, and only the chunks a read needs are fetched,
  // each checked as OpenRead's reader checks it. Null when this backend does
  // not fetch blobs by layout (the default); a blob that is gone shows as
  // DataLoss at the first read of a chunk that cannot be fetched.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenReadWithLayout(
      std::shared_ptr<const ChunkLayout> layout) {
    (void)layout;
    return nullptr;
  }

  // Makes every blob closed so far durable (one syncfs for local files;
  // concurrent callers may share one). Call before committing a reference.
  virtual absl::Status Sync() = 0;

  // Calls `fn` for every stored blob with its size (for gc and verify). Stops
  // at the first error `fn` returns. Unimplemented for remote backends.
  virtual absl::Status ForEach(
      const std::function<absl::Status(const B3Digest&, uint64_t size)>& fn) = 0;

  // Removes a blob (gc). OK when it was not there. Unimplemented for remote
  // backends.
  virtual absl::Status Delete(const B3Digest& digest) = 0;
};

// For PrehashedBlobWriter::Close: OK when the bytes written hash to the
// digest the caller claimed, else DataLoss naming both.
absl::Status CheckPrehashedDigest(const B3Digest& claimed, const B3Digest& actual);

// Reads the whole blob and checks it hashes to `digest`: OK, NotFound when
// absent, DataLoss naming the digest on a mismatch or a short read.
absl::Status VerifyBlob(BlobService& service, const B3Digest& digest);

// Reads the whole of `reader` (positionally, without moving its cursor) and
// checks it hashes to `digest`: DataLoss naming the digest on a mismatch or a
// short read; the reader's own errors otherwise.
absl::Status VerifyReader(const BlobReader& reader, const B3Digest& digest);

// Stores `data` as a blob and returns its digest.
absl::StatusOr<B3Digest> PutBlob(BlobService& service, std::string_view data);

// Reads a whole blob into memory (tests and small blobs only); nullopt when
// absent.
absl::StatusOr<std::optional<std::string>> ReadBlob(BlobService& service, const B3Digest& digest);

}  // namespace castor::castore
