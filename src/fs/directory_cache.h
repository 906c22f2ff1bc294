// DirectoryCache: the most recently used decoded Directories, bounded by
// their total number of entries, so lookups by name stay O(log n) on hot
// directories while memory stays bounded on huge trees. Values are shared:
// an evicted Directory lives on while a caller (an open directory handle)
// still holds it. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "castore/digest.h"
#include "castore/directory.h"

namespace castor::fs {

class DirectoryCache {
 public:
  // Keeps Directories while their entries add up to at most `max_entries`
  // (the most recent one is always kept, however large).
  explicit DirectoryCache(uint64_t max_entries) : max_entries_(max_entries) {}

  // The cached Directory, or null; a hit becomes the most recent.
  std::shared_ptr<const castore::Directory> Get(const castore::B3Digest& digest);
  // Adds (or refreshes) a Directory and evicts the least recent ones over
  // the bound.
  void Put(std::shared_ptr<const castore::Directory> directory);

  size_t size() const;
  uint64_t entries() const;

 private:
  using Lru = std::list<std::shared_ptr<const castore::Directory>>;
  const uint64_t max_entries_;
  mutable castor::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  absl::flat_hash_map<castore::B3Digest, Lru::iterator> index_ ABSL_GUARDED_BY(mu_);
  uint64_t entries_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace castor::fs
