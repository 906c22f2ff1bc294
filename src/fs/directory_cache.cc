#include "fs/directory_cache.h"

namespace castor::fs {

std::shared_ptr<const castore::Directory> DirectoryCache::Get(const castore::B3Digest& digest) {
  castor::MutexLock lock(&mu_);
  auto it = index_.find(digest);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return *it->second;
}

void DirectoryCache::Put(std::shared_ptr<const castore::Directory> directory) {
  std::vector<std::shared_ptr<const castore::Directory>> evicted;  // freed unlocked
  castor::MutexLock lock(&mu_);
  auto it = index_.find(directory->digest());
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  entries_ += directory->entries().size();
  lru_.push_front(std::move(directory));
  index_.emplace(lru_.front()->digest(), lru_.begin());
  while (entries_ > max_entries_ && lru_.size() > 1) {
    evicted.push_back(std::move(lru_.back()));
    lru_.pop_back();
    index_.erase(evicted.back()->digest());
    entries_ -= evicted.back()->entries().size();
  }
}

size_t DirectoryCache::size() const {
  castor::MutexLock lock(&mu_);
  return lru_.size();
}

uint64_t DirectoryCache::entries() const {
  castor::MutexLock lock(&mu_);
  return entries_;
}

}  // namespace castor::fs
