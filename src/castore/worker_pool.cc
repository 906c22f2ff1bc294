#include "castore/worker_pool.h"

#include <utility>

namespace castor {

WorkerPool::WorkerPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  std::deque<Task> dropped;  // destroyed outside the lock
  {
    castor::MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  for (std::thread& t : threads_) t.join();
}

bool WorkerPool::Submit(const void* owner, std::function<void()> task) {
  castor::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(Task{owner, std::move(task)});
  return true;
}

void WorkerPool::Drain(const void* owner) {
  // Destroyed after the lock is released: a task's captures may take locks
  // of their own when they go.
  std::deque<Task> dropped;
  castor::MutexLock lock(&mu_);
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->owner == owner) {
      dropped.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !running_.contains(owner); });
}

void WorkerPool::Work() {
  for (;;) {
    Task task;
    {
      castor::MutexLock lock(&mu_);
      mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_[task.owner];
    }
    task.run();
    // Its captures go before the owner learns the task is done.
    task.run = nullptr;
    castor::MutexLock lock(&mu_);  // its Unlock wakes Drain
    if (--running_[task.owner] == 0) running_.erase(task.owner);
  }
}

}  // namespace castor
