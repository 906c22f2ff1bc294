// libFuzzer target: virtqueue descriptor chains against fake guest memory.
// Two regions (64 KiB at guest address 0 and 4 KiB right after it, so
// ranges can cross the boundary) live in exactly sized heap buffers, so
// ASan flags any byte touched outside them. The input picks the queue size,
// event-idx / indirect support and the start index, then fills guest
// memory: the descriptor table, both rings and any indirect tables are the
// fuzzer's. Every chain Pop() accepts must consist of spans inside the
// regions, within the per-chain byte limit; every byte of it is read or
// written; a malformed chain only fails itself. The input also picks which
// chains the device keeps in flight until the end (bits 5-7 of the first
// byte: chain i is kept when bit i % 3 is set): Pop must never hand out a
// head the device holds (the ring naming one again is DataLoss, leaving the
// entry unconsumed), and every head goes back exactly once.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fs/transport/guest_memory.h"
#include "fs/transport/virtqueue.h"
#include "fuzz/fuzz_check.h"

namespace {

using castor::fs::transport::GuestMemory;
using castor::fs::transport::MemoryRegionDesc;
using castor::fs::transport::Virtqueue;

constexpr uint64_t kSize0 = 64 * 1024, kSize1 = 4096;
constexpr uint64_t kUva0 = 0x70000000, kUva1 = 0x80000000;

bool Inside(std::span<uint8_t> s, const std::vector<uint8_t>& region) {
  const uint8_t* b = region.data();
  return s.data() >= b && s.data() + s.size() <= b + region.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static constexpr uint16_t kQueueSizes[] = {1, 2, 4, 8, 16, 3};  // 3: must be refused
  uint16_t qsize = kQueueSizes[(data[0] & 0x7) % 6];
  bool event_idx = data[0] & 0x8;
  bool indirect = data[0] & 0x10;
  uint8_t hold = data[0] >> 5;
  uint16_t last_avail = static_cast<uint16_t>(data[1] | (data[2] << 8));
  data += 3;
  size -= 3;

  std::vector<uint8_t> r0(kSize0), r1(kSize1);
  size_t n0 = std::min<size_t>(size, kSize0);
  std::memcpy(r0.data(), data, n0);
  std::memcpy(r1.data(), data + n0, std::min<size_t>(size - n0, kSize1));

  MemoryRegionDesc regions[] = {
      {.guest_phys_addr = 0, .memory_size = kSize0, .userspace_addr = kUva0},
      {.guest_phys_addr = kSize0, .memory_size = kSize1, .userspace_addr = kUva1},
  };
  uint8_t* hosts[] = {r0.data(), r1.data()};
  auto mem = GuestMemory::CreateUnowned(regions, hosts);
  FUZZ_CHECK(mem.ok());

  Virtqueue::Layout layout{
      .size = qsize, .desc_addr = kUva0, .avail_addr = kUva0 + 16 * 16, .used_addr = kUva0 + 512};
  Virtqueue vq;
  absl::Status started = vq.Start(**mem, layout, last_avail, event_idx, indirect);
  if (!started.ok()) {
    FUZZ_CHECK(started.code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(qsize != 3);
  std::vector<uint16_t> held;
  std::vector<bool> holding(qsize, false);
  for (int i = 0; i < 64; ++i) {
    auto chain = vq.Pop();
    if (!chain.ok()) {
      // A head out of range: that entry is skipped.
      if (chain.status().code() != absl::StatusCode::kDataLoss) continue;
      // The ring itself is broken: the queue stops there, consuming nothing.
      uint16_t at = vq.last_avail();
      FUZZ_CHECK(vq.Pop().status().code() == absl::StatusCode::kDataLoss);
      FUZZ_CHECK(vq.last_avail() == at);
      break;
    }
    if (!chain->has_value()) break;
    const auto& c = **chain;
    FUZZ_CHECK(c.head < qsize && !holding[c.head]);
    FUZZ_CHECK(vq.inflight() == held.size() + 1);
    uint32_t written = 0;
    if (!c.status.ok()) {
      FUZZ_CHECK(c.readable.empty() && c.writable.empty());
    } else {
      uint64_t total = 0;
      uint8_t sink = 0;
      for (auto s : c.readable) {
        FUZZ_CHECK(Inside(s, r0) || Inside(s, r1));
        for (uint8_t b : s) sink ^= b;
        total += s.size();
      }
      FUZZ_CHECK(total == c.readable_bytes);
      for (auto s : c.writable) {
        FUZZ_CHECK(Inside(s, r0) || Inside(s, r1));
        std::memset(s.data(), sink, s.size());
        total += s.size();
      }
      FUZZ_CHECK(total == c.readable_bytes + c.writable_bytes);
      FUZZ_CHECK(total <= Virtqueue::kMaxChainBytes);
      written = static_cast<uint32_t>(c.writable_bytes);
    }
    if (hold & (1 << (i % 3))) {
      holding[c.head] = true;
      held.push_back(c.head);
      continue;
    }
    vq.PushUsed(c.head, written);
  }
  FUZZ_CHECK(held.size() <= qsize);
  for (auto it = held.rbegin(); it != held.rend(); ++it) vq.PushUsed(*it, 0);
  FUZZ_CHECK(vq.inflight() == 0);
  vq.WaitIdle();
  vq.Stop();
  return 0;
}
