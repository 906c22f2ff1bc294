#include "castore/blob/layout_cache.h"

namespace castor::castore {

absl::StatusOr<std::shared_ptr<const ChunkLayout>> LayoutCache::Get(
    const B3Digest& digest, const Compute& compute,
    std::vector<std::shared_ptr<const ChunkLayout>>* evicted) {
  {
    castor::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !computing_.contains(digest); });
    auto it = layouts_.find(digest);
    if (it != layouts_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.layout;
    }
    computing_.insert(digest);
  }
  absl::StatusOr<std::shared_ptr<const ChunkLayout>> computed = compute();
  castor::MutexLock lock(&mu_);
  computing_.erase(digest);
  if (!computed.ok() || *computed == nullptr) return computed;
  const std::shared_ptr<const ChunkLayout>& layout = *computed;
  lru_.push_front(digest);
  layouts_[digest] = Entry{layout, lru_.begin()};
  total_chunks_ += layout->count();
  while (total_chunks_ > max_chunks_ && lru_.size() > 1) {
    auto victim = layouts_.find(lru_.back());
    lru_.pop_back();
    total_chunks_ -= victim->second.layout->count();
    if (evicted != nullptr) evicted->push_back(std::move(victim->second.layout));
    layouts_.erase(victim);
  }
  return computed;
}

size_t LayoutCache::size() const {
  castor::MutexLock lock(&mu_);
  return layouts_.size();
}

uint64_t LayoutCache::chunks() const {
  castor::MutexLock lock(&mu_);
  return total_chunks_;
}

}  // namespace castor::castore
