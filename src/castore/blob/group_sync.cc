#include "castore/blob/group_sync.h"

namespace castor::castore {

absl::Status GroupSync::Sync() {
  castor::MutexLock lock(&mu_);
  // What was written before this call is covered by any round that starts
  // from now on; the next round to start is started_ + 1.
  const uint64_t target = started_ + 1;
  ++rounds_[target].waiters;
  while (finished_ < target) {
    if (!running_ && started_ < target) {
      running_ = true;
      started_ = target;
      mu_.Unlock();
      absl::Status status = flush_();
      mu_.Lock();
      running_ = false;
      finished_ = target;
      if (!status.ok()) rounds_[target].status = std::move(status);
    } else {
      mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return Idle(); });
    }
  }
  auto it = rounds_.find(target);
  absl::Status result = it->second.status;
  if (--it->second.waiters == 0) rounds_.erase(it);
  return result;
}

size_t GroupSync::results_kept() const {
  castor::MutexLock lock(&mu_);
  return rounds_.size();
}

size_t GroupSync::callers_waiting() const {
  castor::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [round, r] : rounds_) n += static_cast<size_t>(r.waiters);
  return n;
}

}  // namespace castor::castore
