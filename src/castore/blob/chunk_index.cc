#include "castore/blob/chunk_index.h"

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"

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

 private:
  std::unique_ptr<BlobReader> inner_;
  uint64_t offset_;
  uint64_t size_;
};

}  // namespace

ChunkIndex::ChunkIndex(std::shared_ptr<BlobService> blobs, Options options)
    : blobs_(std::move(blobs)), options_(options) {
  CASTOR_CHECK(blake3_tree::IsValidGroupSize(options_.chunk_size));
  CASTOR_CHECK(options_.min_blob_size >= options_.chunk_size);
}

absl::StatusOr<std::shared_ptr<const ChunkLayout>> ChunkIndex::Layout(const B3Digest& digest,
                                                                      const BlobReader& reader) {
  if (reader.size() <= options_.min_blob_size) return nullptr;
  {
    castor::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !computing_.contains(digest); });
    auto it = layouts_.find(digest);
    if (it != layouts_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      IndexChunks(*it->second.layout);
      return it->second.layout;
    }
    computing_.insert(digest);
  }
  uint64_t chunk_size = options_.chunk_size;
  while (chunk_size <= kMaxLayoutChunkSize &&
         blake3_tree::GroupCount(reader.size(), chunk_size) > options_.max_chunks_per_blob) {
    chunk_size *= 2;
  }
  if (chunk_size > kMaxLayoutChunkSize) {
    castor::MutexLock lock(&mu_);
    computing_.erase(digest);
    return nullptr;  // served whole
  }
  absl::StatusOr<ChunkLayout> computed = ComputeChunkLayout(reader, digest, chunk_size);
  castor::MutexLock lock(&mu_);
  computing_.erase(digest);
  if (!computed.ok()) return computed.status();
  auto layout = std::make_shared<const ChunkLayout>(std::move(*computed));
  lru_.push_front(digest);
  layouts_[digest] = Entry{layout, lru_.begin()};
  total_chunks_ += layout->chunks.size();
  IndexChunks(*layout);
  EvictLocked();
  return layout;
}

void ChunkIndex::IndexChunks(const ChunkLayout& layout) {
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    chunks_.try_emplace(layout.chunks[i].digest, ChunkRef{layout.digest, i});
  }
}

void ChunkIndex::EvictLocked() {
  // The newest layout stays even when it alone is over the bound.
  while (total_chunks_ > options_.max_chunks && lru_.size() > 1) {
    B3Digest victim = lru_.back();
    lru_.pop_back();
    auto it = layouts_.find(victim);
    const ChunkLayout& layout = *it->second.layout;
    for (const ChunkMeta& c : layout.chunks) {
      auto ref = chunks_.find(c.digest);
      if (ref != chunks_.end() && ref->second.blob == victim) chunks_.erase(ref);
    }
    total_chunks_ -= layout.chunks.size();
    layouts_.erase(it);
  }
}

bool ChunkIndex::HasChunk(const B3Digest& chunk) {
  castor::MutexLock lock(&mu_);
  return chunks_.contains(chunk);
}

absl::StatusOr<std::unique_ptr<BlobReader>> ChunkIndex::OpenChunk(const B3Digest& chunk) {
  B3Digest blob;
  uint64_t offset = 0, size = 0;
  {
    castor::MutexLock lock(&mu_);
    auto ref = chunks_.find(chunk);
    if (ref == chunks_.end()) return nullptr;
    blob = ref->second.blob;
    const ChunkLayout& layout = *layouts_.at(blob).layout;
    offset = layout.offset(ref->second.index);
    size = layout.chunks[ref->second.index].size;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, blobs_->OpenRead(blob));
  if (reader == nullptr) return nullptr;  // deleted (gc) since it was laid out
  if (reader->size() < offset + size) {
    return absl::DataLossError(absl::StrCat("blob ", blob.ToB3(), " has ", reader->size(),
                                            " bytes, its chunk ", chunk.ToB3(), " ends at ",
                                            offset + size));
  }
  return std::make_unique<RangeReader>(std::move(reader), offset, size);
}

}  // namespace castor::castore
