// GroupSync: group commit for a flush that covers everything written before
// it starts (syncfs(2) of a store's filesystem). Rounds of the flush run one
// at a time; a caller waits for the first round that starts after it
// arrived, and shares that round, and its result, with everyone else who
// waits for the same one. So a flush that fails is reported to every caller
// that waited for it, and concurrent callers cost one flush, not one each.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "base/mutex.h"

namespace castor::castore {

class GroupSync {
 public:
  // `flush` runs one round (without the lock held) and returns its result.
  explicit GroupSync(std::function<absl::Status()> flush) : flush_(std::move(flush)) {}
  GroupSync(const GroupSync&) = delete;
  GroupSync& operator=(const GroupSync&) = delete;

  // Returns once a round that started after this call began has finished:
  // that round's result.
  absl::Status Sync();

  // Results of rounds kept for callers that have not picked them up yet
  // (tests: it stays bounded).
  size_t results_kept() const;
  // Callers inside Sync now (tests).
  size_t callers_waiting() const;

 private:
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !running_; }

  const std::function<absl::Status()> flush_;
  mutable castor::Mutex mu_;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  // The rounds callers wait for (at most the running one and the next), each
  // with its result until its last waiter has taken it.
  struct Round {
    int waiters = 0;
    absl::Status status;
  };
  absl::flat_hash_map<uint64_t, Round> rounds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace castor::castore
