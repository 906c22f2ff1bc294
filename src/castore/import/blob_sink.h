// BlobSink: stores one blob from a stream of chunks, hashing as it goes and
// skipping the write when the blob is already stored. Up to kBuffered bytes
// are held back: a blob that fits is hashed first and written only when it
// is missing (no wasted write, the common case for small files); a longer
// one streams through a PrehashedBlobWriter (the sink's hash is the only
// one) and is dropped (never put in place) when the same blob turns out to
// be stored already. One thread at a time, except that Hash and Store may
// run on two (see there).
//
// PutWhole is the same rule for bytes already in memory (a small file read
// whole): hash, ask whether the blob is stored, write only when it is not.
//
// The hash is a blake3_tree::GroupHasher in the service's TreeGroupSize()
// groups: the one pass yields the digest and the blob's group CVs, which go
// to the writer's Close, so a store that keeps trees beside its blobs (a
// local store's outboards) keeps them without another pass.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/status.h"
#include "castore/blake3_tree.h"
#include "castore/blob/blob_service.h"
#include "castore/digest.h"

namespace castor::castore {

class BlobSink {
 public:
  static constexpr size_t kBuffered = 1 << 20;

  // `size_hint`: the blob's expected size when known, else 0 (passed to
  // BlobService::OpenPrehashedWrite).
  explicit BlobSink(BlobService& blobs, uint64_t size_hint = 0)
      : blobs_(blobs), size_hint_(size_hint), hasher_(HashGroupSize(blobs)) {}

  // Hashes `data` and stores it: Hash(data), then Store(data).
  absl::Status Append(std::span<const uint8_t> data) {
    Hash(data);
    return Store(data);
  }
  // Append in two halves, for a caller that writes one piece while it
  // hashes the next: every byte goes to both, in the same order. Hash and
  // Store may run at the same time on two threads (each on one thread at a
  // time); Finish once both have taken every byte.
  void Hash(std::span<const uint8_t> data);
  absl::Status Store(std::span<const uint8_t> data);

  struct Result {
    B3Digest digest;
    uint64_t size = 0;
    // True when this sink stored the blob (it was not there before).
    bool is_new = false;
  };
  // Finishes the blob. A stored blob of the same digest but a different size
  // (a short file left by a crash) is not trusted: the blob is written again.
  absl::StatusOr<Result> Finish();

  // Stores `data` as one blob unless a blob of the same digest and size is
  // stored already; `data` is handed to the writer as it is (no copy).
  static absl::StatusOr<Result> PutWhole(BlobService& blobs, std::span<const uint8_t> data);

 private:
  // The group size to hash `blobs`' blobs in: the one of the trees it
  // keeps, else blake3_tree::kDefaultGroupSize.
  static uint64_t HashGroupSize(const BlobService& blobs);
  // Writes `data`, hashed as `tree`, unless it is stored already.
  static absl::StatusOr<Result> PutHashed(BlobService& blobs,
                                          const blake3_tree::GroupHasher::Result& tree,
                                          std::span<const uint8_t> data);

  BlobService& blobs_;
  const uint64_t size_hint_;
  // Hash's.
  blake3_tree::GroupHasher hasher_;
  uint64_t size_ = 0;
  // Store's.
  std::string buffer_;
  std::unique_ptr<PrehashedBlobWriter> writer_;
  uint64_t stored_ = 0;
};

// A StatusOr's error annotated with `context` (Annotate), or its value.
template <typename T>
absl::StatusOr<T> AnnotateOr(absl::StatusOr<T> v, std::string_view context) {
  if (!v.ok()) return Annotate(v.status(), context);
  return v;
}

// Whether `digest` is stored with exactly `size` bytes (the dedup check);
// false when what is stored there is damaged beyond that (DataLoss).
absl::StatusOr<bool> HasBlobOfSize(BlobService& blobs, const B3Digest& digest, uint64_t size);

}  // namespace castor::castore
