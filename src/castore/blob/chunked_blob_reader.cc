#include "castore/blob/chunked_blob_reader.h"

#include <cstring>
#include <list>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "castore/mutex.h"
#include "castore/status_macros.h"
#include "spdlog/spdlog.h"

namespace castor::castore {

struct ChunkedBlobReader::State {
  struct Slot {
    std::shared_ptr<const std::string> data;  // null while loading
    bool loading = true;
  };

  State(std::shared_ptr<const ChunkLayout> l, FetchChunk f, Options o)
      : layout(std::move(l)), fetch(std::move(f)), options(o) {}

  const std::shared_ptr<const ChunkLayout> layout;
  const FetchChunk fetch;
  const Options options;

  castor::Mutex mu;
  std::map<size_t, Slot> slots ABSL_GUARDED_BY(mu);
  std::list<size_t> lru ABSL_GUARDED_BY(mu);  // loaded slots, most recent first
  std::shared_ptr<BlobService> store ABSL_GUARDED_BY(mu);
  uint64_t fetched ABSL_GUARDED_BY(mu) = 0;
  // The last chunk a read ended in, for sequential-run detection.
  size_t last_read ABSL_GUARDED_BY(mu) = SIZE_MAX;
  bool prefetching ABSL_GUARDED_BY(mu) = false;
  // Chunks known to be in `store`; once all are, the whole blob is put there.
  std::set<size_t> in_store ABSL_GUARDED_BY(mu);
  bool assembled ABSL_GUARDED_BY(mu) = false;

  // Records that chunk `index` is in `s`; the call that completes the set
  // assembles the whole blob in `s` (so a later open finds it there and needs
  // neither the daemon nor the layout).
  void MarkStored(BlobService& s, size_t index) {
    {
      castor::MutexLock lock(&mu);
      in_store.insert(index);
      if (assembled || in_store.size() != layout->chunks.size()) return;
      assembled = true;
    }
    absl::Status st = Assemble(s);
    if (!st.ok()) {
      spdlog::warn("assembling blob {} from its cached chunks: {}", layout->digest.ToB3(),
                   SV(st.message()));
    }
  }

  absl::Status Assemble(BlobService& s) {
    ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, s.OpenWrite());
    for (size_t i = 0; i < layout->chunks.size(); ++i) {
      std::shared_ptr<const std::string> chunk = FromStore(s, i);
      if (chunk == nullptr) {
        return absl::NotFoundError(absl::StrCat("chunk ", i, " left the cache"));
      }
      RETURN_IF_ERROR(writer->Write(*chunk));
    }
    ASSIGN_OR_RETURN(B3Digest got, writer->Close());
    if (got != layout->digest) {
      return absl::DataLossError(absl::StrCat("the chunks hash to ", got.ToB3()));
    }
    return absl::OkStatus();
  }

  // A chunk from the local store, when it is there and checks out.
  std::shared_ptr<const std::string> FromStore(BlobService& s, size_t index) {
    const ChunkMeta& c = layout->chunks[index];
    auto reader = s.OpenRead(c.digest);
    if (!reader.ok() || *reader == nullptr || (*reader)->size() != c.size) return nullptr;
    std::string data(c.size, '\0');
    size_t got = 0;
    while (got < data.size()) {
      auto n = (*reader)->ReadAt(
          got, std::span<uint8_t>(reinterpret_cast<uint8_t*>(data.data()) + got, data.size() - got));
      if (!n.ok() || *n == 0) return nullptr;
      got += *n;
    }
    absl::Status s2 = VerifyChunk(*layout, index, std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    if (!s2.ok()) {
      spdlog::warn("cached {}: {}; fetching it again", c.digest.ToB3(), SV(s2.message()));
      return nullptr;
    }
    return std::make_shared<const std::string>(std::move(data));
  }

  absl::StatusOr<std::shared_ptr<const std::string>> Load(size_t index) {
    std::shared_ptr<BlobService> s;
    {
      castor::MutexLock lock(&mu);
      s = store;
    }
    if (s != nullptr) {
      if (auto hit = FromStore(*s, index)) {
        MarkStored(*s, index);
        return hit;
      }
    }
    ASSIGN_OR_RETURN(std::string data, fetch(index));
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    RETURN_IF_ERROR(VerifyChunk(*layout, index, bytes));
    {
      castor::MutexLock lock(&mu);
      ++fetched;
    }
    if (s != nullptr) {
      // A cache that cannot take the chunk must not fail the read.
      auto put = PutBlob(*s, data);
      if (!put.ok()) {
        spdlog::warn("caching chunk {}: {}", layout->chunks[index].digest.ToB3(),
                     SV(put.status().message()));
      } else if (*put != layout->chunks[index].digest) {
        // The bytes checked out against the tree, so the server's chunk list
        // named them wrongly; they are stored under their real digest.
        spdlog::warn("chunk {} of blob {} hashes to {}", index, layout->digest.ToB3(),
                     put->ToB3());
      } else {
        MarkStored(*s, index);
      }
    }
    return std::make_shared<const std::string>(std::move(data));
  }

  absl::StatusOr<std::shared_ptr<const std::string>> Get(size_t index) {
    {
      castor::MutexLock lock(&mu);
      for (;;) {
        auto it = slots.find(index);
        if (it == slots.end()) break;
        if (!it->second.loading) {
          lru.remove(index);
          lru.push_front(index);
          return it->second.data;
        }
        mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          auto s = slots.find(index);
          return s == slots.end() || !s->second.loading;
        });
      }
      slots.emplace(index, Slot{});
    }
    auto loaded = Load(index);
    castor::MutexLock lock(&mu);
    if (!loaded.ok()) {
      slots.erase(index);  // not remembered: the next read tries again
      return loaded.status();
    }
    slots[index] = Slot{*loaded, false};
    lru.push_front(index);
    while (lru.size() > std::max<size_t>(options.cached_chunks, 1)) {
      slots.erase(lru.back());
      lru.pop_back();
    }
    return *loaded;
  }

  // Starts fetching chunk `index` in the background unless it is there, on
  // its way, or another prefetch is running.
  static void Prefetch(const std::shared_ptr<State>& self, size_t index) {
    {
      castor::MutexLock lock(&self->mu);
      if (self->prefetching || self->slots.contains(index)) return;
      self->prefetching = true;
    }
    std::thread([self, index] {
      auto got = self->Get(index);
      if (!got.ok()) spdlog::debug("prefetch: {}", SV(got.status().message()));
      castor::MutexLock lock(&self->mu);
      self->prefetching = false;
    }).detach();
  }
};

ChunkedBlobReader::ChunkedBlobReader(std::shared_ptr<const ChunkLayout> layout, FetchChunk fetch,
                                     Options options)
    : state_(std::make_shared<State>(std::move(layout), std::move(fetch), options)) {
  CASTOR_CHECK(state_->layout->chunks.size() >= 1 &&
               state_->layout->chunks.size() == state_->layout->cvs.size());
}

ChunkedBlobReader::~ChunkedBlobReader() = default;

uint64_t ChunkedBlobReader::size() const { return state_->layout->size; }

const ChunkLayout& ChunkedBlobReader::layout() const { return *state_->layout; }

uint64_t ChunkedBlobReader::chunks_fetched() const {
  castor::MutexLock lock(&state_->mu);
  return state_->fetched;
}

bool ChunkedBlobReader::KeepChunksIn(std::shared_ptr<BlobService> store) {
  castor::MutexLock lock(&state_->mu);
  state_->store = std::move(store);
  return true;
}

absl::StatusOr<size_t> ChunkedBlobReader::ReadAt(uint64_t offset, std::span<uint8_t> buf) const {
  const ChunkLayout& layout = *state_->layout;
  const size_t last = layout.chunks.size() - 1;
  if (buf.empty()) return 0;
  if (offset >= layout.size) {
    // End of file is an answer too: only once the last chunk checked out is
    // the size known to be the blob's.
    RETURN_IF_ERROR(state_->Get(last).status());
    return 0;
  }
  const uint64_t end = offset + std::min<uint64_t>(buf.size(), layout.size - offset);
  const size_t first = offset / layout.chunk_size;
  const size_t final = (end - 1) / layout.chunk_size;
  bool sequential = false;
  {
    castor::MutexLock lock(&state_->mu);
    sequential = state_->last_read != SIZE_MAX &&
                 (first == state_->last_read || first == state_->last_read + 1);
    state_->last_read = final;
  }
  size_t done = 0;
  for (size_t i = first; i <= final; ++i) {
    ASSIGN_OR_RETURN(std::shared_ptr<const std::string> chunk, state_->Get(i));
    const uint64_t chunk_start = layout.offset(i);
    const uint64_t from = std::max(offset, chunk_start);
    const uint64_t to = std::min<uint64_t>(end, chunk_start + chunk->size());
    std::memcpy(buf.data() + done, chunk->data() + (from - chunk_start), to - from);
    done += to - from;
  }
  if (state_->options.prefetch && sequential && final < last) State::Prefetch(state_, final + 1);
  return done;
}

}  // namespace castor::castore
