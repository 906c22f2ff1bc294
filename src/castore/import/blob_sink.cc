#include "castore/import/blob_sink.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore {

absl::StatusOr<bool> HasBlobOfSize(BlobService& blobs, const B3Digest& digest, uint64_t size) {
  auto stored = blobs.StoredSize(digest);
  // Something that is not the blob sits where it belongs (a store damaged
  // on disk): storing the blob again replaces it.
  if (stored.status().code() == absl::StatusCode::kDataLoss) return false;
  if (!stored.ok()) return stored.status();
  return *stored == size;
}

void BlobSink::Hash(std::span<const uint8_t> data) {
  hasher_.Update(data);
  size_ += data.size();
}

absl::Status BlobSink::Store(std::span<const uint8_t> data) {
  stored_ += data.size();
  if (writer_ == nullptr) {
    if (buffer_.size() + data.size() <= kBuffered) {
      buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(writer_, blobs_.OpenPrehashedWrite(std::max(size_hint_, stored_)));
    if (!buffer_.empty()) {
      RETURN_IF_ERROR(writer_->Write(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size())));
    }
    buffer_.clear();
    buffer_.shrink_to_fit();
  }
  return writer_->Write(data);
}

uint64_t BlobSink::HashGroupSize(const BlobService& blobs) {
  const uint64_t kept = blobs.TreeGroupSize();
  return kept != 0 ? kept : blake3_tree::kDefaultGroupSize;
}

absl::StatusOr<BlobSink::Result> BlobSink::PutHashed(BlobService& blobs,
                                                     const blake3_tree::GroupHasher::Result& tree,
                                                     std::span<const uint8_t> data) {
  Result result{tree.digest, data.size(), false};
  ASSIGN_OR_RETURN(bool present, HasBlobOfSize(blobs, tree.digest, data.size()));
  if (present) return result;
  ASSIGN_OR_RETURN(auto writer, blobs.OpenPrehashedWrite(data.size()));
  RETURN_IF_ERROR(writer->Write(data));
  // Close drops the bytes when the blob was stored meanwhile (same size).
  ASSIGN_OR_RETURN(result.is_new, writer->Close(tree.digest, tree.cvs));
  return result;
}

absl::StatusOr<BlobSink::Result> BlobSink::PutWhole(BlobService& blobs,
                                                    std::span<const uint8_t> data) {
  blake3_tree::GroupHasher hasher(HashGroupSize(blobs));
  hasher.Update(data);
  return PutHashed(blobs, hasher.Finish(), data);
}

absl::StatusOr<BlobSink::Result> BlobSink::Finish() {
  CASTOR_CHECK(stored_ == size_);
  const blake3_tree::GroupHasher::Result tree = hasher_.Finish();
  if (writer_ == nullptr) {
    return PutHashed(
        blobs_, tree,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size()));
  }
  Result result{tree.digest, size_, false};
  // Close drops the bytes (and the CVs) when the blob is stored already
  // (same size).
  ASSIGN_OR_RETURN(result.is_new, writer_->Close(tree.digest, tree.cvs));
  writer_.reset();
  return result;
}

}  // namespace castor::castore
