#include "castore/blob/blob_service.h"

#include <algorithm>
#include <memory>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/store_metrics.h"

namespace castor::castore {

absl::Status VerifyReader(const BlobReader& reader, const B3Digest& digest) {
  Blake3Hasher hasher;
  // At most 1 MiB, and no more than the blob needs: a byte past its size
  // shows a reader longer than it says. Not zeroed (the reads fill it): a
  // zeroed 1 MiB per blob cost more than hashing a small one.
  const size_t buf_size = static_cast<size_t>(std::min<uint64_t>(reader.size() + 1, 1 << 20));
  auto buf_data = std::make_unique_for_overwrite<uint8_t[]>(buf_size);
  std::span<uint8_t> buf(buf_data.get(), buf_size);
  uint64_t total = 0;
  while (true) {
    auto n = reader.ReadAt(total, buf);
    if (!n.ok()) return Annotate(n.status(), absl::StrCat("blob ", digest.ToB3()));
    if (*n == 0) break;
    hasher.Update(std::span<const uint8_t>(buf.data(), *n));
    total += *n;
  }
  if (total != reader.size()) {
    return absl::DataLossError(
        absl::StrCat("blob ", digest.ToB3(), ": read ", total, " bytes, expected ", reader.size()));
  }
  B3Digest actual = hasher.Finalize();
  if (actual != digest) {
    store_metrics::VerificationFailure(store_metrics::Verified::kBlob);
    return absl::DataLossError(
        absl::StrCat("blob ", digest.ToB3(), ": stored bytes hash to ", actual.ToB3()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<uint64_t>> BlobService::StoredSize(const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto reader, OpenRead(digest));
  if (reader == nullptr) return std::nullopt;
  return reader->size();
}

absl::Status VerifyBlob(BlobService& service, const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto reader, service.OpenReadUnverified(digest));
  if (reader == nullptr) {
    return absl::NotFoundError(absl::StrCat("blob ", digest.ToB3(), " not found"));
  }
  return VerifyReader(*reader, digest);
}

namespace {

// BlobService::OpenPrehashedWrite's default: an ordinary writer, whose own
// digest must equal the caller's.
class CheckedPrehashedWriter : public PrehashedBlobWriter {
 public:
  CheckedPrehashedWriter(BlobService& service, std::unique_ptr<BlobWriter> writer)
      : service_(service), writer_(std::move(writer)) {}

  absl::Status Write(std::span<const uint8_t> data) override {
    if (writer_ == nullptr) return absl::FailedPreconditionError("blob writer already closed");
    return writer_->Write(data);
  }

  // `group_cvs` is not needed: the ordinary writer computes whatever tree
  // its service keeps.
  absl::StatusOr<bool> Close(const B3Digest& digest,
                             std::span<const blake3_tree::Cv> /*group_cvs*/) override {
    if (writer_ == nullptr) return absl::FailedPreconditionError("blob writer already closed");
    std::unique_ptr<BlobWriter> writer = std::move(writer_);
    // Already stored with this size: drop what was written (the stored blob
    // stays as it is, whatever the caller's bytes were). A stored blob of
    // another size (short after a crash) is not trusted: written again.
    ASSIGN_OR_RETURN(auto reader, service_.OpenRead(digest));
    if (reader != nullptr && reader->size() == writer->bytes_written()) return false;
    reader.reset();
    ASSIGN_OR_RETURN(B3Digest stored, writer->Close());
    RETURN_IF_ERROR(CheckPrehashedDigest(digest, stored));
    return true;
  }

  uint64_t bytes_written() const override { return writer_ ? writer_->bytes_written() : 0; }

 private:
  BlobService& service_;
  std::unique_ptr<BlobWriter> writer_;
};

}  // namespace

absl::Status CheckPrehashedDigest(const B3Digest& claimed, const B3Digest& actual) {
  if (claimed == actual) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("blob written as ", claimed.ToB3(), " but its bytes hash to ", actual.ToB3()));
}

absl::StatusOr<std::unique_ptr<PrehashedBlobWriter>> BlobService::OpenPrehashedWrite(
    uint64_t /*size_hint*/) {
  ASSIGN_OR_RETURN(auto writer, OpenWrite());
  return std::make_unique<CheckedPrehashedWriter>(*this, std::move(writer));
}

absl::StatusOr<B3Digest> PutBlob(BlobService& service, std::string_view data) {
  ASSIGN_OR_RETURN(auto writer, service.OpenWrite());
  RETURN_IF_ERROR(writer->Write(data));
  return writer->Close();
}

absl::StatusOr<std::optional<std::string>> ReadBlob(BlobService& service, const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto reader, service.OpenRead(digest));
  if (reader == nullptr) return std::nullopt;
  std::string out(reader->size(), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ASSIGN_OR_RETURN(
        size_t n,
        reader->ReadAt(done, std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()) + done,
                                                out.size() - done)));
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat("blob ", digest.ToB3(), ": short read at ", done, " of ", out.size()));
    }
    done += n;
  }
  return out;
}

}  // namespace castor::castore
