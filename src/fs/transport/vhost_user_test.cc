// The vhost-user virtio-fs transport against a fake frontend in the same
// process: a socketpair for the protocol, a memfd as guest memory (two
// regions, the second at a non-zero mmap offset), eventfds for kick/call,
// and a trivial RequestHandler that echoes requests.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "base/metrics.h"
#include "fs/transport/guest_memory.h"
#include "fs/transport/vhost_user_backend.h"
#include "fs/transport/vhost_user_protocol.h"
#include "fs/transport/virtio_fs_device.h"
#include "fs/transport/virtqueue.h"
#include "gtest/gtest.h"

namespace castor::fs::transport {
namespace {

constexpr uint64_t kRegionSize = 1 << 20;
constexpr uint64_t kUva0 = 0x10000000, kUva1 = 0x20000000;
constexpr uint16_t kQueueSize = 16;
constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;
constexpr uint32_t kOpForget = 2;

// Echo: replies fuse_out_header{len, 0, unique} + the request body (after
// the 40-byte in-header). FORGET gets no reply. Optionally completes from a
// separate thread; while Hold() is in effect, Handle blocks until Release().
// After MeetIn(n), each request waits (5 s at most) until n requests are in
// Handle at once; met() says whether they were.
class EchoHandler : public fuse::RequestHandler {
 public:
  explicit EchoHandler(bool async = false) : async_(async) {}
  ~EchoHandler() override {
    for (auto& t : threads_) t.join();
  }
  void Handle(std::span<const uint8_t> request, fuse::Responder& responder) override {
    ++calls;
    {
      std::unique_lock<std::mutex> lock(gate_mu_);
      gate_.wait(lock, [this] { return !held_; });
      if (meet_ > 0) {
        ++inside_;
        gate_.notify_all();
        if (gate_.wait_for(lock, std::chrono::seconds(5), [this] { return inside_ >= meet_; })) {
          met_ = true;
        }
      }
    }
    uint32_t opcode;
    uint64_t unique;
    std::memcpy(&opcode, request.data() + 4, 4);
    std::memcpy(&unique, request.data() + 8, 8);
    if (opcode == kOpForget) {
      responder.Complete(0);
      return;
    }
    std::span<uint8_t> out = responder.ReplyBuffer();
    size_t body = std::min(request.size() - 40, out.size() - 16);
    uint32_t len = 16 + body;
    int32_t error = 0;
    std::memcpy(out.data(), &len, 4);
    std::memcpy(out.data() + 4, &error, 4);
    std::memcpy(out.data() + 8, &unique, 8);
    std::memcpy(out.data() + 16, request.data() + 40, body);
    if (async_) {
      std::lock_guard<std::mutex> lock(mu_);
      threads_.emplace_back([&responder, len] { responder.Complete(len); });
    } else {
      responder.Complete(len);
    }
  }
  void Hold() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    held_ = true;
  }
  void MeetIn(int n) {
    std::lock_guard<std::mutex> lock(gate_mu_);
    meet_ = n;
  }
  bool met() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    return met_;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(gate_mu_);
      held_ = false;
    }
    gate_.notify_all();
  }
  std::atomic<int> calls{0};

 private:
  std::mutex gate_mu_;
  std::condition_variable gate_;
  bool held_ = false;
  int meet_ = 0, inside_ = 0;
  bool met_ = false;
  bool async_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

std::vector<uint8_t> FuseRequest(uint32_t opcode, uint64_t unique, std::string_view body) {
  std::vector<uint8_t> r(40 + body.size(), 0);
  uint32_t len = r.size();
  std::memcpy(r.data(), &len, 4);
  std::memcpy(r.data() + 4, &opcode, 4);
  std::memcpy(r.data() + 8, &unique, 8);
  std::memcpy(r.data() + 40, body.data(), body.size());
  return r;
}

struct Used {
  uint32_t id;
  uint32_t len;
};

// The guest side of one split virtqueue in the fake guest memory.
struct FakeQueue {
  uint8_t* mem;  // host mapping of guest physical address 0
  uint64_t desc_gpa, avail_gpa, used_gpa;
  uint16_t size = kQueueSize;
  uint16_t avail_idx = 0;
  uint16_t used_seen = 0;
  uint16_t next_desc = 0;
  int kick = -1, call = -1;

  uint8_t* At(uint64_t gpa) { return mem + gpa; }
  void WriteDesc(uint64_t table_gpa, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next) {
    uint8_t* d = At(table_gpa + 16 * i);
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
  }
  // Allocates consecutive descriptors for `bufs` (gpa, len, writable) and
  // returns the head index.
  uint16_t AddChain(const std::vector<std::tuple<uint64_t, uint32_t, bool>>& bufs) {
    uint16_t head = next_desc;
    for (size_t i = 0; i < bufs.size(); ++i) {
      auto [addr, len, w] = bufs[i];
      uint16_t idx = (head + i) % size;
      bool last = i + 1 == bufs.size();
      WriteDesc(desc_gpa, idx, addr, len, (w ? kWrite : 0) | (last ? 0 : kNext), (idx + 1) % size);
    }
    next_desc = (head + bufs.size()) % size;
    Publish(head);
    return head;
  }
  void Publish(uint16_t head) {
    std::memcpy(At(avail_gpa + 4 + 2 * (avail_idx % size)), &head, 2);
    // Ask for an interrupt at every used element (event-idx).
    uint16_t used_event = used_seen;
    std::memcpy(At(avail_gpa + 4 + 2 * size), &used_event, 2);
    ++avail_idx;
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(At(avail_gpa + 2)))
        .store(avail_idx, std::memory_order_release);
  }
  void Kick() { eventfd_write(kick, 1); }
  uint16_t UsedIdx() {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(At(used_gpa + 2)))
        .load(std::memory_order_acquire);
  }
  // Waits (up to 5 s) for the next used element.
  std::optional<Used> WaitUsed() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (UsedIdx() == used_seen) {
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    Used u;
    std::memcpy(&u, At(used_gpa + 4 + 8 * (used_seen % size)), 8);
    ++used_seen;
    return u;
  }
  uint16_t AvailEvent() {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(At(used_gpa + 4 + 8 * size)))
        .load(std::memory_order_acquire);
  }
  // Waits (up to 5 s) for the device to publish avail_event == `want`: it
  // does so once its queue thread finds the ring empty again, which may be
  // after the used element of the last request appeared.
  uint16_t WaitAvailEvent(uint16_t want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    uint16_t v;
    while ((v = AvailEvent()) != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return v;
  }
};

class VhostUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memfd_ = memfd_create("guest", MFD_CLOEXEC);
    ASSERT_GE(memfd_, 0);
    ASSERT_EQ(ftruncate(memfd_, 2 * kRegionSize), 0);
    void* m = mmap(nullptr, 2 * kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
    ASSERT_NE(m, MAP_FAILED);
    mem_ = static_cast<uint8_t*>(m);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    front_ = sv[0];
    back_ = sv[1];
    for (int q = 0; q < 3; ++q) {
      queues_[q].mem = mem_;
      uint64_t base = 0x10000 + q * 0x4000;
      queues_[q].desc_gpa = base;
      queues_[q].avail_gpa = base + 0x1000;
      queues_[q].used_gpa = base + 0x2000;
      queues_[q].kick = eventfd(0, EFD_CLOEXEC);
      queues_[q].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
  }

  // A device with `request_queues` request queues (at most 2: queues_).
  void StartBackend(int threads = 1, bool async = false, uint32_t request_queues = 1) {
    num_queues_ = 1 + request_queues;
    handler_ = std::make_unique<EchoHandler>(async);
    device_ = std::make_unique<VirtioFsDevice>(*handler_, "castor", request_queues, threads);
    backend_ = std::make_unique<VhostUserBackend>(*device_);
    stop_ = eventfd(0, EFD_CLOEXEC);
    served_ =
        std::async(std::launch::async, [this] { return backend_->ServeConnection(back_, stop_); });
  }

  void TearDown() override {
    if (front_ >= 0) close(front_);
    if (served_.valid()) served_.wait();
    backend_.reset();
    device_.reset();
    handler_.reset();
    close(back_);
    if (stop_ >= 0) close(stop_);
    for (auto& q : queues_) {
      close(q.kick);
      close(q.call);
    }
    munmap(mem_, 2 * kRegionSize);
    close(memfd_);
  }

  // Guest physical -> frontend virtual address (region 0 / region 1).
  static uint64_t Uva(uint64_t gpa) {
    return gpa < kRegionSize ? kUva0 + gpa : kUva1 + gpa - kRegionSize;
  }

  void Send(uint32_t req, std::vector<uint8_t> payload, std::vector<int> fds = {},
            bool need_reply = false) {
    uint32_t flags = vhost::kVersion | (need_reply ? vhost::kFlagNeedReply : 0);
    ASSERT_TRUE(WriteVhostMessage(front_, req, flags, payload, fds).ok());
  }
  template <typename T>
  static std::vector<uint8_t> Bytes(const T& v) {
    std::vector<uint8_t> p(sizeof(T));
    std::memcpy(p.data(), &v, sizeof(T));
    return p;
  }
  VhostMessage Receive() {
    auto m = ReadVhostMessage(front_);
    EXPECT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(m.ok() && m->has_value());
    if (!m.ok() || !m->has_value()) return {};
    EXPECT_TRUE((*m)->flags & vhost::kFlagReply);
    return std::move(**m);
  }
  uint64_t ReceiveU64(uint32_t req) {
    VhostMessage m = Receive();
    EXPECT_EQ(m.request, req);
    EXPECT_EQ(m.payload.size(), 8u);
    uint64_t v = ~uint64_t{0};
    if (m.payload.size() == 8) std::memcpy(&v, m.payload.data(), 8);
    return v;
  }

  std::vector<uint8_t> MemTable() {
    std::vector<uint8_t> p(8 + 2 * 32, 0);
    uint32_t n = 2;
    std::memcpy(p.data(), &n, 4);
    vhost::MemoryRegion r0{0, kRegionSize, kUva0, 0};
    vhost::MemoryRegion r1{kRegionSize, kRegionSize, kUva1, kRegionSize};
    std::memcpy(p.data() + 8, &r0, 32);
    std::memcpy(p.data() + 40, &r1, 32);
    return p;
  }

  // The sequence QEMU's vhost-user-fs-pci sends, up to running queues.
  void Handshake(uint64_t features = vhost::kFeatureVersion1 | vhost::kFeatureEventIdx |
                                     vhost::kFeatureIndirectDesc |
                                     vhost::kFeatureProtocolFeatures) {
    Send(vhost::kGetFeatures, {});
    uint64_t offered = ReceiveU64(vhost::kGetFeatures);
    ASSERT_EQ(offered & features, features);
    Send(vhost::kGetProtocolFeatures, {});
    uint64_t proto = ReceiveU64(vhost::kGetProtocolFeatures);
    ASSERT_TRUE(proto & vhost::kProtocolReplyAck);
    ASSERT_TRUE(proto & vhost::kProtocolMq);
    Send(vhost::kSetProtocolFeatures,
         Bytes<uint64_t>(vhost::kProtocolMq | vhost::kProtocolReplyAck));
    Send(vhost::kGetQueueNum, {});
    ASSERT_EQ(ReceiveU64(vhost::kGetQueueNum), num_queues_);
    Send(vhost::kSetOwner, {});
    for (uint32_t q = 0; q < num_queues_; ++q) {
      Send(vhost::kSetVringCall, Bytes<uint64_t>(q), {queues_[q].call});
    }
    Send(vhost::kSetFeatures, Bytes<uint64_t>(features), {}, true);
    ASSERT_EQ(ReceiveU64(vhost::kSetFeatures), 0u);
    Send(vhost::kSetMemTable, MemTable(), {memfd_, memfd_}, true);
    ASSERT_EQ(ReceiveU64(vhost::kSetMemTable), 0u);
    for (uint32_t q = 0; q < num_queues_; ++q) {
      FakeQueue& fq = queues_[q];
      Send(vhost::kSetVringNum, Bytes(vhost::VringState{q, kQueueSize}));
      Send(vhost::kSetVringBase, Bytes(vhost::VringState{q, 0}));
      Send(vhost::kSetVringAddr,
           Bytes(vhost::VringAddr{q, 0, Uva(fq.desc_gpa), Uva(fq.used_gpa), Uva(fq.avail_gpa), 0}));
      Send(vhost::kSetVringKick, Bytes<uint64_t>(q), {fq.kick});
      Send(vhost::kSetVringCall, Bytes<uint64_t>(q), {fq.call});
    }
    for (uint32_t q = 0; q < num_queues_; ++q) {
      Send(vhost::kSetVringEnable, Bytes(vhost::VringState{q, 1}), {}, true);
      ASSERT_EQ(ReceiveU64(vhost::kSetVringEnable), 0u);
    }
  }

  // Sends `body` as one FUSE request split over two readable descriptors and
  // a reply area split over two writable ones; returns the reply.
  std::vector<uint8_t> RoundTrip(uint64_t unique, std::string_view body, uint64_t in_gpa = 0x40000,
                                 uint64_t out_gpa = 0x50000) {
    FakeQueue& q = queues_[1];
    auto req = FuseRequest(26, unique, body);
    std::memcpy(mem_ + in_gpa, req.data(), req.size());
    uint32_t split = 20;
    q.AddChain({{in_gpa, split, false},
                {in_gpa + split, static_cast<uint32_t>(req.size() - split), false},
                {out_gpa, 10, true},
                {out_gpa + 10, 4000, true}});
    q.Kick();
    auto used = q.WaitUsed();
    EXPECT_TRUE(used.has_value());
    if (!used) return {};
    return std::vector<uint8_t>(mem_ + out_gpa, mem_ + out_gpa + used->len);
  }

  static void ExpectEcho(const std::vector<uint8_t>& reply, uint64_t unique,
                         std::string_view body) {
    ASSERT_EQ(reply.size(), 16 + body.size());
    uint32_t len;
    uint64_t u;
    std::memcpy(&len, reply.data(), 4);
    std::memcpy(&u, reply.data() + 8, 8);
    EXPECT_EQ(len, reply.size());
    EXPECT_EQ(u, unique);
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(reply.data() + 16), body.size()),
              body);
  }

  // Publishes `n` requests (two descriptors each, request i at 0x40000 +
  // i * 0x100, its reply area at 0x50000 + i * 0x100) with uniques
  // first_unique + i and bodies prefix + i on the request queue.
  void PublishRequests(int n, uint64_t first_unique, const std::string& prefix) {
    FakeQueue& q = queues_[1];
    for (int i = 0; i < n; ++i) {
      auto req = FuseRequest(26, first_unique + i, prefix + std::to_string(i));
      std::memcpy(mem_ + 0x40000 + i * 0x100, req.data(), req.size());
      q.AddChain({{0x40000 + i * 0x100, static_cast<uint32_t>(req.size()), false},
                  {0x50000 + i * 0x100, 0x100, true}});
    }
  }
  // Waits for the `n` replies of PublishRequests, in any order, each echoed
  // into its own reply area, each head once.
  void ExpectEchoes(int n, uint64_t first_unique, const std::string& prefix) {
    FakeQueue& q = queues_[1];
    std::set<uint32_t> heads;
    for (int i = 0; i < n; ++i) {
      auto used = q.WaitUsed();
      ASSERT_TRUE(used);
      heads.insert(used->id);
      int k = used->id / 2;
      ExpectEcho(
          std::vector<uint8_t>(mem_ + 0x50000 + k * 0x100, mem_ + 0x50000 + k * 0x100 + used->len),
          first_unique + k, prefix + std::to_string(k));
    }
    EXPECT_EQ(heads.size(), static_cast<size_t>(n));
  }

  int memfd_ = -1;
  uint8_t* mem_ = nullptr;
  int front_ = -1, back_ = -1, stop_ = -1;
  FakeQueue queues_[3];
  uint32_t num_queues_ = 2;
  std::unique_ptr<EchoHandler> handler_;
  std::unique_ptr<VirtioFsDevice> device_;
  std::unique_ptr<VhostUserBackend> backend_;
  std::future<absl::Status> served_;
  std::unique_ptr<VirtioDevice> custom_device_;  // instead of device_, for some tests
};

TEST_F(VhostUserTest, FullStartupServesRequestsAndStopsOnDisconnect) {
  StartBackend();
  Handshake();
  // GET_CONFIG returns the tag and the number of request queues.
  std::vector<uint8_t> cfg(12 + 40, 0);
  vhost::ConfigHeader h{0, 40, 0};
  std::memcpy(cfg.data(), &h, 12);
  Send(vhost::kGetConfig, cfg);
  VhostMessage m = Receive();
  ASSERT_EQ(m.payload.size(), 52u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(m.payload.data() + 12)), "castor");
  uint32_t nq;
  std::memcpy(&nq, m.payload.data() + 12 + 36, 4);
  EXPECT_EQ(nq, 1u);

  ExpectEcho(RoundTrip(7, "hello virtio-fs"), 7, "hello virtio-fs");
  // The call eventfd was signalled (event-idx asked for it).
  eventfd_t v = 0;
  EXPECT_EQ(eventfd_read(queues_[1].call, &v), 0);
  EXPECT_GE(v, 1u);
  // With event-idx the device publishes how far it has consumed.
  EXPECT_EQ(queues_[1].WaitAvailEvent(queues_[1].avail_idx), queues_[1].avail_idx);

  // A request whose buffers straddle the two memory regions.
  ExpectEcho(RoundTrip(8, std::string(300, 'x'), kRegionSize - 256, kRegionSize + 0x10000), 8,
             std::string(300, 'x'));

  // GET_VRING_BASE stops the queue and reports the next available index.
  Send(vhost::kGetVringBase, Bytes(vhost::VringState{1, 0}));
  VhostMessage base = Receive();
  ASSERT_EQ(base.payload.size(), 8u);
  vhost::VringState st;
  std::memcpy(&st, base.payload.data(), 8);
  EXPECT_EQ(st.index, 1u);
  EXPECT_EQ(st.num, 2u);

  close(front_);
  front_ = -1;
  ASSERT_EQ(served_.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(served_.get().ok());
  EXPECT_EQ(handler_->calls.load(), 2);
}

TEST_F(VhostUserTest, IndirectChainsAndHiprioForget) {
  StartBackend();
  Handshake();
  FakeQueue& q = queues_[1];
  auto req = FuseRequest(26, 99, "indirect!");
  std::memcpy(mem_ + 0x40000, req.data(), req.size());
  uint64_t table = 0x30000;
  q.WriteDesc(table, 0, 0x40000, req.size(), kNext, 1);
  q.WriteDesc(table, 1, 0x50000, 64, kWrite, 0);
  q.WriteDesc(q.desc_gpa, 0, table, 32, kIndirect, 0);
  q.Publish(0);
  q.Kick();
  auto used = q.WaitUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, 0u);
  ExpectEcho(std::vector<uint8_t>(mem_ + 0x50000, mem_ + 0x50000 + used->len), 99, "indirect!");

  FakeQueue& hi = queues_[0];
  auto forget = FuseRequest(kOpForget, 0, std::string(8, '\0'));
  std::memcpy(mem_ + 0x60000, forget.data(), forget.size());
  hi.AddChain({{0x60000, static_cast<uint32_t>(forget.size()), false}});
  hi.Kick();
  auto hu = hi.WaitUsed();
  ASSERT_TRUE(hu);
  EXPECT_EQ(hu->len, 0u);
  EXPECT_EQ(handler_->calls.load(), 2);
}

TEST_F(VhostUserTest, MalformedChainsFailOnlyThatRequest) {
  StartBackend();
  Handshake();
  FakeQueue& q = queues_[1];
  auto req = FuseRequest(26, 1, "x");
  std::memcpy(mem_ + 0x40000, req.data(), req.size());
  uint32_t rl = req.size();
  struct Case {
    const char* name;
    std::function<uint16_t()> build;
  };
  std::vector<Case> cases = {
      {"loop",
       [&] {
         q.WriteDesc(q.desc_gpa, 0, 0x40000, rl, kNext, 1);
         q.WriteDesc(q.desc_gpa, 1, 0x50000, 64, kWrite | kNext, 1);
         return uint16_t{0};
       }},
      {"next out of range",
       [&] {
         q.WriteDesc(q.desc_gpa, 2, 0x40000, rl, kNext, 500);
         return uint16_t{2};
       }},
      {"buffer outside guest memory",
       [&] {
         q.WriteDesc(q.desc_gpa, 3, 0x40000, rl, kNext, 4);
         q.WriteDesc(q.desc_gpa, 4, 2 * kRegionSize - 10, 64, kWrite, 0);
         return uint16_t{3};
       }},
      {"address wraps",
       [&] {
         q.WriteDesc(q.desc_gpa, 5, ~uint64_t{0} - 4, 64, 0, 0);
         return uint16_t{5};
       }},
      {"no reply room",
       [&] {
         q.WriteDesc(q.desc_gpa, 6, 0x40000, rl, 0, 0);
         return uint16_t{6};
       }},
      {"reply room too small",
       [&] {
         q.WriteDesc(q.desc_gpa, 7, 0x40000, rl, kNext, 8);
         q.WriteDesc(q.desc_gpa, 8, 0x50000, 8, kWrite, 0);
         return uint16_t{7};
       }},
      {"readable after writable",
       [&] {
         q.WriteDesc(q.desc_gpa, 9, 0x50000, 64, kWrite | kNext, 10);
         q.WriteDesc(q.desc_gpa, 10, 0x40000, rl, 0, 0);
         return uint16_t{9};
       }},
      {"request shorter than a header",
       [&] {
         q.WriteDesc(q.desc_gpa, 11, 0x40000, 12, kNext, 12);
         q.WriteDesc(q.desc_gpa, 12, 0x50000, 64, kWrite, 0);
         return uint16_t{11};
       }},
      {"indirect table loops",
       [&] {
         q.WriteDesc(0x30000, 0, 0x40000, rl, kNext, 1);
         q.WriteDesc(0x30000, 1, 0x50000, 64, kWrite | kNext, 1);
         q.WriteDesc(q.desc_gpa, 13, 0x30000, 32, kIndirect, 0);
         return uint16_t{13};
       }},
      {"nested indirect",
       [&] {
         q.WriteDesc(0x30100, 0, 0x30000, 32, kIndirect, 0);
         q.WriteDesc(q.desc_gpa, 14, 0x30100, 16, kIndirect, 0);
         return uint16_t{14};
       }},
      {"indirect table of odd size",
       [&] {
         q.WriteDesc(q.desc_gpa, 15, 0x30000, 20, kIndirect, 0);
         return uint16_t{15};
       }},
      {"request larger than any FUSE request",
       [&] {
         // Descriptors 0 and 1 are free again: their chain completed.
         q.WriteDesc(q.desc_gpa, 0, 0x40000, VirtioFsDevice::kMaxRequest + 1, kNext, 1);
         q.WriteDesc(q.desc_gpa, 1, 0x1f0000, 4096, kWrite, 0);
         return uint16_t{0};
       }},
      // Found by virtiofs_fuzz: an empty writable buffer was not noticed.
      // Reuses descriptors 0-3 (the previous case's chain has come back by now).
      {"readable after an empty writable",
       [&] {
         q.WriteDesc(q.desc_gpa, 0, 0x40000, rl, kNext, 1);
         q.WriteDesc(q.desc_gpa, 1, 0x50000, 0, kWrite | kNext, 2);
         q.WriteDesc(q.desc_gpa, 2, 0x40000, 4, kNext, 3);
         q.WriteDesc(q.desc_gpa, 3, 0x50000, 64, kWrite, 0);
         return uint16_t{0};
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    uint16_t head = c.build();
    q.Publish(head);
    q.Kick();
    auto used = q.WaitUsed();
    ASSERT_TRUE(used);
    EXPECT_EQ(used->id, head);
    EXPECT_EQ(used->len, 0u);
  }
  EXPECT_EQ(handler_->calls.load(), 0);
  EXPECT_EQ(device_->failed_chains(), cases.size());
  // An available-ring entry naming a descriptor past the table is skipped.
  q.Publish(1000);
  // The queue still serves well-formed requests afterwards.
  q.next_desc = 0;
  ExpectEcho(RoundTrip(5, "still alive"), 5, "still alive");
}

TEST_F(VhostUserTest, ConcurrentRequestsOnWorkerPoolCompleteFromOtherThreads) {
  StartBackend(/*threads=*/4, /*async=*/true);
  Handshake();
  constexpr int kRequests = 8;  // half the queue (two descriptors each)
  PublishRequests(kRequests, 100, "req");
  queues_[1].Kick();
  ExpectEchoes(kRequests, 100, "req");
}

// Two request queues, requests handled inline on the queue threads: a
// request on queue 1 and one on queue 2 are in the handler at the same time
// (each queue has its own thread), and each queue is counted in
// castor_virtiofs_requests_total.
TEST_F(VhostUserTest, RequestQueuesAreServedInParallel) {
  auto counted = [](int queue) {
    return metrics::Registry::Default()
        .AddCounterFamily("castor_virtiofs_requests_total", "", {"queue"})
        .WithLabels({std::to_string(queue)})
        .Value();
  };
  const uint64_t before1 = counted(1), before2 = counted(2);
  StartBackend(/*threads=*/1, /*async=*/false, /*request_queues=*/2);
  Handshake();
  handler_->MeetIn(2);
  for (int q = 1; q <= 2; ++q) {
    const uint64_t in = 0x40000 + q * 0x1000, out = 0x50000 + q * 0x1000;
    auto req = FuseRequest(26, 40 + q, "on queue " + std::to_string(q));
    std::memcpy(mem_ + in, req.data(), req.size());
    queues_[q].AddChain({{in, static_cast<uint32_t>(req.size()), false}, {out, 0x100, true}});
  }
  queues_[1].Kick();
  queues_[2].Kick();
  for (int q = 1; q <= 2; ++q) {
    auto used = queues_[q].WaitUsed();
    ASSERT_TRUE(used) << "queue " << q;
    const uint64_t out = 0x50000 + q * 0x1000;
    ExpectEcho(std::vector<uint8_t>(mem_ + out, mem_ + out + used->len), 40 + q,
               "on queue " + std::to_string(q));
  }
  EXPECT_TRUE(handler_->met()) << "the two queues' requests were handled one after the other";
  EXPECT_EQ(counted(1), before1 + 1);
  EXPECT_EQ(counted(2), before2 + 1);
}

TEST_F(VhostUserTest, UnknownRequestGetsFailureReplyAndConnectionStays) {
  StartBackend();
  Handshake();
  Send(99, {}, {}, true);
  EXPECT_EQ(ReceiveU64(99), 1u);
  Send(vhost::kGetMaxMemSlots, {});  // not offered; expects a reply
  EXPECT_EQ(ReceiveU64(vhost::kGetMaxMemSlots), 1u);
  Send(vhost::kSetConfig, std::vector<uint8_t>(12 + 4, 0), {}, true);
  EXPECT_EQ(ReceiveU64(vhost::kSetConfig), 1u);
  ExpectEcho(RoundTrip(3, "after unknown"), 3, "after unknown");
}

struct BadMessage {
  const char* name;
  uint32_t request;
  uint32_t flags;
  std::vector<uint8_t> payload;
  bool send_fd;
};

class MalformedMessageTest : public VhostUserTest,
                             public ::testing::WithParamInterface<BadMessage> {};

TEST_P(MalformedMessageTest, ClosesTheConnectionCleanly) {
  StartBackend();
  Handshake();
  const BadMessage& b = GetParam();
  std::vector<int> fds;
  if (b.send_fd) fds.push_back(queues_[1].kick);
  if (b.payload.size() > vhost::kMaxPayload) {
    // The writer refuses such a message: send a header announcing it.
    uint32_t header[3] = {b.request, b.flags, static_cast<uint32_t>(b.payload.size())};
    ASSERT_EQ(write(front_, header, sizeof(header)), static_cast<ssize_t>(sizeof(header)));
  } else {
    ASSERT_TRUE(WriteVhostMessage(front_, b.request, b.flags, b.payload, fds).ok());
  }
  ASSERT_EQ(served_.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  absl::Status s = served_.get();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // The backend closed nothing of ours and stopped its queues: guest memory
  // is still ours and intact.
  EXPECT_EQ(queues_[1].UsedIdx(), 0);
}

std::vector<uint8_t> U64(uint64_t v) {
  std::vector<uint8_t> p(8);
  std::memcpy(p.data(), &v, 8);
  return p;
}

INSTANTIATE_TEST_SUITE_P(
    Messages, MalformedMessageTest,
    ::testing::Values(
        BadMessage{"bad_version", vhost::kGetFeatures, 2, {}, false},
        BadMessage{"short_set_features", vhost::kSetFeatures, 1, {1, 2, 3}, false},
        BadMessage{"unoffered_features", vhost::kSetFeatures, 1, U64(uint64_t{1} << 60), false},
        BadMessage{
            "queue_index_out_of_range", vhost::kSetVringNum, 1, {9, 0, 0, 0, 16, 0, 0, 0}, false},
        BadMessage{"queue_size_not_power_of_two",
                   vhost::kSetVringNum,
                   1,
                   {1, 0, 0, 0, 15, 0, 0, 0},
                   false},
        BadMessage{"kick_without_fd", vhost::kSetVringKick, 1, U64(1), false},
        BadMessage{"call_with_garbage_bits", vhost::kSetVringCall, 1, U64(0x10001), true},
        BadMessage{"mem_table_without_fds", vhost::kSetMemTable, 1,
                   [] {
                     std::vector<uint8_t> p(40, 0);
                     p[0] = 1;
                     p[16] = 1;
                     return p;
                   }(),
                   false},
        BadMessage{
            "mem_table_size_mismatch", vhost::kSetMemTable, 1, {9, 0, 0, 0, 0, 0, 0, 0}, false},
        BadMessage{"oversized_payload", vhost::kSetOwner, 1, std::vector<uint8_t>(4097, 0), false},
        BadMessage{"get_config_too_large",
                   vhost::kGetConfig,
                   1,
                   {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
                   false}),
    [](const auto& info) { return std::string(info.param.name); });

// A device that makes the guest look endlessly busy: every chain it
// handles is made available again as soon as it is returned, so the ring is
// never found empty. The fake guest's queue state is then written by the
// test thread and the queue thread: `publish_mu` orders the two.
class RepublishingDevice : public VirtioDevice {
 public:
  explicit RepublishingDevice(FakeQueue& q) : q_(q) {}
  uint64_t DeviceFeatures() const override { return 0; }
  uint32_t NumQueues() const override { return 2; }
  std::vector<uint8_t> Config() const override { return {}; }
  void HandleChain(uint32_t queue, Virtqueue& vq, DescChain chain) override {
    handled.fetch_add(1);
    vq.PushUsed(chain.head, 0);
    if (queue == 1) {
      std::lock_guard<std::mutex> lock(publish_mu);
      q_.Publish(chain.head);
    }
  }
  std::atomic<uint64_t> handled{0};
  std::mutex publish_mu;

 private:
  FakeQueue& q_;
};

// Found by vhost_user_fuzz: a queue thread drained for as long as the ring
// had chains, so a guest that kept it non-empty made stopping the queue
// (GET_VRING_BASE, SET_MEM_TABLE, disconnect) wait forever.
TEST_F(VhostUserTest, GuestThatKeepsTheRingBusyCannotBlockStoppingTheQueue) {
  custom_device_ = std::make_unique<RepublishingDevice>(queues_[1]);
  auto& device = static_cast<RepublishingDevice&>(*custom_device_);
  backend_ = std::make_unique<VhostUserBackend>(device);
  served_ = std::async(std::launch::async, [this] { return backend_->ServeConnection(back_, -1); });
  Handshake();
  {
    std::lock_guard<std::mutex> lock(device.publish_mu);
    queues_[1].AddChain({{0x40000, 64, false}, {0x50000, 64, true}});
  }
  queues_[1].Kick();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (device.handled.load() < 1000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GE(device.handled.load(), 1000u);
  Send(vhost::kGetVringBase, Bytes(vhost::VringState{1, 0}));
  pollfd p{front_, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1)
      << "GET_VRING_BASE not answered while the guest keeps the ring busy";
  VhostMessage reply = Receive();
  EXPECT_EQ(reply.request, vhost::kGetVringBase);
}

// A driver that makes a head available again while the device still holds
// its chain breaks the ring protocol: served, the chain would be handled
// twice and its head completed twice. The queue stops at that entry (the
// frontend is told through the error eventfd) and the held chain still
// completes exactly once.
TEST_F(VhostUserTest, HeadMadeAvailableAgainWhileInFlightBreaksTheQueueAndCompletesOnce) {
  StartBackend(/*threads=*/2);
  Handshake();
  int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(err, 0);
  Send(vhost::kSetVringErr, Bytes<uint64_t>(1), {err}, true);
  EXPECT_EQ(ReceiveU64(vhost::kSetVringErr), 0u);
  FakeQueue& q = queues_[1];
  auto req = FuseRequest(26, 41, "held");
  std::memcpy(mem_ + 0x40000, req.data(), req.size());
  handler_->Hold();
  uint16_t head =
      q.AddChain({{0x40000, static_cast<uint32_t>(req.size()), false}, {0x50000, 0x100, true}});
  q.Kick();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (handler_->calls.load() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(handler_->calls.load(), 1);
  q.Publish(head);  // again, before the device returned it
  q.Kick();
  pollfd p{err, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 5000), 1) << "the broken queue was not reported";
  handler_->Release();
  auto used = q.WaitUsed();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  ExpectEcho(std::vector<uint8_t>(mem_ + 0x50000, mem_ + 0x50000 + used->len), 41, "held");
  // No second completion, and the second copy was never handed to the handler.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(q.UsedIdx(), 1);
  EXPECT_EQ(handler_->calls.load(), 1);
  // The offending entry was not consumed: the frontend resumes there after
  // resetting the queue.
  Send(vhost::kGetVringBase, Bytes(vhost::VringState{1, 0}));
  VhostMessage base = Receive();
  ASSERT_EQ(base.payload.size(), 8u);
  vhost::VringState st;
  std::memcpy(&st, base.payload.data(), 8);
  EXPECT_EQ(st.num, 1u);
  close(err);
}

// A guest that floods a queue while the workers are busy: the device takes
// only its bounded backlog; the rest waits in the guest's ring until a
// worker is free, and then every request is answered.
TEST_F(VhostUserTest, FloodWhileWorkersAreBusyWaitsInTheRingNotInTheDevice) {
  constexpr int kThreads = 2;
  StartBackend(kThreads);
  Handshake();
  FakeQueue& q = queues_[1];
  handler_->Hold();
  constexpr int kRequests = kQueueSize / 2;  // two descriptors each: the whole ring
  PublishRequests(kRequests, 200, "flood");
  q.Kick();
  const size_t bound = VirtioFsDevice::kBacklogPerWorker * kThreads;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((handler_->calls.load() < kThreads || device_->backlog(1) < bound) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Give the queue thread time to take more if it would.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(handler_->calls.load(), kThreads);
  EXPECT_EQ(device_->backlog(1), bound);
  handler_->Release();
  ExpectEchoes(kRequests, 200, "flood");
  EXPECT_EQ(device_->backlog(1), 0u);
}

TEST_F(VhostUserTest, RingOutsideGuestMemoryIsRejected) {
  StartBackend();
  Send(vhost::kGetProtocolFeatures, {});
  ReceiveU64(vhost::kGetProtocolFeatures);
  Send(vhost::kSetProtocolFeatures, Bytes<uint64_t>(vhost::kProtocolReplyAck));
  Send(vhost::kSetFeatures, Bytes<uint64_t>(vhost::kFeatureVersion1));
  Send(vhost::kSetMemTable, MemTable(), {memfd_, memfd_});
  Send(vhost::kSetVringNum, Bytes(vhost::VringState{1, kQueueSize}));
  Send(vhost::kSetVringAddr,
       Bytes(vhost::VringAddr{1, 0, kUva1 + kRegionSize - 16, kUva0, kUva0 + 0x1000, 0}));
  Send(vhost::kSetVringKick, Bytes<uint64_t>(1), {queues_[1].kick});
  ASSERT_EQ(served_.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(served_.get().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(VhostUserTest, MemoryFileShorterThanItsRegionIsRejected) {
  StartBackend();
  int small = memfd_create("small", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(small, kRegionSize), 0);  // region 1 needs 2 MiB of it
  Send(vhost::kSetMemTable, MemTable(), {memfd_, small});
  close(small);
  ASSERT_EQ(served_.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(served_.get().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(VhostUserTest, KickFdThatIsNotAnEventfdDoesNotSpin) {
  StartBackend();
  Handshake();
  int file = memfd_create("not-an-eventfd", MFD_CLOEXEC);  // always readable, read() gives 0
  Send(vhost::kSetVringKick, Bytes<uint64_t>(1), {file}, true);
  EXPECT_EQ(ReceiveU64(vhost::kSetVringKick), 0u);
  close(file);
  rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  getrusage(RUSAGE_SELF, &after);
  auto cpu_us = [](const rusage& r) {
    return r.ru_utime.tv_sec * 1000000 + r.ru_utime.tv_usec + r.ru_stime.tv_sec * 1000000 +
           r.ru_stime.tv_usec;
  };
  EXPECT_LT(cpu_us(after) - cpu_us(before), 100000);
  // The other queue still works.
  FakeQueue& hi = queues_[0];
  auto forget = FuseRequest(kOpForget, 0, std::string(8, '\0'));
  std::memcpy(mem_ + 0x60000, forget.data(), forget.size());
  hi.AddChain({{0x60000, static_cast<uint32_t>(forget.size()), false}});
  hi.Kick();
  EXPECT_TRUE(hi.WaitUsed());
}

TEST_F(VhostUserTest, StopFdEndsTheConnection) {
  StartBackend();
  Handshake();
  eventfd_write(stop_, 1);
  ASSERT_EQ(served_.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(served_.get().code(), absl::StatusCode::kCancelled);
}

TEST_F(VhostUserTest, LegacyFrontendWithoutProtocolFeaturesStartsRingsEnabled) {
  StartBackend();
  Send(vhost::kSetOwner, {});
  Send(vhost::kSetFeatures, Bytes<uint64_t>(vhost::kFeatureVersion1));
  Send(vhost::kSetMemTable, MemTable(), {memfd_, memfd_});
  FakeQueue& fq = queues_[1];
  Send(vhost::kSetVringNum, Bytes(vhost::VringState{1, kQueueSize}));
  Send(vhost::kSetVringBase, Bytes(vhost::VringState{1, 0}));
  Send(vhost::kSetVringAddr,
       Bytes(vhost::VringAddr{1, 0, Uva(fq.desc_gpa), Uva(fq.used_gpa), Uva(fq.avail_gpa), 0}));
  Send(vhost::kSetVringCall, Bytes<uint64_t>(1), {fq.call});
  Send(vhost::kSetVringKick, Bytes<uint64_t>(1), {fq.kick});
  ExpectEcho(RoundTrip(11, "no event idx"), 11, "no event idx");
  eventfd_t v = 0;
  EXPECT_EQ(eventfd_read(fq.call, &v), 0);
}

// Under umask 0 a plainly bound socket would be 0777: the socket must
// appear (by rename, never created in place) already with the asked mode.
TEST(ListenUnixTest, SocketAppearsByRenameWithItsModeWhateverTheUmask) {
  char tmpl[] = "/tmp/castor-listen-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, path = dir + "/vhost.sock";
  for (mode_t mode : {mode_t{0600}, mode_t{0660}}) {
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ASSERT_GE(in, 0);
    ASSERT_GE(inotify_add_watch(in, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_ATTRIB), 0);
    mode_t old = umask(0);
    auto fd = ListenUnix(path, mode);
    umask(old);
    ASSERT_TRUE(fd.ok()) << fd.status();
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, mode);
    alignas(inotify_event) char buf[4096];
    ssize_t n = read(in, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    bool moved = false;
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      off += sizeof(inotify_event) + ev->len;
      std::string name = ev->len ? ev->name : "";
      if (name == "vhost.sock") {
        EXPECT_EQ(ev->mask & (IN_CREATE | IN_ATTRIB), 0u) << "created or chmod'ed in place";
        moved = moved || (ev->mask & IN_MOVED_TO);
      } else {
        EXPECT_EQ(name.rfind(".castor-", 0), 0u) << name;  // the private directory
      }
    }
    EXPECT_TRUE(moved);
    close(in);
  }
  // Nothing but the socket is left.
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
  unlink(path.c_str());
  rmdir(tmpl);
}

TEST(ListenUnixTest, ReplacesAStaleSocketButNeverAFile) {
  char tmpl[] = "/tmp/castor-listen-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/s";
  {
    auto first = ListenUnix(path);
    ASSERT_TRUE(first.ok()) << first.status();
  }
  auto second = ListenUnix(path);  // the first one's file is left behind
  ASSERT_TRUE(second.ok()) << second.status();
  unlink(path.c_str());
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_EQ(ListenUnix(path).status().code(), absl::StatusCode::kAlreadyExists);
  unlink(path.c_str());
  rmdir(tmpl);
}

// Random rings and descriptor tables in a guest memory that is an exact-size
// heap buffer (so ASan sees any stray access): Pop never fails outside
// "ring broken", and every buffer it yields lies inside guest memory.
TEST(VirtqueueFuzzTest, RandomTablesNeverEscapeGuestMemory) {
  constexpr uint64_t kSize = 64 * 1024;
  constexpr uint16_t kQ = 8;
  std::mt19937_64 rng(1234);
  int good = 0, malformed = 0, indirect = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> guest(kSize);
    MemoryRegionDesc region{0x100000, kSize, 0x500000, 0};
    uint8_t* host = guest.data();
    auto mem = GuestMemory::CreateUnowned(std::span(&region, 1), std::span(&host, 1));
    ASSERT_TRUE(mem.ok());
    // Rings at fixed places; descriptors with addresses near the region and
    // a few indirect tables pointing into it.
    uint64_t desc = 0x0, avail = 0x400, used = 0x800;
    for (uint16_t i = 0; i < kQ; ++i) {
      uint64_t addr = 0x100000 + rng() % (kSize + 0x200) - 0x100;
      if (rng() % 8 == 0) addr = rng();
      uint32_t len = rng() % 4 == 0 ? rng() : rng() % 0x2000;
      uint16_t flags = rng() % 8, next = rng() % 12;
      std::memcpy(host + desc + 16 * i, &addr, 8);
      std::memcpy(host + desc + 16 * i + 8, &len, 4);
      std::memcpy(host + desc + 16 * i + 12, &flags, 2);
      std::memcpy(host + desc + 16 * i + 14, &next, 2);
    }
    for (uint64_t off = 0x1000; off < 0x1400; off += 2) {
      uint16_t v = rng();
      std::memcpy(host + off, &v, 2);  // random indirect tables
    }
    uint16_t avail_idx = rng() % 12;
    std::memcpy(host + avail + 2, &avail_idx, 2);
    for (uint16_t i = 0; i < kQ; ++i) {
      uint16_t head = rng() % 10;
      std::memcpy(host + avail + 4 + 2 * i, &head, 2);
    }
    Virtqueue vq;
    ASSERT_TRUE(vq.Start(**mem, {kQ, 0x500000 + desc, 0x500000 + avail, 0x500000 + used}, 0,
                         rng() % 2, true)
                    .ok());
    for (int n = 0; n < 16; ++n) {
      auto chain = vq.Pop();
      if (!chain.ok()) {
        // Only a broken ring stops the queue; a bad head skips one entry.
        if (chain.status().code() == absl::StatusCode::kDataLoss) break;
        continue;
      }
      if (!chain->has_value()) break;
      const DescChain& c = **chain;
      for (const auto* part : {&c.readable, &c.writable}) {
        for (std::span<uint8_t> span : *part) {
          ASSERT_GE(span.data(), host);
          ASSERT_LE(span.data() + span.size(), host + kSize);
        }
      }
      if (!c.status.ok()) {
        EXPECT_TRUE(c.readable.empty() && c.writable.empty());
        ++malformed;
      } else {
        ++good;
        uint16_t flags;
        std::memcpy(&flags, host + desc + 16 * c.head + 12, 2);
        if (flags & 4) ++indirect;
      }
      vq.PushUsed(c.head, 0);
    }
    vq.WaitIdle();
    vq.Stop();
  }
  // The generator reaches both outcomes, indirect tables included.
  EXPECT_GT(good, 100);
  EXPECT_GT(malformed, 100);
  EXPECT_GT(indirect, 10);
  std::printf("chains: %d well-formed (%d indirect), %d malformed\n", good, indirect, malformed);
}

TEST(GuestMemoryTest, TranslatesOnlyInsideRegions) {
  std::vector<uint8_t> a(4096), b(4096);
  MemoryRegionDesc regions[] = {{0x1000, 4096, 0x7000, 0}, {0x2000, 4096, 0x9000, 0}};
  uint8_t* hosts[] = {a.data(), b.data()};
  auto mem = GuestMemory::CreateUnowned(regions, hosts);
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ((*mem)->TranslateGuest(0x1000, 4096)->data(), a.data());
  EXPECT_FALSE((*mem)->TranslateGuest(0x1000, 4097));
  EXPECT_FALSE((*mem)->TranslateGuest(0xfff, 1));
  EXPECT_FALSE((*mem)->TranslateGuest(0x3000, 0));
  EXPECT_EQ((*mem)->TranslateFrontend(0x9010, 16)->data(), b.data() + 16);
  EXPECT_FALSE((*mem)->TranslateFrontend(0x8000, 1));
  std::vector<std::span<uint8_t>> out;
  EXPECT_TRUE((*mem)->TranslateGuestRange(0x1ff0, 0x20, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].data(), a.data() + 4096 - 16);
  EXPECT_EQ(out[1].data(), b.data());
  out.clear();
  EXPECT_FALSE((*mem)->TranslateGuestRange(0x2ff0, 0x20, out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE((*mem)->TranslateGuestRange(~uint64_t{0} - 2, 8, out));
}

// Found by vhost_user_fuzz: aligned frontend addresses in a region mapped at
// an odd offset gave misaligned atomic ring accesses (UBSan).
TEST(VirtqueueTest, RingsMisalignedInHostMemoryAreRejected) {
  std::vector<uint8_t> buffer(8192 + 8);
  MemoryRegionDesc region{0, 8192, 0x7000000, 0};
  for (size_t shift : {0, 1, 2}) {
    SCOPED_TRACE(shift);
    uint8_t* host =
        buffer.data() + (8 - reinterpret_cast<uintptr_t>(buffer.data()) % 8) % 8 + shift;
    auto mem = GuestMemory::CreateUnowned(std::span(&region, 1), std::span(&host, 1));
    ASSERT_TRUE(mem.ok());
    Virtqueue vq;
    absl::Status s = vq.Start(
        **mem, Virtqueue::Layout{16, 0x7000000, 0x7000000 + 256, 0x7000000 + 512}, 0, false, false);
    if (shift == 0) {
      EXPECT_TRUE(s.ok()) << s;
      vq.Stop();
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    }
  }
}

// The device owns a chain from Pop until PushUsed: an available entry naming
// its head again is DataLoss and is not consumed; once the head is back, the
// same entry pops normally.
TEST(VirtqueueTest, HeadAvailableAgainWhileHeldIsRefusedUntilReturned) {
  std::vector<uint8_t> guest(8192);
  MemoryRegionDesc region{0, guest.size(), 0x7000000, 0};
  uint8_t* host = guest.data();
  auto mem = GuestMemory::CreateUnowned(std::span(&region, 1), std::span(&host, 1));
  ASSERT_TRUE(mem.ok());
  constexpr uint64_t kDesc = 0, kAvail = 1024, kUsed = 2048;
  // Descriptor 0: 64 writable bytes at 4096.
  uint64_t addr = 4096;
  uint32_t len = 64;
  uint16_t flags = kWrite;
  std::memcpy(host + kDesc, &addr, 8);
  std::memcpy(host + kDesc + 8, &len, 4);
  std::memcpy(host + kDesc + 12, &flags, 2);
  auto publish = [&](uint16_t index, uint16_t head) {
    std::memcpy(host + kAvail + 4 + 2 * (index % 16), &head, 2);
    uint16_t idx = index + 1;
    std::memcpy(host + kAvail + 2, &idx, 2);
  };
  Virtqueue vq;
  ASSERT_TRUE(
      vq.Start(**mem,
               Virtqueue::Layout{16, 0x7000000 + kDesc, 0x7000000 + kAvail, 0x7000000 + kUsed}, 0,
               false, false)
          .ok());
  publish(0, 0);
  auto first = vq.Pop();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->head, 0);
  publish(1, 0);
  for (int i = 0; i < 2; ++i) {  // refused again and again: nothing consumed
    auto again = vq.Pop();
    EXPECT_EQ(again.status().code(), absl::StatusCode::kDataLoss) << again.status();
    EXPECT_EQ(vq.last_avail(), 1);
  }
  EXPECT_EQ(vq.inflight(), 1u);
  vq.PushUsed(0, 0);
  auto second = vq.Pop();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->head, 0);
  vq.PushUsed(0, 0);
  uint16_t used_idx;
  std::memcpy(&used_idx, host + kUsed + 2, 2);
  EXPECT_EQ(used_idx, 2);
  vq.WaitIdle();
  vq.Stop();
}

TEST(GuestMemoryTest, RejectsOverlappingOrWrappingTables) {
  std::vector<uint8_t> a(4096);
  uint8_t* hosts[] = {a.data(), a.data()};
  MemoryRegionDesc overlap[] = {{0x1000, 4096, 0, 0}, {0x1800, 4096, 0x10000, 0}};
  EXPECT_EQ(GuestMemory::CreateUnowned(overlap, hosts).status().code(),
            absl::StatusCode::kInvalidArgument);
  MemoryRegionDesc wrap[] = {{~uint64_t{0} - 10, 4096, 0, 0}};
  EXPECT_EQ(GuestMemory::CreateUnowned(wrap, std::span(hosts, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  MemoryRegionDesc empty[] = {{0, 0, 0, 0}};
  EXPECT_EQ(GuestMemory::CreateUnowned(empty, std::span(hosts, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace castor::fs::transport
