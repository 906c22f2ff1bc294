#include "castore/directory/caching_directory_service.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "base/status.h"
#include "castore/directory/closure.h"
#include "castore/directory/lmdb_directory_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/store_metrics.h"
#include "spdlog/spdlog.h"

namespace castor::castore {
namespace {

// Directories of a recursive fetch handed to the writer at once.
constexpr size_t kKeepBatch = 1024;

class MemoryCacheStore : public DirectoryCacheStore {
 public:
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override {
    return dirs_.Get(digest);
  }
  absl::Status Insert(std::span<const Directory> directories) override {
    dirs_.InsertAll(directories);
    return absl::OkStatus();
  }
  absl::Status Delete(std::span<const B3Digest> digests) override { return dirs_.Delete(digests); }

 private:
  MemoryDirectoryService dirs_;
};

class LmdbCacheStore : public DirectoryCacheStore {
 public:
  explicit LmdbCacheStore(std::shared_ptr<LmdbDirectoryService> dirs) : dirs_(std::move(dirs)) {}
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override {
    return dirs_->Get(digest);
  }
  absl::Status Insert(std::span<const Directory> directories) override {
    return dirs_->WriteAll(directories);
  }
  absl::Status Delete(std::span<const B3Digest> digests) override { return dirs_->Delete(digests); }

 private:
  std::shared_ptr<LmdbDirectoryService> dirs_;
};

}  // namespace

std::shared_ptr<DirectoryCacheStore> NewMemoryDirectoryCacheStore() {
  return std::make_shared<MemoryCacheStore>();
}

absl::StatusOr<std::shared_ptr<DirectoryCacheStore>> OpenLmdbDirectoryCacheStore(
    const std::string& path) {
  ASSIGN_OR_RETURN(auto dirs, LmdbDirectoryService::Open(path, "cached_directories"));
  return std::make_shared<LmdbCacheStore>(std::move(dirs));
}

CachingDirectoryService::CachingDirectoryService(std::shared_ptr<DirectoryCacheStore> local,
                                                 std::shared_ptr<DirectoryService> remote,
                                                 CachingDirectoryOptions options)
    : local_(std::move(local)), remote_(std::move(remote)), options_(options) {
  writer_ = std::thread([this] { Writer(); });
  if (options_.prefetch > 0) prefetcher_ = std::thread([this] { Prefetcher(); });
}

CachingDirectoryService::~CachingDirectoryService() {
  {
    castor::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (prefetcher_.joinable()) prefetcher_.join();
  {
    castor::MutexLock lock(&mu_);
    stop_writer_ = true;
  }
  writer_.join();
}

void CachingDirectoryService::Keep(std::span<const Directory> directories) {
  castor::MutexLock lock(&mu_);
  // Backpressure when the writer falls behind (a huge recursive fetch).
  mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_.size() < kMaxPending; });
  for (const Directory& d : directories) pending_.try_emplace(d.digest(), d);
}

void CachingDirectoryService::Writer() {
  for (;;) {
    std::vector<Directory> batch;
    {
      castor::MutexLock lock(&mu_);
      mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_writer_ || !pending_.empty();
      });
      if (pending_.empty()) return;
      batch.reserve(pending_.size());
      for (const auto& [digest, dir] : pending_) batch.push_back(dir);
      writing_ = true;
    }
    absl::Status stored = local_->Insert(batch);
    if (!stored.ok()) {
      spdlog::warn("caching {} directories (the first {}): {}", batch.size(),
                   batch.front().digest().ToB3(), ToStdView(stored.message()));
    }
    castor::MutexLock lock(&mu_);
    for (const Directory& d : batch) pending_.erase(d.digest());
    writing_ = false;
  }
}

std::optional<Directory> CachingDirectoryService::Cached(const B3Digest& digest) {
  {
    castor::MutexLock lock(&mu_);
    if (auto it = pending_.find(digest); it != pending_.end()) return it->second;
  }
  absl::StatusOr<std::optional<Directory>> here = local_->Get(digest);
  if (here.ok()) return *std::move(here);
  spdlog::warn("directory cache: {}", ToStdView(here.status().message()));
  return std::nullopt;
}

absl::StatusOr<std::optional<Directory>> CachingDirectoryService::Get(const B3Digest& digest) {
  if (std::optional<Directory> here = Cached(digest)) {
    store_metrics::CacheHit(store_metrics::Cache::kDirectory);
    return here;
  }
  store_metrics::CacheMiss(store_metrics::Cache::kDirectory);
  ASSIGN_OR_RETURN(std::optional<Directory> fetched, remote_->Get(digest));
  if (!fetched.has_value()) return std::nullopt;
  if (fetched->digest() != digest) {
    store_metrics::VerificationFailure(store_metrics::Verified::kDirectory);
    return absl::DataLossError("directory " + digest.ToB3() + ": the remote answered directory " +
                               fetched->digest().ToB3());
  }
  Keep(std::span(&*fetched, 1));
  if (options_.prefetch > 0) {
    castor::MutexLock lock(&mu_);
    if (!stopping_ && queue_.size() < kMaxPrefetchQueue) queue_.push_back(digest);
  }
  return fetched;
}

absl::Status CachingDirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  // Fetched from the remote and not walked yet. The cache may hold any part
  // of the closure, so the walk reads it locally and fetches each subtree it
  // finds missing whole, in one recursive Get (verified by the remote
  // client Directory by Directory), the first time it meets it.
  absl::flat_hash_map<B3Digest, Directory> fetched;
  auto get = [&](const B3Digest& digest) -> absl::StatusOr<std::optional<Directory>> {
    if (auto it = fetched.find(digest); it != fetched.end()) {
      Directory d = std::move(it->second);
      fetched.erase(it);
      return d;
    }
    if (std::optional<Directory> here = Cached(digest)) {
      store_metrics::CacheHit(store_metrics::Cache::kDirectory);
      return here;
    }
    store_metrics::CacheMiss(store_metrics::Cache::kDirectory);
    std::vector<Directory> batch;
    auto keep = [&] {
      Keep(batch);
      for (Directory& d : batch) fetched.emplace(d.digest(), std::move(d));
      batch.clear();
    };
    absl::Status s = remote_->GetRecursive(digest, [&](const Directory& d) {
      batch.push_back(d);
      if (batch.size() >= kKeepBatch) keep();
      return absl::OkStatus();
    });
    keep();
    auto it = fetched.find(digest);
    if (s.code() == absl::StatusCode::kNotFound && it == fetched.end()) return std::nullopt;
    RETURN_IF_ERROR(s);
    if (it == fetched.end()) {
      return absl::DataLossError("directory " + digest.ToB3() + ": the remote's closure lacks it");
    }
    Directory d = std::move(it->second);
    fetched.erase(it);
    return d;
  };
  return WalkClosure(get, root, fn);
}

size_t CachingDirectoryService::prefetched() const {
  castor::MutexLock lock(&mu_);
  return prefetched_;
}

void CachingDirectoryService::WaitIdle() {
  castor::MutexLock lock(&mu_);
  mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && !busy_ && pending_.empty();
  });
}

bool CachingDirectoryService::stopping() const {
  castor::MutexLock lock(&mu_);
  return stopping_;
}

void CachingDirectoryService::Prefetcher() {
  for (;;) {
    B3Digest root;
    {
      castor::MutexLock lock(&mu_);
      mu_.Await([this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      root = queue_.front();
      queue_.pop_front();
      busy_ = true;
    }
    PrefetchBelow(root);
    castor::MutexLock lock(&mu_);
    busy_ = false;
  }
}

void CachingDirectoryService::PrefetchBelow(const B3Digest& root) {
  // Skipped when the level below is cached already (an earlier prefetch
  // got there first).
  std::optional<Directory> top = Cached(root);
  if (!top.has_value()) return;
  bool missing = false;
  for (const Entry& e : top->entries()) {
    const auto* child = std::get_if<DirectoryNode>(&e.node);
    if (child != nullptr && !Cached(child->digest).has_value()) {
      missing = true;
      break;
    }
  }
  if (!missing) return;
  // One recursive Get (a stream, breadth-first, verified Directory by
  // Directory by the remote client), cut off after options_.prefetch
  // Directories below root or when stopping.
  size_t below = 0;
  std::vector<Directory> batch;
  absl::Status s = remote_->GetRecursive(root, [&](const Directory& d) {
    if (stopping()) return absl::CancelledError("prefetch stopped");
    if (d.digest() == root) return absl::OkStatus();
    batch.push_back(d);
    ++below;
    if (batch.size() >= kKeepBatch || below == options_.prefetch) {
      Keep(batch);
      castor::MutexLock lock(&mu_);
      prefetched_ += batch.size();
      batch.clear();
    }
    return below < options_.prefetch ? absl::OkStatus()
                                     : absl::CancelledError("prefetch budget reached");
  });
  Keep(batch);
  {
    castor::MutexLock lock(&mu_);
    prefetched_ += batch.size();
  }
  // Foreground requests report remote trouble; prefetching just stops.
  if (!s.ok() && s.code() != absl::StatusCode::kCancelled) {
    spdlog::debug("prefetching below {}: {}", root.ToB3(), ToStdView(s.message()));
  }
}

absl::StatusOr<B3Digest> CachingDirectoryService::Put(const Directory& directory) {
  return remote_->Put(directory);
}

absl::StatusOr<std::unique_ptr<DirectoryPutter>> CachingDirectoryService::OpenPutter() {
  return remote_->OpenPutter();
}

absl::Status CachingDirectoryService::ForEach(
    const std::function<absl::Status(const B3Digest&)>& fn) {
  return remote_->ForEach(fn);
}

absl::Status CachingDirectoryService::Delete(std::span<const B3Digest> digests) {
  RETURN_IF_ERROR(remote_->Delete(digests));
  {
    // Not written after the local delete: dropped from the pending ones,
    // and a batch being written finishes first.
    castor::MutexLock lock(&mu_);
    for (const B3Digest& d : digests) pending_.erase(d);
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !writing_; });
  }
  return local_->Delete(digests);
}

}  // namespace castor::castore
