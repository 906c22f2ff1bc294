#include "castore/blob/bounded_blob_store.h"

#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/status.h"
#include "castore/store_metrics.h"
#include "spdlog/spdlog.h"

namespace castor::castore {

struct BoundedBlobStore::State {
  struct Blob {
    uint64_t size = 0;
    uint64_t last_use = 0;  // a tick: higher is more recent
    uint32_t pins = 0;      // open readers
  };

  State(std::shared_ptr<BlobService> inner, uint64_t max_bytes)
      : inner(std::move(inner)), max_bytes(max_bytes) {}

  const std::shared_ptr<BlobService> inner;
  const uint64_t max_bytes;

  mutable castor::Mutex mu;
  absl::flat_hash_map<B3Digest, Blob> blobs ABSL_GUARDED_BY(mu);
  std::map<uint64_t, B3Digest> by_use ABSL_GUARDED_BY(mu);  // last_use -> blob
  uint64_t tick ABSL_GUARDED_BY(mu) = 0;
  uint64_t used ABSL_GUARDED_BY(mu) = 0;
  uint64_t evicted ABSL_GUARDED_BY(mu) = 0;

  // Marks `digest` (of `size` bytes, when it is new here) used now; with
  // `pin`, also pinned.
  void Use(const B3Digest& digest, uint64_t size, bool pin) ABSL_LOCKS_EXCLUDED(mu) {
    castor::MutexLock lock(&mu);
    auto [it, inserted] = blobs.try_emplace(digest);
    if (inserted) {
      it->second.size = size;
      used += size;
    } else {
      by_use.erase(it->second.last_use);
    }
    it->second.last_use = ++tick;
    by_use.emplace(it->second.last_use, digest);
    if (pin) ++it->second.pins;
  }

  // A cache that pins held past its bound shrinks as the pins go.
  void Unpin(const B3Digest& digest) ABSL_LOCKS_EXCLUDED(mu) {
    bool over;
    {
      castor::MutexLock lock(&mu);
      auto it = blobs.find(digest);
      if (it != blobs.end() && it->second.pins > 0) --it->second.pins;
      over = used > max_bytes;
    }
    if (over) EvictTo(max_bytes);
  }

  bool Known(const B3Digest& digest) ABSL_LOCKS_EXCLUDED(mu) {
    castor::MutexLock lock(&mu);
    return blobs.contains(digest);
  }

  void Forget(const B3Digest& digest) ABSL_LOCKS_EXCLUDED(mu) {
    castor::MutexLock lock(&mu);
    auto it = blobs.find(digest);
    if (it == blobs.end()) return;
    by_use.erase(it->second.last_use);
    used -= it->second.size;
    blobs.erase(it);
  }

  // Deletes least recently used, unpinned blobs until at most `target`
  // bytes are held (or only pinned ones are left).
  void EvictTo(uint64_t target) ABSL_LOCKS_EXCLUDED(mu) {
    std::vector<B3Digest> victims;
    {
      castor::MutexLock lock(&mu);
      for (auto it = by_use.begin(); it != by_use.end() && used > target;) {
        auto blob = blobs.find(it->second);
        if (blob->second.pins > 0) {
          ++it;
          continue;
        }
        used -= blob->second.size;
        victims.push_back(it->second);
        blobs.erase(blob);
        it = by_use.erase(it);
      }
      evicted += victims.size();
    }
    store_metrics::CacheEvictions(store_metrics::Cache::kBlob, victims.size());
    // Outside the lock: a reader that opened a victim just before keeps
    // its file; one that comes after misses and fetches it again.
    for (const B3Digest& d : victims) {
      absl::Status s = inner->Delete(d);
      if (!s.ok())
        spdlog::warn("evicting blob {} from the cache: {}", d.ToB3(), ToStdView(s.message()));
    }
  }

  void FitBound() ABSL_LOCKS_EXCLUDED(mu) {
    bool over;
    {
      castor::MutexLock lock(&mu);
      over = used > max_bytes;
    }
    if (over) EvictTo(max_bytes);
  }

  // The disk is full: make room by halving what the cache holds.
  void MakeRoom() ABSL_LOCKS_EXCLUDED(mu) {
    uint64_t held;
    {
      castor::MutexLock lock(&mu);
      held = used;
    }
    spdlog::info("cache disk full: evicting down to {} bytes", held / 2);
    EvictTo(held / 2);
  }
};

namespace {

// Keeps its blob pinned while it exists.
class PinnedReader : public BlobReader {
 public:
  PinnedReader(std::shared_ptr<BoundedBlobStore::State> state, B3Digest digest,
               std::unique_ptr<BlobReader> inner)
      : state_(std::move(state)), digest_(digest), inner_(std::move(inner)) {}
  ~PinnedReader() override { state_->Unpin(digest_); }

  uint64_t size() const override { return inner_->size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    return inner_->ReadAt(offset, buf);
  }
  int LocalFd() const override { return inner_->LocalFd(); }
  bool Verified() const override { return inner_->Verified(); }
  bool KeepChunksIn(std::shared_ptr<BlobService> store) override {
    return inner_->KeepChunksIn(std::move(store));
  }

 private:
  const std::shared_ptr<BoundedBlobStore::State> state_;
  const B3Digest digest_;
  const std::unique_ptr<BlobReader> inner_;
};

// Counts what it stores; a full disk makes room before the write fails.
class AccountingWriter : public BlobWriter {
 public:
  AccountingWriter(std::shared_ptr<BoundedBlobStore::State> state,
                   std::unique_ptr<BlobWriter> inner)
      : state_(std::move(state)), inner_(std::move(inner)) {}

  absl::Status Write(std::span<const uint8_t> data) override { return Check(inner_->Write(data)); }
  absl::StatusOr<B3Digest> Close() override {
    const uint64_t size = inner_->bytes_written();
    absl::StatusOr<B3Digest> digest = inner_->Close();
    RETURN_IF_ERROR(Check(digest.status()));
    if (size > state_->max_bytes && !state_->Known(*digest)) {
      // Bigger than the whole bound: not kept (and nothing else evicted
      // for it); the caller serves it from where it came.
      absl::Status s = state_->inner->Delete(*digest);
      if (!s.ok()) spdlog::warn("dropping blob {}: {}", digest->ToB3(), ToStdView(s.message()));
      return digest;
    }
    state_->Use(*digest, size, /*pin=*/false);
    state_->FitBound();
    return digest;
  }
  uint64_t bytes_written() const override { return inner_->bytes_written(); }

 private:
  absl::Status Check(absl::Status s) {
    if (s.code() == absl::StatusCode::kResourceExhausted) state_->MakeRoom();
    return s;
  }

  const std::shared_ptr<BoundedBlobStore::State> state_;
  const std::unique_ptr<BlobWriter> inner_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<BoundedBlobStore>> BoundedBlobStore::Open(
    std::shared_ptr<BlobService> inner, uint64_t max_bytes) {
  auto state = std::make_shared<State>(std::move(inner), max_bytes);
  RETURN_IF_ERROR(state->inner->ForEach([&](const B3Digest& digest, uint64_t size) {
    state->Use(digest, size, /*pin=*/false);
    return absl::OkStatus();
  }));
  state->FitBound();
  return std::shared_ptr<BoundedBlobStore>(new BoundedBlobStore(std::move(state)));
}

BoundedBlobStore::BoundedBlobStore(std::shared_ptr<State> state) : state_(std::move(state)) {}
BoundedBlobStore::~BoundedBlobStore() = default;

absl::StatusOr<std::unique_ptr<BlobReader>> BoundedBlobStore::Pin(
    const B3Digest& digest, std::unique_ptr<BlobReader> reader) {
  if (reader == nullptr) return nullptr;
  state_->Use(digest, reader->size(), /*pin=*/true);
  return std::make_unique<PinnedReader>(state_, digest, std::move(reader));
}

absl::StatusOr<bool> BoundedBlobStore::Has(const B3Digest& digest) {
  return state_->inner->Has(digest);
}

absl::StatusOr<std::unique_ptr<BlobReader>> BoundedBlobStore::OpenRead(const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto reader, state_->inner->OpenRead(digest));
  return Pin(digest, std::move(reader));
}

absl::StatusOr<std::unique_ptr<BlobReader>> BoundedBlobStore::OpenReadUnverified(
    const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto reader, state_->inner->OpenReadUnverified(digest));
  return Pin(digest, std::move(reader));
}

absl::StatusOr<std::unique_ptr<BlobWriter>> BoundedBlobStore::OpenWrite() {
  absl::StatusOr<std::unique_ptr<BlobWriter>> writer = state_->inner->OpenWrite();
  if (writer.status().code() == absl::StatusCode::kResourceExhausted) state_->MakeRoom();
  RETURN_IF_ERROR(writer.status());
  return std::make_unique<AccountingWriter>(state_, *std::move(writer));
}

absl::StatusOr<std::optional<std::vector<ChunkMeta>>> BoundedBlobStore::Chunks(
    const B3Digest& digest) {
  return state_->inner->Chunks(digest);
}

absl::StatusOr<std::optional<uint64_t>> BoundedBlobStore::StoredSize(const B3Digest& digest) {
  return state_->inner->StoredSize(digest);
}

absl::Status BoundedBlobStore::Sync() { return state_->inner->Sync(); }

absl::Status BoundedBlobStore::ForEach(
    const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) {
  return state_->inner->ForEach(fn);
}

absl::Status BoundedBlobStore::Delete(const B3Digest& digest) {
  RETURN_IF_ERROR(state_->inner->Delete(digest));
  state_->Forget(digest);
  return absl::OkStatus();
}

uint64_t BoundedBlobStore::used_bytes() const {
  castor::MutexLock lock(&state_->mu);
  return state_->used;
}

uint64_t BoundedBlobStore::evicted() const {
  castor::MutexLock lock(&state_->mu);
  return state_->evicted;
}

}  // namespace castor::castore
