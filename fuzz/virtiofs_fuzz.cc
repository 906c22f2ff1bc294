// libFuzzer target: FUSE requests carried by virtqueue descriptor chains
// through the virtio-fs device (VirtioFsDevice::HandleChain) into the
// Dispatcher over the in-memory tree of fuzz/fuzz_tree.h.
//
// Guest memory is fake (GuestMemory::CreateUnowned over exactly sized heap
// buffers: 64 KiB of rings and indirect tables, 6 MiB of data), so ASan
// sees any byte touched outside it. The harness lays each input record
// (fuzz/virtiofs_records.h) out as a chain: the request split over 1..4
// readable descriptors, 0..3 writable ones, direct or indirect, on the
// hiprio or a request queue, optionally with a planted defect. Checks:
//   - every chain comes back in the used ring, in order, with its head;
//   - a chain with a defect, a request shorter than a FUSE header or (on a
//     request queue) no room for a reply header comes back with 0 bytes and
//     is counted as failed; no other chain fails (malformed chains fail
//     alone);
//   - every reply fits the chain's writable buffers, its fuse_out_header
//     len equals the used length, it echoes the request's unique, its error
//     is 0 or a negative errno and an error reply is only the header;
//   - forgetting every node id handed out leaves only the mount's top directory.
#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <span>
#include <vector>

#include "fs/castore_fs.h"
#include "fs/fuse/dispatcher.h"
#include "fs/transport/guest_memory.h"
#include "fs/transport/virtio_fs_device.h"
#include "fs/transport/virtqueue.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_tree.h"
#include "fuzz/virtiofs_records.h"
#include "spdlog/spdlog.h"

namespace {

using castor::fs::transport::DescChain;
using castor::fs::transport::GuestMemory;
using castor::fs::transport::MemoryRegionDesc;
using castor::fs::transport::VirtioFsDevice;
using castor::fs::transport::Virtqueue;
namespace fuse = castor::fs::fuse;
namespace fz = castor::fuzz;

constexpr uint64_t kSize0 = 64 * 1024, kSize1 = 6 << 20;
constexpr uint64_t kGpa1 = kSize0;  // the data region follows the ring region
constexpr uint64_t kUva0 = 0x70000000, kUva1 = 0x90000000;
constexpr uint16_t kQueueSize = 256;
constexpr uint64_t kDescAt = 0, kAvailAt = 4096, kUsedAt = 8192, kIndirectAt = 12288;
constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;
constexpr size_t kMaxRecords = 64;

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16);

struct Buffer {
  uint64_t gpa;
  uint32_t len;
};

// What the harness built for one record, to check its used element.
struct Built {
  uint16_t head = 0;
  uint32_t queue = 1;
  bool expect_fail = false;
  uint8_t shape = 0, reply = 0;
  size_t request_size = 0;
  uint64_t writable = 0;
  std::vector<Buffer> writable_buffers;
  bool has_header = false;
  fuse_in_header in{};
};

class Layout {
 public:
  Layout(std::vector<uint8_t>& r0, std::vector<uint8_t>& r1) : r0_(r0), r1_(r1) {}

  uint8_t* Host(uint64_t gpa, uint64_t len) {
    if (gpa + len <= kSize0) return r0_.data() + gpa;
    FUZZ_CHECK(gpa >= kGpa1 && gpa + len <= kGpa1 + kSize1);
    return r1_.data() + (gpa - kGpa1);
  }
  // Room in the data region, or false when it is used up.
  bool Allocate(uint64_t len, uint64_t& gpa) {
    if (data_next_ + len > kGpa1 + kSize1) return false;
    gpa = data_next_;
    data_next_ += (len + 7) & ~uint64_t{7};
    return true;
  }

  // Lays out one record; false when guest memory or the ring is full.
  bool Build(uint8_t shape, uint8_t reply, std::span<const uint8_t> request, Built& out) {
    int readable = (shape & 3) + 1;
    int writable = (shape >> 2) & 3;
    bool indirect = shape & 0x10;
    out.queue = (shape & 0x20) ? 0 : 1;
    out.shape = shape;
    out.reply = reply;
    out.request_size = request.size();
    uint32_t wsize = writable == 0 ? 0 : fz::kWritableSizes[reply & 7];
    auto defect = static_cast<fz::ChainDefect>((reply >> 3) & 7);

    std::vector<Desc> descs;
    for (int i = 0; i < readable; ++i) {
      size_t from = request.size() * i / readable, to = request.size() * (i + 1) / readable;
      uint64_t gpa;
      if (!Allocate(to - from, gpa)) return false;
      if (to > from) std::memcpy(Host(gpa, to - from), request.data() + from, to - from);
      descs.push_back({gpa, static_cast<uint32_t>(to - from), kNext, 0});
    }
    for (int i = 0; i < writable; ++i) {
      uint32_t from = static_cast<uint32_t>(uint64_t{wsize} * i / writable);
      uint32_t to = static_cast<uint32_t>(uint64_t{wsize} * (i + 1) / writable);
      uint64_t gpa;
      if (!Allocate(to - from, gpa)) return false;
      // A pattern, so a reply claiming bytes it did not write is caught.
      if (to > from) std::memset(Host(gpa, to - from), 0xa5, to - from);
      descs.push_back({gpa, to - from, static_cast<uint16_t>(kNext | kWrite), 0});
      out.writable_buffers.push_back({gpa, to - from});
    }
    out.writable = wsize;
    if (defect == fz::kDefectReadableAfterWritable) {
      uint64_t gpa;
      if (!Allocate(16, gpa)) return false;
      if (writable == 0) descs.push_back({gpa, 16, static_cast<uint16_t>(kNext | kWrite), 0});
      descs.push_back({gpa, 1, kNext, 0});
    }
    descs.back().flags &= ~kNext;

    uint32_t table_size = indirect ? static_cast<uint32_t>(descs.size()) : kQueueSize;
    uint32_t first = indirect ? 0 : desc_next_;
    switch (defect) {
      case fz::kDefectOutsideMemory:
        descs[0].addr = uint64_t{0xdead} << 32;
        descs[0].len = std::max<uint32_t>(descs[0].len, 1);
        break;
      case fz::kDefectLoop:
        descs.back().flags |= kNext;
        descs.back().next = static_cast<uint16_t>(first);
        break;
      case fz::kDefectNextOutOfRange:
        descs.back().flags |= kNext;
        descs.back().next = static_cast<uint16_t>(table_size);
        break;
      case fz::kDefectMisplacedIndirect:
        // Inside an indirect table, or combined with NEXT in the ring's
        // table: both are invalid.
        descs[0].flags |= kIndirect | (indirect ? 0 : kNext);
        break;
      case fz::kDefectHugeLength:
        descs.back().len = 0xffffffff;
        break;
      default:
        break;
    }
    out.expect_fail = (defect != fz::kDefectNone && defect != fz::kDefectNone2) ||
                      request.size() < sizeof(fuse_in_header) ||
                      (out.queue != 0 && wsize < sizeof(fuse_out_header));

    uint64_t table_gpa;
    if (indirect) {
      uint64_t bytes = 16 * descs.size();
      if (indirect_next_ + bytes > kSize0 || desc_next_ + 1 > kQueueSize) return false;
      table_gpa = indirect_next_;
      indirect_next_ += bytes;
    } else {
      if (desc_next_ + descs.size() > kQueueSize) return false;
      table_gpa = kDescAt + 16 * desc_next_;
    }
    for (size_t i = 0; i < descs.size(); ++i) {
      if ((descs[i].flags & kNext) && descs[i].next == 0 && i + 1 < descs.size()) {
        descs[i].next = static_cast<uint16_t>(first + i + 1);
      }
      std::memcpy(Host(table_gpa + 16 * i, 16), &descs[i], 16);
    }
    if (indirect) {
      Desc head{table_gpa, static_cast<uint32_t>(16 * descs.size()), kIndirect, 0};
      std::memcpy(Host(kDescAt + 16 * desc_next_, 16), &head, 16);
      out.head = static_cast<uint16_t>(desc_next_);
      desc_next_ += 1;
    } else {
      out.head = static_cast<uint16_t>(desc_next_);
      desc_next_ += static_cast<uint32_t>(descs.size());
    }
    if (request.size() >= sizeof(fuse_in_header)) {
      out.has_header = true;
      std::memcpy(&out.in, request.data(), sizeof(out.in));
    }
    return true;
  }

 private:
  std::vector<uint8_t>& r0_;
  std::vector<uint8_t>& r1_;
  uint64_t data_next_ = kGpa1;
  uint32_t desc_next_ = 0;
  uint64_t indirect_next_ = kIndirectAt;
};

void Put16(std::vector<uint8_t>& r0, uint64_t at, uint16_t v) {
  std::memcpy(r0.data() + at, &v, 2);
}

// The device (and its pool of 1 MiB reply buffers) lives across inputs;
// each input's Dispatcher is plugged in here.
class ForwardingHandler : public fuse::RequestHandler {
 public:
  void Handle(std::span<const uint8_t> request, fuse::Responder& responder) override {
    target->Handle(request, responder);
  }
  fuse::RequestHandler* target = nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const castor::castore::Services services = fz::MakeTree();
  static std::vector<uint8_t> r0(kSize0), r1(kSize1);
  std::fill(r0.begin(), r0.end(), 0);

  castor::fs::CastoreFs fs(services, castor::fs::FsOptions{.list_root = true, .show_xattr = true});
  fuse::SessionOptions session_options;
  session_options.max_pages = 256;  // as GuestSessionHandler: replies of up to 1 MiB
  fuse::Session session(session_options);
  fuse::Dispatcher dispatcher(fs, session);

  Layout layout(r0, r1);
  std::vector<Built> built;
  {
    fuse_init_in init{};
    init.major = 7;
    init.minor = 38;
    init.max_readahead = 128 * 1024;
    init.flags = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES | FUSE_INIT_EXT;
    std::vector<uint8_t> frame(sizeof(fuse_in_header) + sizeof(init));
    fuse_in_header h{};
    h.len = static_cast<uint32_t>(frame.size());
    h.opcode = FUSE_INIT;
    h.unique = 1;
    std::memcpy(frame.data(), &h, sizeof(h));
    std::memcpy(frame.data() + sizeof(h), &init, sizeof(init));
    Built b;
    FUZZ_CHECK(layout.Build(fz::Shape(1, 1, false, false), 0, frame, b));
    built.push_back(std::move(b));
  }
  size_t pos = 0;
  while (pos + 4 <= size && built.size() < kMaxRecords) {
    uint8_t shape = data[pos], reply = data[pos + 1];
    size_t n = data[pos + 2] | (static_cast<size_t>(data[pos + 3]) << 8);
    pos += 4;
    n = std::min(n, size - pos);
    Built b;
    if (!layout.Build(shape, reply, std::span<const uint8_t>(data + pos, n), b)) break;
    pos += n;
    built.push_back(std::move(b));
  }
  for (size_t i = 0; i < built.size(); ++i) Put16(r0, kAvailAt + 4 + 2 * i, built[i].head);
  Put16(r0, kAvailAt + 2, static_cast<uint16_t>(built.size()));

  MemoryRegionDesc regions[] = {
      {.guest_phys_addr = 0, .memory_size = kSize0, .userspace_addr = kUva0},
      {.guest_phys_addr = kGpa1, .memory_size = kSize1, .userspace_addr = kUva1},
  };
  uint8_t* hosts[] = {r0.data(), r1.data()};
  auto mem = GuestMemory::CreateUnowned(regions, hosts);
  FUZZ_CHECK(mem.ok());
  static ForwardingHandler forward;
  static VirtioFsDevice device(forward, "fuzz", 1, /*threads=*/0);
  forward.target = &dispatcher;
  const uint64_t failed_before = device.failed_chains();
  Virtqueue vq;
  FUZZ_CHECK(vq.Start(**mem,
                      Virtqueue::Layout{.size = kQueueSize,
                                        .desc_addr = kUva0 + kDescAt,
                                        .avail_addr = kUva0 + kAvailAt,
                                        .used_addr = kUva0 + kUsedAt},
                      0, /*event_idx=*/false, /*indirect=*/true)
                 .ok());
  for (size_t i = 0; i < built.size(); ++i) {
    auto chain = vq.Pop();
    FUZZ_CHECK(chain.ok() && chain->has_value());
    FUZZ_CHECK((*chain)->head == built[i].head);
    device.HandleChain(built[i].queue, vq, std::move(**chain));
  }
  auto last = vq.Pop();
  FUZZ_CHECK(last.ok() && !last->has_value());
  vq.WaitIdle();

  uint16_t used_idx;
  std::memcpy(&used_idx, r0.data() + kUsedAt + 2, 2);
  FUZZ_CHECK(used_idx == built.size());
  uint64_t expected_failures = 0;
  // Triage aid: VIRTIOFS_FUZZ_VERBOSE=1 prints what each chain was and got.
  static const bool verbose = std::getenv("VIRTIOFS_FUZZ_VERBOSE") != nullptr;
  std::set<uint64_t> ids;
  std::vector<uint8_t> reply;
  for (size_t i = 0; i < built.size(); ++i) {
    const Built& b = built[i];
    uint32_t id, len;
    std::memcpy(&id, r0.data() + kUsedAt + 4 + 8 * i, 4);
    std::memcpy(&len, r0.data() + kUsedAt + 8 + 8 * i, 4);
    if (verbose) {
      std::fprintf(
          stderr,
          "chain %zu head %u shape %#x reply %#x request %zu expect_fail %d writable %lu used %u\n",
          i, b.head, b.shape, b.reply, b.request_size, b.expect_fail,
          static_cast<unsigned long>(b.writable), len);
    }
    FUZZ_CHECK(id == b.head);
    FUZZ_CHECK(len <= b.writable);
    if (b.expect_fail) {
      ++expected_failures;
      FUZZ_CHECK(len == 0);
      continue;
    }
    if (len == 0) continue;  // no reply (FORGET, INTERRUPT, unanswerable)
    FUZZ_CHECK(b.has_header);
    reply.clear();
    for (const Buffer& w : b.writable_buffers) {
      if (reply.size() >= len) break;
      uint32_t take = std::min<uint32_t>(w.len, static_cast<uint32_t>(len - reply.size()));
      const uint8_t* p = layout.Host(w.gpa, take);
      reply.insert(reply.end(), p, p + take);
    }
    FUZZ_CHECK(reply.size() == len);
    FUZZ_CHECK(len >= sizeof(fuse_out_header));
    fuse_out_header h;
    std::memcpy(&h, reply.data(), sizeof(h));
    FUZZ_CHECK(h.len == len);
    FUZZ_CHECK(h.unique == b.in.unique);
    FUZZ_CHECK(h.error <= 0 && h.error > -4096);
    if (h.error != 0) {
      FUZZ_CHECK(len == sizeof(fuse_out_header));
    } else {
      fz::CollectNodeIds(b.in.opcode, reply.data(), len, ids);
    }
  }
  FUZZ_CHECK(device.failed_chains() - failed_before == expected_failures);
  forward.target = nullptr;
  vq.Stop();
  for (uint64_t id : ids) fs.Forget(id, UINT64_MAX);
  FUZZ_CHECK(fs.inode_count() == 1);
  return 0;
}
