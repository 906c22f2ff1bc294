// Prefetcher: replays an access record (fs/access_record.h) against a
// store in the background, so the reads that follow find what it fetched
// local: for each entry in order it resolves the path from the roots down,
// fetches a `d` directory's Directory and reads a `f` range of its blob,
// through the same Services a mount reads through (with --cache that puts
// Directories and blobs or their chunks in the cache). Up to `jobs`
// entries are in flight at once, taken in record order; the threads run at
// the lowest CPU and I/O priority (nice 19, the idle I/O class, falling
// back to the lowest best-effort level where idle is refused). A path not
// in the tree (a name missing, or of another kind) is skipped and counted;
// so is an entry whose fetch fails (the first such failure is logged).
// Thread-safe: Start once, Stop and Wait from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "base/mutex.h"
#include "castore/composition.h"
#include "castore/node.h"
#include "fs/access_record.h"
#include "fs/directory_cache.h"

namespace castor::fs {

struct PrefetchOptions {
  int jobs = 2;
  // nice 19 and the idle I/O class on the prefetch threads.
  bool lowest_priority = true;
};

struct PrefetchStats {
  uint64_t directories = 0;  // `d` entries fetched
  uint64_t files = 0;        // `f` entries (file ranges) fetched
  uint64_t bytes = 0;        // bytes of file ranges read
  uint64_t skipped = 0;      // entries not in the tree, or failing
  double seconds = 0;
  bool stopped = false;  // Stop cut the replay short
};

class Prefetcher {
 public:
  Prefetcher(castore::Services services, std::vector<AccessEntry> entries, PrefetchOptions options);
  ~Prefetcher();  // Stop()
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Starts the replay; `done` is called once, from a prefetch thread, with
  // the totals when every entry was handled or Stop ended it.
  void Start(std::function<void(const PrefetchStats&)> done);
  // Asks the threads to stop after the piece they are fetching (at most a
  // MiB, or one service call) and waits for them.
  void Stop();
  // Waits until the replay ended (finished or stopped); its totals. Only
  // after Start.
  PrefetchStats Wait();

 private:
  void Work();
  void Handle(const AccessEntry& entry);
  // The node at `path`, or nullopt when it is not in the tree (Unavailable
  // etc. when a service fails).
  absl::StatusOr<std::optional<castore::Node>> Resolve(std::string_view path);
  // The Directory of `node`: cached, else fetched once however many jobs
  // need it at the same time (the others wait for the one fetching it).
  absl::StatusOr<std::shared_ptr<const castore::Directory>> GetDirectory(
      const castore::DirectoryNode& node);
  // Fetches it and puts it in the cache.
  absl::StatusOr<std::shared_ptr<const castore::Directory>> Fetch(
      const castore::DirectoryNode& node);
  void Skip(const absl::Status& why);

  const castore::Services services_;
  const std::vector<AccessEntry> entries_;
  const PrefetchOptions options_;
  DirectoryCache directories_{1 << 16};
  // Directories a job is fetching now: another job that needs one waits
  // for it instead of fetching it again.
  castor::Mutex fetching_mu_;
  absl::flat_hash_set<castore::B3Digest> fetching_ ABSL_GUARDED_BY(fetching_mu_);

  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> dirs_done_{0};
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<bool> logged_failure_{false};
  std::atomic<bool> interrupted_{false};

  castor::Mutex roots_mu_;
  absl::flat_hash_map<std::string, std::optional<castore::Node>> roots_ ABSL_GUARDED_BY(roots_mu_);

  // Held by Start and Stop while they touch threads_; never with mu_.
  castor::Mutex threads_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(threads_mu_);

  castor::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  PrefetchStats stats_ ABSL_GUARDED_BY(mu_);
  std::function<void(const PrefetchStats&)> done_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point started_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::fs
