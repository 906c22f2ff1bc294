// The store layers' metrics (base/metrics.h, the process's default
// registry): cache hits, misses and evictions of the blob and directory
// cache combinators, and verification failures (bytes or Directories that
// do not match their digest). Counting only: nothing here serves them.
// Thread-safe (relaxed atomic increments).
#pragma once

#include <cstdint>
#include <string_view>

namespace castor::castore::store_metrics {

enum class Cache { kBlob, kDirectory };

void CacheHit(Cache cache);
void CacheMiss(Cache cache);
void CacheEvictions(Cache cache, uint64_t n);

// One finished import (castor import, tar or NAR import): its files, their
// bytes, and the bytes of blobs it stored that the store did not have.
void Imported(uint64_t files, uint64_t bytes, uint64_t bytes_new);

// Blobs a daemon received and stored through BlobService.Put.
void BlobReceived(uint64_t bytes);

// What failed to verify: a whole blob, one chunk of one, or a Directory.
enum class Verified { kBlob, kChunk, kDirectory };
void VerificationFailure(Verified what);

}  // namespace castor::castore::store_metrics
