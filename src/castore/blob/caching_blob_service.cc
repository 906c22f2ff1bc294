#include "castore/blob/caching_blob_service.h"

#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/store_metrics.h"
#include "spdlog/spdlog.h"

namespace castor::castore {

absl::StatusOr<bool> CachingBlobService::Has(const B3Digest& digest) {
  ASSIGN_OR_RETURN(bool here, local_->Has(digest));
  if (here) return true;
  return remote_->Has(digest);
}

absl::StatusOr<std::unique_ptr<BlobReader>> CachingBlobService::OpenRead(const B3Digest& digest) {
  return Open(digest, std::nullopt);
}

absl::StatusOr<std::unique_ptr<BlobReader>> CachingBlobService::OpenReadSized(
    const B3Digest& digest, uint64_t expected_size) {
  return Open(digest, expected_size);
}

absl::StatusOr<std::unique_ptr<BlobReader>> CachingBlobService::Open(
    const B3Digest& digest, std::optional<uint64_t> expected_size) {
  ASSIGN_OR_RETURN(auto cached, local_->OpenRead(digest));
  if (cached != nullptr) {
    store_metrics::CacheHit(store_metrics::Cache::kBlob);
    return cached;
  }
  store_metrics::CacheMiss(store_metrics::Cache::kBlob);
  if (layouts_ != nullptr) {
    // Read part of before: the kept layout opens it without the remote.
    ASSIGN_OR_RETURN(std::shared_ptr<const ChunkLayout> kept, layouts_->Load(digest));
    if (kept != nullptr) {
      ASSIGN_OR_RETURN(auto reader, remote_->OpenReadWithLayout(std::move(kept)));
      if (reader != nullptr && reader->KeepChunksIn(local_)) return reader;
    }
  }
  ASSIGN_OR_RETURN(auto remote, expected_size.has_value()
                                    ? remote_->OpenReadSized(digest, *expected_size)
                                    : remote_->OpenRead(digest));
  if (remote == nullptr) return nullptr;
  // A reader that fetches chunks on demand keeps each one here as it comes:
  // copying the whole blob now would fetch all of it.
  if (remote->KeepChunksIn(local_)) {
    if (layouts_ != nullptr) {
      if (std::shared_ptr<const ChunkLayout> layout = remote->KnownLayout(); layout != nullptr) {
        // Best effort: without it the next open asks the remote again.
        if (absl::Status s = layouts_->Save(*layout); !s.ok()) {
          spdlog::warn("keeping the layout of blob {}: {}", digest.ToB3(), ToStdView(s.message()));
        }
      }
    }
    return remote;
  }

  // Copy into the cache. A cache that cannot take it (disk full, ...) must
  // not fail the read: the remote reader is served instead.
  auto copy = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto writer, local_->OpenWrite());
    // Sized to the blob (at most 1 MiB) and not zeroed: most cached blobs
    // are small, and a zeroed 1 MiB each cost more than copying them.
    const size_t buf_size =
        static_cast<size_t>(std::clamp<uint64_t>(remote->size(), 1, uint64_t{1} << 20));
    auto buf_data = std::make_unique_for_overwrite<uint8_t[]>(buf_size);
    std::span<uint8_t> buf(buf_data.get(), buf_size);
    uint64_t offset = 0;
    while (offset < remote->size()) {
      ASSIGN_OR_RETURN(size_t n, remote->ReadAt(offset, buf));
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": remote ended at ",
                                                offset, " of ", remote->size(), " bytes"));
      }
      RETURN_IF_ERROR(writer->Write(std::span<const uint8_t>(buf.data(), n)));
      offset += n;
    }
    ASSIGN_OR_RETURN(B3Digest stored, writer->Close());
    if (stored != digest) {
      store_metrics::VerificationFailure(store_metrics::Verified::kBlob);
      return absl::DataLossError(
          absl::StrCat("blob ", digest.ToB3(), ": remote bytes hash to ", stored.ToB3()));
    }
    return absl::OkStatus();
  };
  absl::Status s = copy();
  // A full cache disk: a BoundedBlobStore made room, try once more.
  if (s.code() == absl::StatusCode::kResourceExhausted) s = copy();
  if (s.code() == absl::StatusCode::kDataLoss) return s;
  if (s.ok()) {
    ASSIGN_OR_RETURN(cached, local_->OpenRead(digest));
    if (cached != nullptr) return cached;
    // Bigger than a bounded cache's whole bound (bounded_blob_store.h).
    spdlog::debug("blob {} was not kept by the cache", digest.ToB3());
    return remote;
  }
  spdlog::warn("caching blob {}: {}", digest.ToB3(), ToStdView(s.message()));
  return remote;
}

absl::StatusOr<std::unique_ptr<BlobWriter>> CachingBlobService::OpenWrite() {
  return remote_->OpenWrite();
}

absl::StatusOr<std::optional<std::vector<ChunkMeta>>> CachingBlobService::Chunks(
    const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto here, local_->Chunks(digest));
  if (here.has_value()) return here;
  return remote_->Chunks(digest);
}

absl::StatusOr<std::string> CachingBlobService::ChunksOutboard(const B3Digest& digest) {
  // Chunks() answers from here first, and local chunk lists have none.
  ASSIGN_OR_RETURN(auto here, local_->Chunks(digest));
  if (here.has_value()) return std::string();
  return remote_->ChunksOutboard(digest);
}

absl::Status CachingBlobService::Sync() { return remote_->Sync(); }

absl::Status CachingBlobService::ForEach(
    const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) {
  return remote_->ForEach(fn);
}

absl::Status CachingBlobService::Delete(const B3Digest& digest) {
  RETURN_IF_ERROR(remote_->Delete(digest));
  return local_->Delete(digest);
}

}  // namespace castor::castore
