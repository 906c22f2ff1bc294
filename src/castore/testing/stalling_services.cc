#include "castore/testing/stalling_services.h"

#include <chrono>
#include <limits>
#include <utility>

#include "absl/time/clock.h"
#include "base/status.h"

namespace castor::castore::testing {

void Staller::StallStat(const B3Digest& blob) {
  castor::MutexLock lock(&mu_);
  stat_.insert(blob);
}

void Staller::StallOpen(const B3Digest& blob) {
  castor::MutexLock lock(&mu_);
  open_.insert(blob);
}

void Staller::StallReadsFrom(const B3Digest& blob, uint64_t offset) {
  castor::MutexLock lock(&mu_);
  read_from_[blob] = offset;
}

void Staller::SlowReads(const B3Digest& blob, absl::Duration delay) {
  castor::MutexLock lock(&mu_);
  slow_[blob] = delay;
}

void Staller::StallDirectory(const B3Digest& directory) {
  castor::MutexLock lock(&mu_);
  directories_.insert(directory);
}

void Staller::Release() {
  castor::MutexLock lock(&mu_);
  released_ = true;
}

bool Staller::AwaitBlocked(int n, absl::Duration timeout) {
  castor::MutexLock lock(&mu_);
  return mu_.AwaitUntil([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return blocked_ >= n; },
                        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout));
}

void Staller::BlockIf(bool stalled) {
  if (!stalled) return;
  {
    // Its own critical section: the Unlock wakes AwaitBlocked.
    castor::MutexLock lock(&mu_);
    ++blocked_;
  }
  castor::MutexLock lock(&mu_);
  mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return released_; });
  --blocked_;
}

bool Staller::StatStalls(const B3Digest& blob) {
  castor::MutexLock lock(&mu_);
  return stat_.contains(blob);
}

bool Staller::OpenStalls(const B3Digest& blob) {
  castor::MutexLock lock(&mu_);
  return open_.contains(blob);
}

uint64_t Staller::ReadStallOffset(const B3Digest& blob) {
  castor::MutexLock lock(&mu_);
  auto it = read_from_.find(blob);
  return it == read_from_.end() ? std::numeric_limits<uint64_t>::max() : it->second;
}

absl::Duration Staller::ReadDelay(const B3Digest& blob) {
  castor::MutexLock lock(&mu_);
  auto it = slow_.find(blob);
  return it == slow_.end() ? absl::ZeroDuration() : it->second;
}

bool Staller::DirectoryStalls(const B3Digest& directory) {
  castor::MutexLock lock(&mu_);
  return directories_.contains(directory);
}

namespace {

class StallingReader : public BlobReader {
 public:
  StallingReader(std::unique_ptr<BlobReader> inner, std::shared_ptr<Staller> staller,
                 uint64_t stall_from, absl::Duration delay)
      : inner_(std::move(inner)),
        staller_(std::move(staller)),
        stall_from_(stall_from),
        delay_(delay) {}
  uint64_t size() const override { return inner_->size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    absl::SleepFor(delay_);
    staller_->BlockIf(offset >= stall_from_);
    return inner_->ReadAt(offset, buf);
  }

 private:
  std::unique_ptr<BlobReader> inner_;
  std::shared_ptr<Staller> staller_;
  uint64_t stall_from_;
  absl::Duration delay_;
};

class StallingBlobs : public BlobService {
 public:
  StallingBlobs(std::shared_ptr<BlobService> inner, std::shared_ptr<Staller> staller)
      : inner_(std::move(inner)), staller_(std::move(staller)) {}
  absl::StatusOr<bool> Has(const B3Digest& digest) override {
    staller_->BlockIf(staller_->StatStalls(digest));
    return inner_->Has(digest);
  }
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& digest) override {
    staller_->BlockIf(staller_->OpenStalls(digest));
    ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> r, inner_->OpenRead(digest));
    if (r == nullptr) return nullptr;
    return std::make_unique<StallingReader>(
        std::move(r), staller_, staller_->ReadStallOffset(digest), staller_->ReadDelay(digest));
  }
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override { return inner_->OpenWrite(); }
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& digest) override {
    staller_->BlockIf(staller_->StatStalls(digest));
    return inner_->Chunks(digest);
  }
  absl::Status Sync() override { return inner_->Sync(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    return inner_->ForEach(fn);
  }
  absl::Status Delete(const B3Digest& digest) override { return inner_->Delete(digest); }

 private:
  std::shared_ptr<BlobService> inner_;
  std::shared_ptr<Staller> staller_;
};

class StallingDirectories : public DirectoryService {
 public:
  StallingDirectories(std::shared_ptr<DirectoryService> inner, std::shared_ptr<Staller> staller)
      : inner_(std::move(inner)), staller_(std::move(staller)) {}
  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override {
    staller_->BlockIf(staller_->DirectoryStalls(digest));
    return inner_->Get(digest);
  }
  absl::StatusOr<B3Digest> Put(const Directory& directory) override {
    return inner_->Put(directory);
  }
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override {
    return inner_->OpenPutter();
  }
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override {
    staller_->BlockIf(staller_->DirectoryStalls(root));
    return inner_->GetRecursive(root, fn);
  }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override {
    return inner_->ForEach(fn);
  }
  absl::Status Delete(std::span<const B3Digest> digests) override {
    return inner_->Delete(digests);
  }

 private:
  std::shared_ptr<DirectoryService> inner_;
  std::shared_ptr<Staller> staller_;
};

}  // namespace

std::shared_ptr<BlobService> StallingBlobService(std::shared_ptr<BlobService> inner,
                                                 std::shared_ptr<Staller> staller) {
  return std::make_shared<StallingBlobs>(std::move(inner), std::move(staller));
}

std::shared_ptr<DirectoryService> StallingDirectoryService(std::shared_ptr<DirectoryService> inner,
                                                           std::shared_ptr<Staller> staller) {
  return std::make_shared<StallingDirectories>(std::move(inner), std::move(staller));
}

}  // namespace castor::castore::testing
