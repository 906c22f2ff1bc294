#include "castore/blob/chunked_blob_reader.h"

#include <algorithm>
#include <cstring>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/status.h"
#include "castore/store_metrics.h"
#include "castore/worker_pool.h"
#include "spdlog/spdlog.h"

namespace castor::castore {
namespace {

// The pool that runs every reader's background fetches: created with the
// first reader that prefetches, joined when the last one goes (each reader
// holds it; its own threads never do).
std::shared_ptr<WorkerPool> PrefetchPool() {
  // Two threads: prefetches wait on the network or the disk; at most one
  // runs per reader, and they are only a hint (dropped when the queue is full).
  constexpr size_t kThreads = 2;
  constexpr size_t kMaxQueued = 16;
  static castor::Mutex mu;
  static std::weak_ptr<WorkerPool> shared;  // guarded by mu
  castor::MutexLock lock(&mu);
  std::shared_ptr<WorkerPool> pool = shared.lock();
  if (pool == nullptr) {
    pool = std::make_shared<WorkerPool>(kThreads, kMaxQueued);
    shared = pool;
  }
  return pool;
}

}  // namespace

struct ChunkedBlobReader::State {
  struct Slot {
    std::shared_ptr<const std::string> data;  // null while loading
    bool loading = true;
  };
  // Recently used pieces by index, and the ones being loaded (single flight).
  struct Cache {
    std::map<size_t, Slot> slots;
    std::list<size_t> lru;  // loaded slots, most recent first
  };
  using Loader = std::function<absl::StatusOr<std::shared_ptr<const std::string>>()>;

  State(uint64_t s, std::shared_ptr<const ChunkLayout> l, GetLayout g, FetchChunk f, ReadChunk r,
        Options o)
      : size(s),
        get_layout(std::move(g)),
        fetch(std::move(f)),
        read(std::move(r)),
        options(o),
        pool(o.prefetch ? PrefetchPool() : nullptr),
        layout(std::move(l)) {}

  const uint64_t size;
  const GetLayout get_layout;  // null when the layout was given
  const FetchChunk fetch;      // one of these two
  const ReadChunk read;
  const Options options;
  const std::shared_ptr<WorkerPool> pool;  // null without prefetch

  castor::Mutex mu;
  std::shared_ptr<const ChunkLayout> layout ABSL_GUARDED_BY(mu);
  Cache groups ABSL_GUARDED_BY(mu);
  // Stored chunks of a content-defined layout (the groups are cut from them).
  Cache stored ABSL_GUARDED_BY(mu);
  std::shared_ptr<BlobService> store ABSL_GUARDED_BY(mu);
  uint64_t fetched ABSL_GUARDED_BY(mu) = 0;
  // The last group a read ended in, for sequential-run detection.
  size_t last_read ABSL_GUARDED_BY(mu) = SIZE_MAX;
  // One prefetch of this reader runs at a time; one asked for meanwhile
  // waits here (the latest wins) and runs when it ends, so a sequential
  // read that arrives before the running prefetch has finished its
  // bookkeeping still gets its next piece fetched ahead.
  struct PrefetchRequest {
    std::shared_ptr<const ChunkLayout> layout;
    size_t index = 0;
    bool stored_chunk = false;
  };
  bool prefetching ABSL_GUARDED_BY(mu) = false;
  std::optional<PrefetchRequest> next_prefetch ABSL_GUARDED_BY(mu);
  // Stored chunks known to be in `store`; once all are, the whole blob is
  // put there.
  std::set<size_t> in_store ABSL_GUARDED_BY(mu);
  bool assembled ABSL_GUARDED_BY(mu) = false;

  Cache& CacheOf(bool stored_chunks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return stored_chunks ? stored : groups;
  }

  // The layout: the one given, or asked for now (concurrent first reads may
  // each ask; the getter shares the work).
  absl::StatusOr<std::shared_ptr<const ChunkLayout>> Layout() {
    {
      castor::MutexLock lock(&mu);
      if (layout != nullptr) return layout;
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const ChunkLayout> got, get_layout());
    if (got->size != size) {
      return absl::DataLossError(
          absl::StrCat("blob ", got->digest.ToB3(), " has ", size, " bytes, its tree ", got->size));
    }
    castor::MutexLock lock(&mu);
    if (layout == nullptr) layout = std::move(got);
    return layout;
  }

  // What a stored chunk must be: the group itself (checked against its CV),
  // or a content-defined chunk (checked against its digest).
  static absl::Status CheckStored(const ChunkLayout& l, size_t index,
                                  std::span<const uint8_t> bytes) {
    return l.content_defined() ? VerifyStoredChunk(l, index, bytes) : VerifyChunk(l, index, bytes);
  }

  // Records that stored chunk `index` is in `s`; the call that completes the
  // set assembles the whole blob in `s` (so a later open finds it there and
  // needs neither the remote nor the layout).
  void MarkStored(const ChunkLayout& l, BlobService& s, size_t index) {
    {
      castor::MutexLock lock(&mu);
      in_store.insert(index);
      if (assembled || in_store.size() != l.chunks.size()) return;
      assembled = true;
    }
    absl::Status st = Assemble(l, s);
    if (!st.ok()) {
      spdlog::warn("assembling blob {} from its cached chunks: {}", l.digest.ToB3(),
                   ToStdView(st.message()));
    }
  }

  absl::Status Assemble(const ChunkLayout& l, BlobService& s) {
    ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, s.OpenWrite());
    for (size_t i = 0; i < l.chunks.size(); ++i) {
      std::shared_ptr<const std::string> chunk = FromStore(l, s, i);
      if (chunk == nullptr) {
        return absl::NotFoundError(absl::StrCat("chunk ", i, " left the cache"));
      }
      RETURN_IF_ERROR(writer->Write(*chunk));
    }
    ASSIGN_OR_RETURN(B3Digest got, writer->Close());
    if (got != l.digest) {
      store_metrics::VerificationFailure(store_metrics::Verified::kBlob);
      return absl::DataLossError(absl::StrCat("the chunks hash to ", got.ToB3()));
    }
    return absl::OkStatus();
  }

  // A stored chunk from the local store, when it is there and checks out.
  std::shared_ptr<const std::string> FromStore(const ChunkLayout& l, BlobService& s, size_t index) {
    const ChunkMeta& c = l.chunks[index];
    // Checked below: the store need not check it too.
    auto reader = s.OpenReadUnverified(c.digest);
    if (!reader.ok() || *reader == nullptr || (*reader)->size() != c.size) return nullptr;
    std::string data(c.size, '\0');
    size_t got = 0;
    while (got < data.size()) {
      auto n = (*reader)->ReadAt(
          got,
          std::span<uint8_t>(reinterpret_cast<uint8_t*>(data.data()) + got, data.size() - got));
      if (!n.ok() || *n == 0) return nullptr;
      got += *n;
    }
    absl::Status s2 = CheckStored(
        l, index,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    if (!s2.ok()) {
      spdlog::warn("cached {}: {}; fetching it again", c.digest.ToB3(), ToStdView(s2.message()));
      return nullptr;
    }
    return std::make_shared<const std::string>(std::move(data));
  }

  // Stored chunk `index`: from the local store, or fetched and checked (and
  // then kept in the local store, when there is one).
  absl::StatusOr<std::shared_ptr<const std::string>> LoadStored(const ChunkLayout& l,
                                                                size_t index) {
    std::shared_ptr<BlobService> s;
    {
      castor::MutexLock lock(&mu);
      s = store;
    }
    if (s != nullptr) {
      if (auto hit = FromStore(l, *s, index)) {
        MarkStored(l, *s, index);
        return hit;
      }
    }
    ASSIGN_OR_RETURN(std::string data, fetch(index));
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    RETURN_IF_ERROR(CheckStored(l, index, bytes));
    {
      castor::MutexLock lock(&mu);
      ++fetched;
    }
    if (s != nullptr) {
      // A cache that cannot take the chunk must not fail the read.
      auto put = PutBlob(*s, data);
      if (!put.ok()) {
        spdlog::warn("caching chunk {}: {}", l.chunks[index].digest.ToB3(),
                     ToStdView(put.status().message()));
      } else if (*put != l.chunks[index].digest) {
        // The bytes checked out against the tree, so the server's chunk list
        // named them wrongly; they are stored under their real digest.
        spdlog::warn("chunk {} of blob {} hashes to {}", index, l.digest.ToB3(), put->ToB3());
      } else {
        MarkStored(l, *s, index);
      }
    }
    return std::make_shared<const std::string>(std::move(data));
  }

  // Group `index`, checked against its CV.
  absl::StatusOr<std::shared_ptr<const std::string>> LoadGroup(const ChunkLayout& l, size_t index) {
    if (!l.content_defined()) {
      if (read == nullptr) return LoadStored(l, index);  // stored chunk `index` is the group
      std::string data(l.length(index), '\0');
      std::span<uint8_t> out(reinterpret_cast<uint8_t*>(data.data()), data.size());
      RETURN_IF_ERROR(read(index, out));
      RETURN_IF_ERROR(VerifyChunk(l, index, out));
      castor::MutexLock lock(&mu);
      ++fetched;
      return std::make_shared<const std::string>(std::move(data));
    }
    // Cut from the stored chunks it overlaps, each checked on its own first.
    const uint64_t from = l.offset(index);
    const uint64_t to = from + l.length(index);
    std::string data;
    data.reserve(to - from);
    for (size_t j = l.ChunkAt(from); j < l.chunks.size() && l.chunk_offsets[j] < to; ++j) {
      ASSIGN_OR_RETURN(std::shared_ptr<const std::string> chunk, Get(l, j, /*stored_chunk=*/true));
      const uint64_t start = l.chunk_offsets[j];
      const uint64_t a = std::max(from, start);
      const uint64_t b = std::min<uint64_t>(to, start + chunk->size());
      data.append(*chunk, a - start, b - a);
    }
    RETURN_IF_ERROR(VerifyChunk(
        l, index,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size())));
    return std::make_shared<const std::string>(std::move(data));
  }

  // Group (or, with stored_chunk, stored chunk) `index`: cached, being
  // loaded by another caller (waited for), or loaded now.
  absl::StatusOr<std::shared_ptr<const std::string>> Get(const ChunkLayout& l, size_t index,
                                                         bool stored_chunk = false) {
    {
      castor::MutexLock lock(&mu);
      Cache& cache = CacheOf(stored_chunk);
      for (;;) {
        auto it = cache.slots.find(index);
        if (it == cache.slots.end()) break;
        if (!it->second.loading) {
          cache.lru.remove(index);
          cache.lru.push_front(index);
          return it->second.data;
        }
        mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          auto s = cache.slots.find(index);
          return s == cache.slots.end() || !s->second.loading;
        });
      }
      cache.slots.emplace(index, Slot{});
    }
    auto loaded = stored_chunk ? LoadStored(l, index) : LoadGroup(l, index);
    castor::MutexLock lock(&mu);
    Cache& cache = CacheOf(stored_chunk);
    if (!loaded.ok()) {
      cache.slots.erase(index);  // not remembered: the next read tries again
      return loaded.status();
    }
    cache.slots[index] = Slot{*loaded, false};
    cache.lru.push_front(index);
    while (cache.lru.size() > std::max<size_t>(options.cached_chunks, 1)) {
      cache.slots.erase(cache.lru.back());
      cache.lru.pop_back();
    }
    return *loaded;
  }

  // Starts fetching group (or stored chunk) `index` in the background unless
  // it is there or on its way; while another prefetch of this reader runs,
  // it is queued behind it instead.
  static void Prefetch(const std::shared_ptr<State>& self, std::shared_ptr<const ChunkLayout> l,
                       size_t index, bool stored_chunk) {
    PrefetchRequest request{std::move(l), index, stored_chunk};
    {
      castor::MutexLock lock(&self->mu);
      if (self->CacheOf(stored_chunk).slots.contains(index)) return;
      if (self->prefetching) {
        self->next_prefetch = std::move(request);
        return;
      }
      self->prefetching = true;
    }
    auto task = [self, first = std::move(request)]() mutable {
      std::optional<PrefetchRequest> request = std::move(first);
      while (request.has_value()) {
        auto got = self->Get(*request->layout, request->index, request->stored_chunk);
        if (!got.ok()) spdlog::debug("prefetch: {}", ToStdView(got.status().message()));
        castor::MutexLock lock(&self->mu);
        request = std::exchange(self->next_prefetch, std::nullopt);
        if (!request.has_value()) self->prefetching = false;
      }
    };
    if (!self->pool->Submit(self.get(), std::move(task))) {
      castor::MutexLock lock(&self->mu);  // the queue is full: only a hint
      self->prefetching = false;
      self->next_prefetch.reset();
    }
  }
};

ChunkedBlobReader::ChunkedBlobReader(std::shared_ptr<const ChunkLayout> layout, FetchChunk fetch,
                                     Options options) {
  CASTOR_CHECK(layout != nullptr && (layout->chunks.empty() || layout->content_defined() ||
                                     layout->chunks.size() == layout->count()));
  const uint64_t size = layout->size;
  state_ =
      std::make_shared<State>(size, std::move(layout), nullptr, std::move(fetch), nullptr, options);
}

ChunkedBlobReader::ChunkedBlobReader(uint64_t size, GetLayout get_layout, ReadChunk read,
                                     Options options)
    : state_(std::make_shared<State>(size, nullptr, std::move(get_layout), nullptr, std::move(read),
                                     options)) {}

ChunkedBlobReader::~ChunkedBlobReader() {
  // No background fetch of this reader runs past this point.
  if (state_->pool != nullptr) state_->pool->Drain(state_.get());
}

uint64_t ChunkedBlobReader::size() const { return state_->size; }

uint64_t ChunkedBlobReader::chunks_fetched() const {
  castor::MutexLock lock(&state_->mu);
  return state_->fetched;
}

std::shared_ptr<const ChunkLayout> ChunkedBlobReader::KnownLayout() const {
  if (state_->get_layout != nullptr) return nullptr;
  castor::MutexLock lock(&state_->mu);
  return state_->layout;
}

bool ChunkedBlobReader::KeepChunksIn(std::shared_ptr<BlobService> store) {
  castor::MutexLock lock(&state_->mu);
  if (state_->layout == nullptr || state_->layout->chunks.empty()) return false;
  state_->store = std::move(store);
  return true;
}

absl::StatusOr<size_t> ChunkedBlobReader::ReadAt(uint64_t offset, std::span<uint8_t> buf) const {
  if (buf.empty()) return 0;
  ASSIGN_OR_RETURN(std::shared_ptr<const ChunkLayout> shared, state_->Layout());
  const ChunkLayout& layout = *shared;
  const size_t last = layout.count() - 1;
  if (offset >= layout.size) {
    // End of file is an answer too: only once the last chunk checked out is
    // the size known to be the blob's.
    RETURN_IF_ERROR(state_->Get(layout, last).status());
    return 0;
  }
  const uint64_t end = offset + std::min<uint64_t>(buf.size(), layout.size - offset);
  const size_t first = offset / layout.chunk_size;
  const size_t final = (end - 1) / layout.chunk_size;
  bool sequential = false;
  if (state_->options.prefetch) {
    castor::MutexLock lock(&state_->mu);
    sequential = state_->last_read != SIZE_MAX &&
                 (first == state_->last_read || first == state_->last_read + 1);
    state_->last_read = final;
  }
  size_t done = 0;
  for (size_t i = first; i <= final; ++i) {
    const uint64_t chunk_start = layout.offset(i);
    if (state_->read != nullptr && chunk_start >= offset && chunk_start + layout.length(i) <= end) {
      // Covered whole: read and checked in place.
      std::span<uint8_t> out = buf.subspan(done, layout.length(i));
      absl::Status s = state_->read(i, out);
      if (s.ok()) s = VerifyChunk(layout, i, out);
      if (!s.ok()) {
        std::memset(out.data(), 0, out.size());
        return s;
      }
      done += out.size();
      continue;
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const std::string> chunk, state_->Get(layout, i));
    const uint64_t from = std::max(offset, chunk_start);
    const uint64_t to = std::min<uint64_t>(end, chunk_start + chunk->size());
    std::memcpy(buf.data() + done, chunk->data() + (from - chunk_start), to - from);
    done += to - from;
  }
  if (sequential && layout.content_defined()) {
    // Stored chunks are what costs a fetch: the one after the last read.
    const size_t next = layout.ChunkAt(end - 1) + 1;
    if (next < layout.chunks.size()) State::Prefetch(state_, std::move(shared), next, true);
  } else if (sequential && final < last) {
    State::Prefetch(state_, std::move(shared), final + 1, false);
  }
  return done;
}

}  // namespace castor::castore
