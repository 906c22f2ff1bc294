// libFuzzer target: vhost-user messages into VhostUserBackend over a
// socketpair, decoded by ReadVhostMessage and handled by the backend
// (features, memory tables mapped from memfds the harness passes, vring
// setup, kick/call/err eventfds, config, unknown requests). The input
// (fuzz/vhost_user_records.h) is a raw byte stream with fds attached, so
// headers, payload sizes and fd counts are all the fuzzer's; guest memory
// starts with bytes from the input, so queues the fuzzer manages to start
// pop chains from fuzzed rings (the device touches every byte of them).
//
// Checks:
//   - the connection ends OK (frontend closed), InvalidArgument (a
//     malformed message: the connection closes, as the backend's contract
//     says) or Unavailable (a message cut short), never otherwise, and
//     errors carry a message;
//   - every reply the backend sent is a well-formed message: version 1 with
//     the reply flag, a payload within the limit, no fds;
//   - a malformed connection leaves nothing behind: the same backend then
//     serves a fresh connection from its initial state (GET_FEATURES
//     answers the offered features, GET_VRING_BASE of queue 0 answers 0);
//   - no fd leaks (the open fds are counted before and after) and, through
//     LeakSanitizer, no memory leaks.
#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "fs/transport/vhost_user_backend.h"
#include "fs/transport/vhost_user_protocol.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/vhost_user_records.h"
#include "spdlog/spdlog.h"

namespace {

using castor::fs::transport::DescChain;
using castor::fs::transport::ReadVhostMessage;
using castor::fs::transport::UniqueFd;
using castor::fs::transport::VhostMessage;
using castor::fs::transport::VhostUserBackend;
using castor::fs::transport::VirtioDevice;
using castor::fs::transport::Virtqueue;
using castor::fs::transport::WriteVhostMessage;
namespace vhost = castor::fs::transport::vhost;
namespace fz = castor::fuzz;

constexpr size_t kMaxSends = 128;

// Two queues; every chain's bytes are read and written, then returned.
class TouchingDevice : public VirtioDevice {
 public:
  uint64_t DeviceFeatures() const override { return 0; }
  uint32_t NumQueues() const override { return 2; }
  std::vector<uint8_t> Config() const override { return std::vector<uint8_t>(40, 7); }
  void HandleChain(uint32_t, Virtqueue& vq, DescChain chain) override {
    uint8_t sink = 0;
    if (chain.status.ok()) {
      for (auto s : chain.readable) {
        for (uint8_t b : s) sink ^= b;
      }
      for (auto s : chain.writable) std::memset(s.data(), sink, s.size());
    }
    vq.PushUsed(chain.head, chain.status.ok() ? static_cast<uint32_t>(chain.writable_bytes) : 0);
  }
};

int CountOpenFds() {
  DIR* d = opendir("/proc/self/fd");
  FUZZ_CHECK(d != nullptr);
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

struct Memfds {
  int a = -1, b = -1;
};

const Memfds& GuestMemfds() {
  static const Memfds fds = [] {
    Memfds m;
    m.a = memfd_create("fuzz-guest-a", MFD_CLOEXEC);
    m.b = memfd_create("fuzz-guest-b", MFD_CLOEXEC);
    FUZZ_CHECK(m.a >= 0 && m.b >= 0);
    return m;
  }();
  return fds;
}

// Resets guest memory to zeros plus `init` at the start of region A.
void ResetGuestMemory(std::span<const uint8_t> init) {
  const Memfds& m = GuestMemfds();
  FUZZ_CHECK(ftruncate(m.a, 0) == 0 && ftruncate(m.a, fz::kMemfdASize) == 0);
  FUZZ_CHECK(ftruncate(m.b, 0) == 0 && ftruncate(m.b, fz::kMemfdBSize) == 0);
  if (!init.empty())
    FUZZ_CHECK(pwrite(m.a, init.data(), init.size(), 0) == static_cast<ssize_t>(init.size()));
}

// Reads every reply the backend sent and checks its framing.
void CheckReplies(int sock) {
  for (;;) {
    auto reply = ReadVhostMessage(sock);
    FUZZ_CHECK(reply.ok());
    if (!reply->has_value()) return;
    FUZZ_CHECK((*reply)->flags == (vhost::kVersion | vhost::kFlagReply));
    FUZZ_CHECK((*reply)->payload.size() <= vhost::kMaxPayload);
    FUZZ_CHECK((*reply)->fds.empty());
  }
}

// A fresh connection to the backend after the fuzzed one: it must start
// from scratch.
void CheckFreshConnection(VhostUserBackend& backend) {
  int sv[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd frontend(sv[0]), device(sv[1]);
  FUZZ_CHECK(WriteVhostMessage(frontend.get(), vhost::kGetFeatures, vhost::kVersion, {}).ok());
  vhost::VringState state{0, 0};
  FUZZ_CHECK(WriteVhostMessage(
                 frontend.get(), vhost::kGetVringBase, vhost::kVersion,
                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&state), sizeof(state)))
                 .ok());
  FUZZ_CHECK(shutdown(frontend.get(), SHUT_WR) == 0);
  FUZZ_CHECK(backend.ServeConnection(device.get(), -1).ok());
  device.Reset();
  auto features = ReadVhostMessage(frontend.get());
  FUZZ_CHECK(features.ok() && features->has_value() && (*features)->request == vhost::kGetFeatures);
  uint64_t f = 0;
  FUZZ_CHECK((*features)->payload.size() == 8);
  std::memcpy(&f, (*features)->payload.data(), 8);
  FUZZ_CHECK(f & vhost::kFeatureProtocolFeatures);
  auto base = ReadVhostMessage(frontend.get());
  FUZZ_CHECK(base.ok() && base->has_value() && (*base)->request == vhost::kGetVringBase);
  FUZZ_CHECK((*base)->payload.size() == sizeof(state));
  std::memcpy(&state, (*base)->payload.data(), sizeof(state));
  FUZZ_CHECK(state.index == 0 && state.num == 0);
  auto end = ReadVhostMessage(frontend.get());
  FUZZ_CHECK(end.ok() && !end->has_value());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  GuestMemfds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t init = std::min<size_t>(data[0] | (static_cast<size_t>(data[1]) << 8), fz::kMaxGuestInit);
  init = std::min(init, size - 2);
  ResetGuestMemory(std::span<const uint8_t>(data + 2, init));
  size_t pos = 2 + init;

  const int fds_before = CountOpenFds();
  {
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd frontend(sv[0]), device_end(sv[1]);
    // Everything is sent before the backend runs: never block on a full
    // socket, just stop sending.
    FUZZ_CHECK(fcntl(frontend.get(), F_SETFL, O_NONBLOCK) == 0);
    std::vector<UniqueFd> eventfds;
    UniqueFd dev_null(open("/dev/null", O_RDONLY | O_CLOEXEC));
    FUZZ_CHECK(dev_null);
    size_t sends = 0;
    while (pos + 3 <= size && sends < kMaxSends) {
      uint8_t spec = data[pos];
      size_t n = data[pos + 1] | (static_cast<size_t>(data[pos + 2]) << 8);
      pos += 3;
      n = std::min(n, size - pos);
      int count = spec & 0xf;
      std::vector<int> fds;
      for (int i = 0; i < count; ++i) {
        switch (((spec >> 4) + i) & 3) {
          case fz::kFdMemfdA:
            fds.push_back(GuestMemfds().a);
            break;
          case fz::kFdMemfdB:
            fds.push_back(GuestMemfds().b);
            break;
          case fz::kFdEventfd:
            eventfds.emplace_back(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            FUZZ_CHECK(eventfds.back());
            fds.push_back(eventfds.back().get());
            break;
          default:
            fds.push_back(dev_null.get());
        }
      }
      // fds only travel with at least one byte: an empty record sends nothing.
      if (n == 0) continue;
      iovec iov{const_cast<uint8_t*>(data + pos), n};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      if (!fds.empty()) {
        mh.msg_control = control;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
      }
      ssize_t sent = sendmsg(frontend.get(), &mh, MSG_NOSIGNAL);
      if (sent < 0) {
        FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS);
        break;
      }
      pos += n;
      ++sends;
      if (static_cast<size_t>(sent) < n) break;
    }
    FUZZ_CHECK(shutdown(frontend.get(), SHUT_WR) == 0);

    // Replies are drained while the backend runs (thousands of small
    // messages would otherwise fill the socket and block it).
    FUZZ_CHECK(fcntl(frontend.get(), F_SETFL, 0) == 0);
    std::thread reader([fd = frontend.get()] { CheckReplies(fd); });

    TouchingDevice device;
    VhostUserBackend backend(device);
    absl::Status served = backend.ServeConnection(device_end.get(), -1);
    // What the backend left unread is dropped (with its fds), so that
    // closing does not reset the connection under the reader.
    FUZZ_CHECK(fcntl(device_end.get(), F_SETFL, O_NONBLOCK) == 0);
    char discard[4096];
    while (recv(device_end.get(), discard, sizeof(discard), 0) > 0) {
    }
    device_end.Reset();  // the reader sees the end of the replies
    reader.join();
    FUZZ_CHECK(served.ok() || served.code() == absl::StatusCode::kInvalidArgument ||
               served.code() == absl::StatusCode::kUnavailable);
    FUZZ_CHECK(served.ok() || !served.message().empty());
    CheckFreshConnection(backend);
  }
  FUZZ_CHECK(CountOpenFds() == fds_before);
  return 0;
}
