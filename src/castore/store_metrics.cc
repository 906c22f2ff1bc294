#include "castore/store_metrics.h"

#include "base/metrics.h"

namespace castor::castore::store_metrics {
namespace {

struct PerCache {
  metrics::Counter* hits;
  metrics::Counter* misses;
  metrics::Counter* evictions;
};

const PerCache& For(Cache cache) {
  static const PerCache* table = [] {
    auto& r = metrics::Registry::Default();
    auto& hits = r.AddCounterFamily("castor_cache_hits_total",
                                    "Reads the local cache answered, by cache (blob, directory).",
                                    {"cache"});
    auto& misses = r.AddCounterFamily(
        "castor_cache_misses_total",
        "Reads the local cache could not answer and sent to the remote store, by cache.",
        {"cache"});
    auto& evictions = r.AddCounterFamily(
        "castor_cache_evictions_total",
        "Entries dropped from a bounded cache to stay within its size, by cache.", {"cache"});
    auto* t = new PerCache[2];
    for (auto [i, name] : {std::pair<int, const char*>{0, "blob"}, {1, "directory"}}) {
      t[i] = PerCache{&hits.WithLabels({name}), &misses.WithLabels({name}),
                      &evictions.WithLabels({name})};
    }
    return t;
  }();
  return table[cache == Cache::kBlob ? 0 : 1];
}

}  // namespace

void CacheHit(Cache cache) { For(cache).hits->Inc(); }
void CacheMiss(Cache cache) { For(cache).misses->Inc(); }
void CacheEvictions(Cache cache, uint64_t n) { For(cache).evictions->Inc(n); }

void Imported(uint64_t files, uint64_t bytes, uint64_t bytes_new) {
  static metrics::Counter& f = metrics::Registry::Default().AddCounter(
      "castor_import_files_total", "Files imported into the store (counted when an import ends).");
  static metrics::Counter& b = metrics::Registry::Default().AddCounter(
      "castor_import_bytes_total", "Bytes of the files imported (counted when an import ends).");
  static metrics::Counter& n = metrics::Registry::Default().AddCounter(
      "castor_import_new_bytes_total",
      "Bytes of blobs imports stored that the store did not hold before.");
  f.Inc(files);
  b.Inc(bytes);
  n.Inc(bytes_new);
}

void BlobReceived(uint64_t bytes) {
  static metrics::Counter& blobs = metrics::Registry::Default().AddCounter(
      "castor_blobs_received_total", "Blobs the daemon received and stored (BlobService.Put).");
  static metrics::Counter& b = metrics::Registry::Default().AddCounter(
      "castor_blob_received_bytes_total",
      "Bytes of the blobs the daemon received (BlobService.Put).");
  blobs.Inc();
  b.Inc(bytes);
}

void VerificationFailure(Verified what) {
  static metrics::CounterFamily& family = metrics::Registry::Default().AddCounterFamily(
      "castor_verification_failures_total",
      "Data that did not match its digest when verified (blob, chunk, directory): a damaged "
      "store or a remote that answered wrongly.",
      {"what"});
  static metrics::Counter& blob = family.WithLabels({"blob"});
  static metrics::Counter& chunk = family.WithLabels({"chunk"});
  static metrics::Counter& directory = family.WithLabels({"directory"});
  switch (what) {
    case Verified::kBlob:
      blob.Inc();
      break;
    case Verified::kChunk:
      chunk.Inc();
      break;
    case Verified::kDirectory:
      directory.Inc();
      break;
  }
}

}  // namespace castor::castore::store_metrics
