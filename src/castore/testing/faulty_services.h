// Test-only fault injection: wrappers around a BlobService, DirectoryService
// and RootService that fail, stall, truncate or corrupt answers according to
// a FaultInjector's schedule, so tests can check that everything above the
// services (the filesystem, import, clients) answers errors promptly, never
// passes on a wrong byte, and recovers once the faults stop.
//
// What each fault does per service:
//   kUnavailable  every call returns Unavailable ("injected fault: ...")
//   kStall        the call sleeps for the schedule's stall, then proceeds
//   kTruncate     blobs: ReadAt returns 0 (end) from half the blob on;
//                 directories: Get answers a Directory with its last entry
//                 dropped; roots: DataLoss (an undecodable stored value)
//   kCorrupt      blobs: ReadAt flips every byte it returns;
//                 directories: Get answers the empty Directory;
//                 roots: DataLoss
// Writes (OpenWrite, BlobWriter::Write/Close, Put, OpenPutter, roots Put and
// Remove) know only kUnavailable and kStall; other faults pass them through.
//
// Thread-safe: the injector and the wrappers may be used from any thread;
// a schedule change applies to calls that start after it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/roots/root_service.h"

namespace castor::castore::testing {

enum class FaultKind { kNone, kUnavailable, kStall, kTruncate, kCorrupt };

struct FaultSchedule {
  FaultKind kind = FaultKind::kNone;
  // Faults hit the calls numbered every, 2*every, ... after Set (1 = all).
  uint64_t every = 1;
  // Faults injected before the schedule switches itself off; -1: unlimited.
  int64_t times = -1;
  // For kStall; bounded so a test can never hang on it.
  absl::Duration stall = absl::Milliseconds(100);
};

class FaultInjector {
 public:
  // Replaces the schedule and restarts its call count.
  void Set(FaultSchedule schedule);
  void Clear() { Set(FaultSchedule{}); }
  // Counts one call and returns the fault to apply to it (kNone mostly).
  // A stall is served here: the caller then proceeds normally.
  FaultKind Next();
  uint64_t injected() const { return injected_.load(); }

 private:
  castor::Mutex mu_;
  FaultSchedule schedule_ ABSL_GUARDED_BY(mu_);
  uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t left_ ABSL_GUARDED_BY(mu_) = -1;
  std::atomic<uint64_t> injected_{0};
};

// The Unavailable status the wrappers return, naming the operation.
absl::Status InjectedUnavailable(std::string_view what);

std::shared_ptr<BlobService> FaultyBlobService(std::shared_ptr<BlobService> inner,
                                               std::shared_ptr<FaultInjector> faults);
std::shared_ptr<DirectoryService> FaultyDirectoryService(std::shared_ptr<DirectoryService> inner,
                                                         std::shared_ptr<FaultInjector> faults);
std::shared_ptr<RootService> FaultyRootService(std::shared_ptr<RootService> inner,
                                               std::shared_ptr<FaultInjector> faults);

}  // namespace castor::castore::testing
