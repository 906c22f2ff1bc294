#include "castore/blob/chunk_index.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore {
namespace {

// A range of another blob's reader.
class RangeReader : public BlobReader {
 public:
  RangeReader(std::unique_ptr<BlobReader> inner, uint64_t offset, uint64_t size)
      : inner_(std::move(inner)), offset_(offset), size_(size) {}
  uint64_t size() const override { return size_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    if (offset >= size_) return 0;
    size_t n = std::min<uint64_t>(buf.size(), size_ - offset);
    return inner_->ReadAt(offset_ + offset, buf.first(n));
  }
  bool Verified() const override { return inner_->Verified(); }

 private:
  std::unique_ptr<BlobReader> inner_;
  uint64_t offset_;
  uint64_t size_;
};

}  // namespace

ChunkIndex::ChunkIndex(std::shared_ptr<BlobService> blobs, Options options)
    : blobs_(std::move(blobs)), options_(options), layouts_(options.max_chunks) {
  CASTOR_CHECK(blake3_tree::IsValidGroupSize(options_.chunk_size));
  CASTOR_CHECK(options_.min_blob_size >= options_.chunk_size);
}

absl::StatusOr<std::shared_ptr<const ChunkLayout>> ChunkIndex::Layout(const B3Digest& digest,
                                                                      const BlobReader& reader) {
  if (reader.size() <= options_.min_blob_size) return nullptr;
  auto compute = [&]() -> absl::StatusOr<std::shared_ptr<const ChunkLayout>> {
    uint64_t chunk_size = options_.chunk_size;
    while (chunk_size <= kMaxLayoutChunkSize &&
           blake3_tree::GroupCount(reader.size(), chunk_size) > options_.max_chunks_per_blob) {
      chunk_size *= 2;
    }
    if (chunk_size > kMaxLayoutChunkSize) return nullptr;  // served whole
    ASSIGN_OR_RETURN(ChunkLayout computed, ComputeChunkLayout(reader, digest, chunk_size));
    return std::make_shared<const ChunkLayout>(std::move(computed));
  };
  std::vector<std::shared_ptr<const ChunkLayout>> evicted;
  ASSIGN_OR_RETURN(std::shared_ptr<const ChunkLayout> layout,
                   layouts_.Get(digest, compute, &evicted));
  castor::MutexLock lock(&mu_);
  for (const auto& victim : evicted) {
    for (const ChunkMeta& c : victim->chunks) {
      auto ref = chunks_.find(c.digest);
      if (ref != chunks_.end() && ref->second.blob == victim->digest) chunks_.erase(ref);
    }
  }
  if (layout != nullptr) IndexChunks(*layout);
  return layout;
}

void ChunkIndex::IndexChunks(const ChunkLayout& layout) {
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    chunks_.try_emplace(layout.chunks[i].digest,
                        ChunkRef{layout.digest, layout.offset(i), layout.chunks[i].size});
  }
}

bool ChunkIndex::HasChunk(const B3Digest& chunk) {
  castor::MutexLock lock(&mu_);
  return chunks_.contains(chunk);
}

absl::StatusOr<std::unique_ptr<BlobReader>> ChunkIndex::OpenChunk(const B3Digest& chunk) {
  ChunkRef ref;
  {
    castor::MutexLock lock(&mu_);
    auto it = chunks_.find(chunk);
    if (it == chunks_.end()) return nullptr;
    ref = it->second;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, blobs_->OpenRead(ref.blob));
  if (reader == nullptr) return nullptr;  // deleted (gc) since it was laid out
  if (reader->size() < ref.offset + ref.size) {
    return absl::DataLossError(absl::StrCat("blob ", ref.blob.ToB3(), " has ", reader->size(),
                                            " bytes, its chunk ", chunk.ToB3(), " ends at ",
                                            ref.offset + ref.size));
  }
  return std::make_unique<RangeReader>(std::move(reader), ref.offset, ref.size);
}

}  // namespace castor::castore
