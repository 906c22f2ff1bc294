// JobPool: the import's worker threads. A fixed set of threads runs jobs
// from a bounded queue (Submit blocks while it is full, so a fast producer
// cannot pile up open files or buffered bytes). Each job returns a Status;
// the first error is kept, and jobs that run after it are told to skip
// their work (they still run, so whatever they own is released). Finish
// waits for every job and returns that first error.
//
// Thread-safety: Submit, Fail and failed may be called from any thread;
// Finish from the owner only (after its last Submit). The destructor
// finishes the pool, so a pool declared last in its owner stops its
// threads before the members its jobs use are destroyed.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "base/mutex.h"

namespace castor::castore {

class JobPool {
 public:
  // `skip`: an earlier job failed; the job should only clean up.
  using Job = std::function<absl::Status(bool skip)>;

  JobPool(unsigned threads, size_t max_queued);
  ~JobPool();
  JobPool(const JobPool&) = delete;
  JobPool& operator=(const JobPool&) = delete;

  // Queues `job`, waiting while max_queued jobs are queued already.
  void Submit(Job job);
  // Waits for every queued job, stops the threads and returns the first
  // error. Idempotent.
  absl::Status Finish();
  // Records `status` as the error unless an earlier one is kept.
  void Fail(absl::Status status);
  bool failed();

 private:
  void Run();

  const size_t max_queued_;
  Mutex mu_;
  CondVar work_, space_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// Import worker threads when ImportOptions::threads is 0: more than cores,
// as workers spend much of their time waiting for reads and writes.
unsigned DefaultImportThreads();

}  // namespace castor::castore
