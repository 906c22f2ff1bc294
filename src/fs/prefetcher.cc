#include "fs/prefetcher.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "spdlog/spdlog.h"

namespace castor::fs {
namespace {

// linux/ioprio.h is not in every libc's headers.
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassBe = 2;
constexpr int kIoprioClassIdle = 3;

// The calling thread (only) to nice 19 and the idle I/O class (else the
// lowest best-effort level). Failures only cost speed: logged at debug.
void LowestPriority() {
  auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, tid, 19) != 0) {
    spdlog::debug("prefetch: setpriority: {}", std::strerror(errno));
  }
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, kIoprioClassIdle << kIoprioClassShift) !=
          0 &&
      ::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid,
                (kIoprioClassBe << kIoprioClassShift) | 7) != 0) {
    spdlog::debug("prefetch: ioprio_set: {}", std::strerror(errno));
  }
}

constexpr size_t kPiece = 1 << 20;

}  // namespace

Prefetcher::Prefetcher(castore::Services services, std::vector<AccessEntry> entries,
                       PrefetchOptions options)
    : services_(std::move(services)), entries_(std::move(entries)), options_(options) {}

Prefetcher::~Prefetcher() { Stop(); }

void Prefetcher::Start(std::function<void(const PrefetchStats&)> done) {
  castor::MutexLock threads_lock(&threads_mu_);
  if (!threads_.empty()) return;
  int jobs = std::max(1, options_.jobs);
  {
    castor::MutexLock lock(&mu_);
    done_ = std::move(done);
    started_ = std::chrono::steady_clock::now();
    running_ = jobs;
  }
  for (int i = 0; i < jobs; ++i) threads_.emplace_back([this] { Work(); });
}

void Prefetcher::Stop() {
  stop_ = true;
  castor::MutexLock threads_lock(&threads_mu_);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

PrefetchStats Prefetcher::Wait() {
  castor::MutexLock lock(&mu_);
  mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished_; });
  return stats_;
}

void Prefetcher::Work() {
  if (options_.lowest_priority) LowestPriority();
  while (true) {
    if (stop_) {
      if (next_ < entries_.size()) interrupted_ = true;
      break;
    }
    size_t i = next_.fetch_add(1);
    if (i >= entries_.size()) break;
    Handle(entries_[i]);
  }
  std::function<void(const PrefetchStats&)> done;
  PrefetchStats stats;
  {
    castor::MutexLock lock(&mu_);
    if (--running_ > 0) return;
    stats.directories = dirs_done_;
    stats.files = files_done_;
    stats.bytes = bytes_;
    stats.skipped = skipped_;
    stats.stopped = interrupted_;
    stats.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    done = std::move(done_);
  }
  // The last thread reports, before Wait returns.
  if (done) done(stats);
  castor::MutexLock lock(&mu_);
  stats_ = stats;
  finished_ = true;
}

void Prefetcher::Skip(const absl::Status& why) {
  if (stop_ && !why.ok()) {
    // Cut short by Stop (or by the calls cancelled at shutdown).
    interrupted_ = true;
    return;
  }
  ++skipped_;
  if (!why.ok() && !logged_failure_.exchange(true)) {
    spdlog::warn("prefetch: {} (further failures are counted as skipped)",
                 ToStdView(why.message()));
  }
}

absl::StatusOr<std::shared_ptr<const castore::Directory>> Prefetcher::GetDirectory(
    const castore::DirectoryNode& node) {
  {
    castor::MutexLock lock(&fetching_mu_);
    fetching_mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(fetching_mu_) {
      return !fetching_.contains(node.digest);
    });
    if (auto cached = directories_.Get(node.digest); cached && cached->size() == node.size) {
      return cached;
    }
    fetching_.insert(node.digest);
  }
  absl::StatusOr<std::shared_ptr<const castore::Directory>> result = Fetch(node);
  // In the cache before the waiters wake, so they find it there.
  castor::MutexLock lock(&fetching_mu_);
  fetching_.erase(node.digest);
  return result;
}

absl::StatusOr<std::shared_ptr<const castore::Directory>> Prefetcher::Fetch(
    const castore::DirectoryNode& node) {
  ASSIGN_OR_RETURN(std::optional<castore::Directory> got, services_.directories->Get(node.digest));
  if (!got.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("directory ", node.digest.ToB3(), " is missing from the directory service"));
  }
  auto dir = std::make_shared<const castore::Directory>(*std::move(got));
  directories_.Put(dir);
  return dir;
}

absl::StatusOr<std::optional<castore::Node>> Prefetcher::Resolve(std::string_view path) {
  std::vector<absl::string_view> names = absl::StrSplit(ToAbslView(path), '/');
  std::optional<castore::Node> node;
  {
    castor::MutexLock lock(&roots_mu_);
    if (auto it = roots_.find(names[0]); it != roots_.end()) node = it->second;
  }
  if (!node) {
    absl::StatusOr<castore::PathComponent> name =
        castore::PathComponent::Create(ToStdView(names[0]));
    if (!name.ok()) return std::nullopt;
    ASSIGN_OR_RETURN(std::optional<castore::Entry> root, services_.roots->Get(*name));
    if (root) node = root->node;
    castor::MutexLock lock(&roots_mu_);
    roots_.emplace(std::string(names[0]), node);
    if (!node) return std::nullopt;
  }
  for (size_t i = 1; i < names.size(); ++i) {
    if (stop_) return absl::CancelledError("prefetch stopped");
    const auto* dir_node = std::get_if<castore::DirectoryNode>(&*node);
    if (dir_node == nullptr) return std::nullopt;
    ASSIGN_OR_RETURN(std::shared_ptr<const castore::Directory> dir, GetDirectory(*dir_node));
    const castore::Entry* entry = dir->Find(ToStdView(names[i]));
    if (entry == nullptr) return std::nullopt;
    node = entry->node;
  }
  return node;
}

void Prefetcher::Handle(const AccessEntry& entry) {
  absl::StatusOr<std::optional<castore::Node>> node = Resolve(entry.path);
  if (!node.ok()) return Skip(node.status());
  if (!node->has_value()) return Skip(absl::OkStatus());
  if (entry.kind == AccessEntry::Kind::kDirectory) {
    const auto* dir_node = std::get_if<castore::DirectoryNode>(&**node);
    if (dir_node == nullptr) return Skip(absl::OkStatus());
    absl::StatusOr<std::shared_ptr<const castore::Directory>> dir = GetDirectory(*dir_node);
    if (!dir.ok()) return Skip(dir.status());
    ++dirs_done_;
    return;
  }
  const auto* file = std::get_if<castore::FileNode>(&**node);
  if (file == nullptr || entry.offset >= file->size) return Skip(absl::OkStatus());
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> reader =
      services_.blobs->OpenReadSized(file->digest, file->size);
  if (!reader.ok()) return Skip(reader.status());
  if (*reader == nullptr) {
    return Skip(absl::NotFoundError(
        absl::StrCat("blob ", file->digest.ToB3(), " of ", entry.path, " is missing")));
  }
  uint64_t end = std::min(file->size, entry.offset + entry.length);  // Parse bounds the sum
  if ((*reader)->LocalFd() >= 0) {
    // The bytes are in a local file already (the cache's, which the open
    // just filled, or a local store's): reading them would only hash them
    // once more, and the real read checks them anyway.
    bytes_ += end - entry.offset;
    ++files_done_;
    return;
  }
  std::vector<uint8_t> buf(static_cast<size_t>(std::min<uint64_t>(kPiece, end - entry.offset)));
  uint64_t offset = entry.offset;
  while (offset < end && !stop_) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - offset));
    absl::StatusOr<size_t> got = (*reader)->ReadAt(offset, std::span(buf.data(), want));
    if (!got.ok()) return Skip(got.status());
    if (*got == 0) break;
    offset += *got;
    bytes_ += *got;
  }
  if (offset < end && stop_) {
    interrupted_ = true;
    return;
  }
  ++files_done_;
}

}  // namespace castor::fs
