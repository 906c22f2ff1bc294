#include "castore/blob/memory_blob_service.h"

#include <algorithm>
#include <cstring>

#include "base/status.h"

namespace castor::castore {
namespace {

class MemoryReader : public BlobReader {
 public:
  explicit MemoryReader(std::shared_ptr<const std::string> data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_->size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    if (offset >= data_->size()) return 0;
    size_t n = std::min<uint64_t>(buf.size(), data_->size() - offset);
    std::memcpy(buf.data(), data_->data() + offset, n);
    return n;
  }

 private:
  std::shared_ptr<const std::string> data_;
};

// Gathers a blob's bytes and hashes them as they come; Finish stores the
// blob. Serves both writer interfaces.
class MemoryBlobBuilder {
 public:
  explicit MemoryBlobBuilder(MemoryBlobService* service) : service_(service) {}
  absl::Status Write(std::span<const uint8_t> data) {
    if (closed_) return absl::FailedPreconditionError("blob writer already closed");
    data_.append(reinterpret_cast<const char*>(data.data()), data.size());
    hasher_.Update(data);
    return absl::OkStatus();
  }
  // Stores the blob unless `claimed` is given and differs from its digest;
  // true when this call stored it (atomic: of concurrent builders of one
  // blob, one gets true).
  absl::StatusOr<bool> Finish(const B3Digest* claimed, B3Digest* digest) {
    if (closed_) return absl::FailedPreconditionError("blob writer already closed");
    closed_ = true;
    *digest = hasher_.Finalize();
    if (claimed != nullptr) RETURN_IF_ERROR(CheckPrehashedDigest(*claimed, *digest));
    return service_->Insert(*digest, std::make_shared<const std::string>(std::move(data_)));
  }
  uint64_t bytes_written() const { return data_.size(); }

 private:
  MemoryBlobService* service_;
  std::string data_;
  Blake3Hasher hasher_;
  bool closed_ = false;
};

class MemoryWriter : public BlobWriter {
 public:
  explicit MemoryWriter(MemoryBlobService* service) : builder_(service) {}
  absl::Status Write(std::span<const uint8_t> data) override { return builder_.Write(data); }
  absl::StatusOr<B3Digest> Close() override {
    B3Digest digest;
    RETURN_IF_ERROR(builder_.Finish(nullptr, &digest).status());
    return digest;
  }
  uint64_t bytes_written() const override { return builder_.bytes_written(); }

 private:
  MemoryBlobBuilder builder_;
};

class MemoryPrehashedWriter : public PrehashedBlobWriter {
 public:
  explicit MemoryPrehashedWriter(MemoryBlobService* service) : builder_(service) {}
  absl::Status Write(std::span<const uint8_t> data) override { return builder_.Write(data); }
  // Keeps no trees: `group_cvs` is not used.
  absl::StatusOr<bool> Close(const B3Digest& digest,
                             std::span<const blake3_tree::Cv> /*group_cvs*/) override {
    B3Digest actual;
    return builder_.Finish(&digest, &actual);
  }
  uint64_t bytes_written() const override { return builder_.bytes_written(); }

 private:
  MemoryBlobBuilder builder_;
};

}  // namespace

bool MemoryBlobService::Insert(const B3Digest& digest, std::shared_ptr<const std::string> data) {
  castor::MutexLock lock(&mu_);
  return blobs_.try_emplace(digest, std::move(data)).second;
}

absl::StatusOr<bool> MemoryBlobService::Has(const B3Digest& digest) {
  castor::MutexLock lock(&mu_);
  return blobs_.contains(digest);
}

absl::StatusOr<std::unique_ptr<BlobReader>> MemoryBlobService::OpenRead(const B3Digest& digest) {
  castor::MutexLock lock(&mu_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return nullptr;
  return std::make_unique<MemoryReader>(it->second);
}

absl::StatusOr<std::unique_ptr<BlobWriter>> MemoryBlobService::OpenWrite() {
  return std::make_unique<MemoryWriter>(this);
}

absl::StatusOr<std::unique_ptr<PrehashedBlobWriter>> MemoryBlobService::OpenPrehashedWrite(
    uint64_t /*size_hint*/) {
  return std::make_unique<MemoryPrehashedWriter>(this);
}

absl::StatusOr<std::optional<std::vector<ChunkMeta>>> MemoryBlobService::Chunks(
    const B3Digest& digest) {
  castor::MutexLock lock(&mu_);
  if (!blobs_.contains(digest)) return std::nullopt;
  return std::vector<ChunkMeta>{};
}

absl::Status MemoryBlobService::ForEach(
    const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) {
  std::vector<std::pair<B3Digest, uint64_t>> all;
  {
    castor::MutexLock lock(&mu_);
    for (const auto& [d, data] : blobs_) all.emplace_back(d, data->size());
  }
  for (const auto& [d, size] : all) {
    absl::Status s = fn(d, size);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status MemoryBlobService::Delete(const B3Digest& digest) {
  castor::MutexLock lock(&mu_);
  blobs_.erase(digest);
  return absl::OkStatus();
}

}  // namespace castor::castore
