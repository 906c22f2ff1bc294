#include "castore/import/blob_sink.h"

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"

namespace castor::castore {

absl::StatusOr<bool> HasBlobOfSize(BlobService& blobs, const B3Digest& digest,
                                   uint64_t size) {
  ASSIGN_OR_RETURN(auto reader, blobs.OpenRead(digest));
  return reader != nullptr && reader->size() == size;
}

absl::Status BlobSink::Append(std::span<const uint8_t> data) {
  hasher_.Update(data);
  size_ += data.size();
  if (writer_ == nullptr) {
    if (buffer_.size() + data.size() <= kBuffered) {
      buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(writer_, blobs_.OpenWrite());
    if (!buffer_.empty()) RETURN_IF_ERROR(writer_->Write(buffer_));
    buffer_.clear();
    buffer_.shrink_to_fit();
  }
  return writer_->Write(data);
}

absl::StatusOr<BlobSink::Result> BlobSink::Finish() {
  Result result{hasher_.Finalize(), size_, false};
  ASSIGN_OR_RETURN(bool present, HasBlobOfSize(blobs_, result.digest, size_));
  if (present) {
    writer_.reset();  // discards what was streamed
    return result;
  }
  if (writer_ == nullptr) {
    ASSIGN_OR_RETURN(writer_, blobs_.OpenWrite());
    RETURN_IF_ERROR(writer_->Write(buffer_));
  }
  ASSIGN_OR_RETURN(B3Digest stored, writer_->Close());
  writer_.reset();
  if (stored != result.digest) {
    return absl::DataLossError(absl::StrCat("blob service stored ", stored.ToB3(),
                                            " but the bytes hash to ", result.digest.ToB3()));
  }
  result.is_new = true;
  return result;
}

}  // namespace castor::castore
