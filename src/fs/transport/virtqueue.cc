#include "fs/transport/virtqueue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::fs::transport {
namespace {

uint16_t Load16(uint8_t* p, std::memory_order order) {
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).load(order);
}
void Store16(uint8_t* p, uint16_t v, std::memory_order order) {
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, order);
}

}  // namespace

Virtqueue::~Virtqueue() {
  MutexLock lock(&mu_);
  if (call_fd_ >= 0) close(call_fd_);
}

absl::Status Virtqueue::Start(const GuestMemory& mem, const Layout& layout, uint16_t last_avail,
                              bool event_idx, bool indirect) {
  uint16_t n = layout.size;
  if (n == 0 || n > kMaxSize || (n & (n - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("queue size ", n, " is not a power of 2 up to ", kMaxSize));
  }
  if (layout.desc_addr % 16 != 0 || layout.avail_addr % 2 != 0 || layout.used_addr % 4 != 0) {
    return absl::InvalidArgumentError("virtqueue rings are misaligned");
  }
  auto desc = mem.TranslateFrontend(layout.desc_addr, uint64_t{16} * n);
  auto avail = mem.TranslateFrontend(layout.avail_addr, 6 + uint64_t{2} * n);
  auto used = mem.TranslateFrontend(layout.used_addr, 6 + uint64_t{8} * n);
  if (!desc || !avail || !used) {
    return absl::InvalidArgumentError("virtqueue rings are outside guest memory");
  }
  // The ring indexes are accessed atomically, which needs them aligned in
  // *host* memory too; a region whose mmap_offset is not aligned like its
  // frontend address moves them off alignment.
  if (reinterpret_cast<uintptr_t>(avail->data()) % 2 != 0 ||
      reinterpret_cast<uintptr_t>(used->data()) % 4 != 0) {
    return absl::InvalidArgumentError(
        "virtqueue rings are misaligned in the mapped region (odd mmap_offset)");
  }
  mem_ = &mem;
  size_ = n;
  event_idx_ = event_idx;
  indirect_ = indirect;
  desc_ = desc->data();
  avail_ = avail->data();
  used_ = used->data();
  last_avail_ = last_avail;
  MutexLock lock(&mu_);
  used_idx_ = Load16(used_ + 2, std::memory_order_acquire);
  // Started only when idle (after WaitIdle), so nothing is held.
  held_.assign(n, false);
  return absl::OkStatus();
}

void Virtqueue::Stop() {
  mem_ = nullptr;
  desc_ = avail_ = used_ = nullptr;
}

uint16_t Virtqueue::LoadAvailIdx() const { return Load16(avail_ + 2, std::memory_order_acquire); }

absl::StatusOr<std::optional<DescChain>> Virtqueue::Pop() {
  uint16_t avail_idx = LoadAvailIdx();
  uint16_t pending = static_cast<uint16_t>(avail_idx - last_avail_);
  if (pending == 0) return std::nullopt;
  if (pending > size_) {
    return absl::DataLossError(absl::StrCat("available index jumped from ", last_avail_, " to ",
                                            avail_idx, " on a queue of ", size_));
  }
  uint16_t head = Load16(avail_ + 4 + 2 * (last_avail_ % size_), std::memory_order_relaxed);
  if (head >= size_) {
    ++last_avail_;
    return absl::InvalidArgumentError(
        absl::StrCat("available ring names descriptor ", head, " of ", size_, "; entry skipped"));
  }
  {
    // Checked and marked before the chain is walked: the descriptors of a
    // chain in flight belong to the device, so a second copy of its head
    // would make the device read buffers the driver is not allowed to
    // touch and complete the head twice.
    MutexLock lock(&mu_);
    if (held_[head]) {
      return absl::DataLossError(absl::StrCat("available ring entry ", last_avail_,
                                              " names descriptor ", head,
                                              ", which the device still holds"));
    }
    held_[head] = true;
    ++inflight_;
  }
  ++last_avail_;
  DescChain chain;
  chain.head = head;
  WalkChain(chain);
  if (!chain.status.ok()) {
    chain.readable.clear();
    chain.writable.clear();
    chain.readable_bytes = chain.writable_bytes = 0;
  }
  return chain;
}

void Virtqueue::WalkChain(DescChain& chain) const {
  const uint8_t* table = desc_;
  uint32_t table_size = size_;
  bool in_indirect = false;
  uint32_t idx = chain.head;
  uint32_t count = 0;
  bool seen_writable = false;
  for (;;) {
    if (idx >= table_size) {
      chain.status = absl::InvalidArgumentError(
          absl::StrCat("descriptor index ", idx, " out of range (", table_size, ")"));
      return;
    }
    if (++count > table_size) {
      chain.status =
          absl::InvalidArgumentError("descriptor chain loops or is longer than its table");
      return;
    }
    Desc d;
    std::memcpy(&d, table + 16 * idx, sizeof(d));
    if (d.flags & kDescIndirect) {
      if (!indirect_ || in_indirect || count != 1 || (d.flags & kDescNext)) {
        chain.status = absl::InvalidArgumentError("misplaced indirect descriptor");
        return;
      }
      if (d.len == 0 || d.len % 16 != 0 || d.len / 16 > kMaxSize) {
        chain.status =
            absl::InvalidArgumentError(absl::StrCat("indirect table of ", d.len, " bytes"));
        return;
      }
      auto t = mem_->TranslateGuest(d.addr, d.len);
      if (!t) {
        chain.status = absl::InvalidArgumentError("indirect table outside guest memory");
        return;
      }
      table = t->data();
      table_size = d.len / 16;
      in_indirect = true;
      idx = 0;
      count = 0;
      continue;
    }
    bool writable = d.flags & kDescWrite;
    // Tracked apart from chain.writable, which skips empty buffers: a
    // zero-length writable descriptor still ends the readable part.
    if (!writable && seen_writable) {
      chain.status = absl::InvalidArgumentError("device-readable descriptor after a writable one");
      return;
    }
    if (chain.readable_bytes + chain.writable_bytes + d.len > kMaxChainBytes) {
      chain.status = absl::InvalidArgumentError("descriptor chain describes too many bytes");
      return;
    }
    seen_writable |= writable;
    if (d.len > 0) {
      auto& out = writable ? chain.writable : chain.readable;
      if (!mem_->TranslateGuestRange(d.addr, d.len, out)) {
        chain.status = absl::InvalidArgumentError(
            absl::StrCat("buffer of ", d.len, " bytes at guest address 0x", absl::Hex(d.addr),
                         " outside guest memory"));
        return;
      }
      (writable ? chain.writable_bytes : chain.readable_bytes) += d.len;
    }
    if (!(d.flags & kDescNext)) return;
    idx = d.next;
  }
}

bool Virtqueue::EnableNotifyAndCheck() {
  if (event_idx_) Store16(used_ + 4 + 8 * size_, last_avail_, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return LoadAvailIdx() != last_avail_;
}

void Virtqueue::PushUsed(uint16_t head, uint32_t len) {
  MutexLock lock(&mu_);
  CASTOR_CHECK(head < held_.size() && held_[head]);
  held_[head] = false;
  uint8_t* elem = used_ + 4 + 8 * (used_idx_ % size_);
  uint32_t id = head;
  std::memcpy(elem, &id, 4);
  std::memcpy(elem + 4, &len, 4);
  uint16_t old_idx = used_idx_;
  ++used_idx_;
  Store16(used_ + 2, used_idx_, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  bool notify;
  if (event_idx_) {
    uint16_t used_event = Load16(avail_ + 4 + 2 * size_, std::memory_order_relaxed);
    notify = static_cast<uint16_t>(used_idx_ - used_event - 1) <
             static_cast<uint16_t>(used_idx_ - old_idx);
  } else {
    notify = !(Load16(avail_, std::memory_order_relaxed) & kAvailNoInterrupt);
  }
  if (notify && call_fd_ >= 0) eventfd_write(call_fd_, 1);
  if (--inflight_ == 0) idle_.SignalAll();
}

void Virtqueue::SetCallFd(int fd) {
  MutexLock lock(&mu_);
  if (call_fd_ >= 0) close(call_fd_);
  call_fd_ = fd;
}

uint64_t Virtqueue::inflight() const {
  MutexLock lock(&mu_);
  return inflight_;
}

void Virtqueue::WaitIdle() {
  MutexLock lock(&mu_);
  while (inflight_ != 0) idle_.Wait(&mu_);
}

}  // namespace castor::fs::transport
