#include "fs/transport/virtio_fs_device.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "spdlog/spdlog.h"

namespace castor::fs::transport {
namespace {

// One in-flight request: owns the gathered request and the reply buffer,
// scatters the reply and returns the chain on Complete().
class ChainResponder : public fuse::Responder {
 public:
  ChainResponder(Virtqueue& vq, ReplyBufferPool& pool, DescChain chain)
      : vq_(vq),
        pool_(pool),
        chain_(std::move(chain)),
        request_(new uint8_t[chain_.readable_bytes]),
        reply_size_(std::min<uint64_t>(chain_.writable_bytes, VirtioFsDevice::kMaxReply)),
        pooled_(reply_size_ <= ReplyBufferPool::kBufferSize),
        reply_(pooled_ ? pool.Get() : std::unique_ptr<uint8_t[]>(new uint8_t[reply_size_])) {
    size_t off = 0;
    for (std::span<uint8_t> s : chain_.readable) {
      std::memcpy(request_.get() + off, s.data(), s.size());
      off += s.size();
    }
  }

  std::span<const uint8_t> request() const { return {request_.get(), chain_.readable_bytes}; }
  std::span<uint8_t> ReplyBuffer() override { return {reply_.get(), reply_size_}; }

  void Complete(size_t length) override {
    if (length > reply_size_) {
      spdlog::error("virtio-fs: handler replied {} bytes into a {}-byte buffer", length,
                    reply_size_);
      length = reply_size_;
    }
    size_t off = 0;
    for (std::span<uint8_t> s : chain_.writable) {
      if (off >= length) break;
      size_t n = std::min(s.size(), length - off);
      std::memcpy(s.data(), reply_.get() + off, n);
      off += n;
    }
    uint16_t head = chain_.head;
    Virtqueue& vq = vq_;
    if (pooled_) pool_.Put(std::move(reply_));
    // Delete before pushing: once the chain is back, the queue may stop and
    // the device go away.
    delete this;
    vq.PushUsed(head, static_cast<uint32_t>(length));
  }

 private:
  Virtqueue& vq_;
  ReplyBufferPool& pool_;
  DescChain chain_;
  std::unique_ptr<uint8_t[]> request_;
  size_t reply_size_;
  bool pooled_;
  std::unique_ptr<uint8_t[]> reply_;
};

}  // namespace

std::unique_ptr<uint8_t[]> ReplyBufferPool::Get() {
  {
    MutexLock lock(&mu_);
    if (!free_.empty()) {
      auto b = std::move(free_.back());
      free_.pop_back();
      return b;
    }
  }
  return std::unique_ptr<uint8_t[]>(new uint8_t[kBufferSize]);
}

void ReplyBufferPool::Put(std::unique_ptr<uint8_t[]> buffer) {
  MutexLock lock(&mu_);
  if (free_.size() < kMaxFree) free_.push_back(std::move(buffer));
}

VirtioFsDevice::VirtioFsDevice(fuse::RequestHandler& handler, std::string tag,
                               uint32_t request_queues, int threads)
    : handler_(handler),
      tag_(std::move(tag)),
      request_queues_(std::max<uint32_t>(1, request_queues)),
      max_backlog_(kBacklogPerWorker * std::max(threads, 1)),
      backlog_(1 + request_queues_, 0) {
  CASTOR_CHECK(tag_.size() <= kTagSize && !tag_.empty());
  static auto& chains = metrics::Registry::Default().AddCounterFamily(
      "castor_virtiofs_requests_total",
      "Descriptor chains (FUSE requests) a virtio-fs guest sent, by queue (0: hiprio).", {"queue"});
  for (uint32_t q = 0; q < NumQueues(); ++q) {
    chains_per_queue_.push_back(&chains.WithLabels({std::to_string(q)}));
  }
  if (threads > 1) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Worker(); });
  }
}

VirtioFsDevice::~VirtioFsDevice() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_.SignalAll();
  for (std::thread& t : workers_) t.join();
}

std::vector<uint8_t> VirtioFsDevice::Config() const {
  std::vector<uint8_t> config(kTagSize + 4, 0);
  std::memcpy(config.data(), tag_.data(), tag_.size());
  uint32_t n = request_queues_;
  std::memcpy(config.data() + kTagSize, &n, 4);
  return config;
}

uint64_t VirtioFsDevice::failed_chains() const {
  MutexLock lock(&mu_);
  return failed_;
}

void VirtioFsDevice::HandleChain(uint32_t queue, Virtqueue& vq, DescChain chain) {
  if (queue < chains_per_queue_.size()) chains_per_queue_[queue]->Inc();
  const char* problem = nullptr;
  if (!chain.status.ok()) {
    spdlog::warn("virtio-fs queue {}: malformed descriptor chain {}: {}", queue, chain.head,
                 ToStdView(chain.status.message()));
    problem = "";
  } else if (chain.readable_bytes < kInHeaderSize) {
    problem = "request shorter than a FUSE header";
  } else if (chain.readable_bytes > kMaxRequest) {
    problem = "request larger than any FUSE request";
  } else if (queue != 0 && chain.writable_bytes < kOutHeaderSize) {
    problem = "no room for a FUSE reply";
  }
  if (problem != nullptr) {
    if (*problem) spdlog::warn("virtio-fs queue {}: chain {}: {}", queue, chain.head, problem);
    {
      MutexLock lock(&mu_);
      ++failed_;
    }
    vq.PushUsed(chain.head, 0);
    return;
  }
  if (workers_.empty()) {
    auto* responder = new ChainResponder(vq, pool_, std::move(chain));
    handler_.Handle(responder->request(), *responder);
    return;
  }
  {
    // Backpressure: while this queue's backlog is full, its thread waits
    // here instead of popping more. Workers never wait on a queue thread,
    // so the wait ends (as a queue stop does: it waits for every chain).
    MutexLock lock(&mu_);
    CASTOR_CHECK(queue < backlog_.size());
    while (backlog_[queue] >= max_backlog_) room_.Wait(&mu_);
    ++backlog_[queue];
    // The request is copied and the reply buffer taken only when a worker
    // picks the job up, so a waiting chain costs no buffers.
    queue_.push_back(Job{queue, &vq, std::move(chain)});
  }
  work_.Signal();
}

size_t VirtioFsDevice::backlog(uint32_t queue) const {
  MutexLock lock(&mu_);
  return queue < backlog_.size() ? backlog_[queue] : 0;
}

void VirtioFsDevice::Worker() {
  for (;;) {
    std::optional<Job> job;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) work_.Wait(&mu_);
      if (queue_.empty()) return;
      job.emplace(std::move(queue_.front()));
      queue_.pop_front();
      --backlog_[job->queue];
    }
    room_.SignalAll();
    auto* responder = new ChainResponder(*job->vq, pool_, std::move(job->chain));
    handler_.Handle(responder->request(), *responder);
  }
}

}  // namespace castor::fs::transport
