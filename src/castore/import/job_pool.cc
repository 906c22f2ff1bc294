#include "castore/import/job_pool.h"

#include <algorithm>
#include <utility>

namespace castor::castore {

JobPool::JobPool(unsigned threads, size_t max_queued)
    : max_queued_(std::max<size_t>(1, max_queued)) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i) threads_.emplace_back([this] { Run(); });
}

JobPool::~JobPool() { (void)Finish(); }

void JobPool::Submit(Job job) {
  MutexLock lock(&mu_);
  while (queue_.size() >= max_queued_) space_.Wait(&mu_);
  queue_.push_back(std::move(job));
  work_.Signal();
}

absl::Status JobPool::Finish() {
  {
    MutexLock lock(&mu_);
    done_ = true;
    work_.SignalAll();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  MutexLock lock(&mu_);
  return first_error_;
}

void JobPool::Fail(absl::Status status) {
  MutexLock lock(&mu_);
  if (first_error_.ok()) first_error_ = std::move(status);
}

bool JobPool::failed() {
  MutexLock lock(&mu_);
  return !first_error_.ok();
}

void JobPool::Run() {
  while (true) {
    Job job;
    bool skip;
    {
      MutexLock lock(&mu_);
      while (!done_ && queue_.empty()) work_.Wait(&mu_);
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      space_.Signal();
      skip = !first_error_.ok();
    }
    absl::Status s = job(skip);
    if (!s.ok()) Fail(std::move(s));
  }
}

unsigned DefaultImportThreads() {
  // Enough workers to keep the disk's queue full while every core hashes.
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return std::clamp(4 * cores, 8u, 32u);
}

}  // namespace castor::castore
