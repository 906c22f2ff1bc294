#include "fs/transport/vhost_user_backend.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "spdlog/spdlog.h"

namespace castor::fs::transport {
namespace {

template <typename T>
absl::StatusOr<T> PayloadAs(const VhostMessage& msg, const char* what) {
  if (msg.payload.size() != sizeof(T)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " payload has ", msg.payload.size(), " bytes, expected ", sizeof(T)));
  }
  T v;
  std::memcpy(&v, msg.payload.data(), sizeof(T));
  return v;
}

std::vector<uint8_t> U64Payload(uint64_t v) {
  std::vector<uint8_t> p(8);
  std::memcpy(p.data(), &v, 8);
  return p;
}

template <typename T>
std::vector<uint8_t> StructPayload(const T& v) {
  std::vector<uint8_t> p(sizeof(T));
  std::memcpy(p.data(), &v, sizeof(T));
  return p;
}

bool ExpectsReply(uint32_t request) {
  switch (request) {
    case vhost::kGetFeatures:
    case vhost::kGetProtocolFeatures:
    case vhost::kGetVringBase:
    case vhost::kGetQueueNum:
    case vhost::kGetConfig:
    case vhost::kSetLogBase:
    case vhost::kPostcopyAdvise:
    case vhost::kGetInflightFd:
    case vhost::kGetMaxMemSlots:
    case vhost::kGetStatus:
      return true;
    default:
      return false;
  }
}

}  // namespace

VhostUserBackend::VhostUserBackend(VirtioDevice& device)
    : device_(device),
      offered_features_(device.DeviceFeatures() | vhost::kFeatureVersion1 |
                        vhost::kFeatureIndirectDesc | vhost::kFeatureEventIdx |
                        vhost::kFeatureProtocolFeatures),
      // CONFIG is not offered: QEMU's vhost-user-fs keeps the config space
      // itself (and warns about backends offering it); GET_CONFIG is still
      // answered for frontends that send it anyway.
      offered_protocol_(vhost::kProtocolMq | vhost::kProtocolReplyAck |
                        vhost::kProtocolResetDevice) {
  for (uint32_t i = 0; i < device.NumQueues(); ++i) vrings_.push_back(std::make_unique<Vring>());
}

VhostUserBackend::~VhostUserBackend() { StopAll(); }

absl::Status VhostUserBackend::ServeConnection(int sock, int stop_fd) {
  ResetState();
  acked_protocol_ = 0;
  memory_.reset();
  absl::Status result;
  for (;;) {
    pollfd fds[2] = {{sock, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = poll(fds, stop_fd >= 0 ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      result = ErrnoStatus(errno, "poll on vhost-user socket");
      break;
    }
    if (stop_fd >= 0 && (fds[1].revents & POLLIN)) {
      result = absl::CancelledError("stopped");
      break;
    }
    auto msg = ReadVhostMessage(sock);
    if (!msg.ok()) {
      result = msg.status();
      break;
    }
    if (!msg->has_value()) break;  // the frontend disconnected
    VhostMessage& m = **msg;
    auto reply = Dispatch(m);
    if (!reply.ok() && reply.status().code() == absl::StatusCode::kInvalidArgument) {
      result = Annotate(reply.status(), absl::StrCat("malformed vhost-user message ", m.request));
      break;
    }
    if (!reply.ok())
      spdlog::warn("vhost-user request {} failed: {}", m.request,
                   ToStdView(reply.status().message()));
    absl::Status write;
    uint32_t reply_flags = vhost::kVersion | vhost::kFlagReply;
    if (reply.ok() && reply->has_value()) {
      write = WriteVhostMessage(sock, m.request, reply_flags, (*reply)->payload);
    } else if (!reply.ok() && ExpectsReply(m.request)) {
      write = WriteVhostMessage(sock, m.request, reply_flags, U64Payload(1));
    } else if ((m.flags & vhost::kFlagNeedReply) && (acked_protocol_ & vhost::kProtocolReplyAck)) {
      write = WriteVhostMessage(sock, m.request, reply_flags, U64Payload(reply.ok() ? 0 : 1));
    }
    if (!write.ok()) {
      result = write;
      break;
    }
  }
  StopAll();
  ResetState();
  memory_.reset();
  return result;
}

absl::StatusOr<VhostUserBackend::Vring*> VhostUserBackend::VringFor(uint64_t index) {
  if (index >= vrings_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("queue index ", index, " of ", vrings_.size()));
  }
  return vrings_[index].get();
}

absl::StatusOr<std::optional<VhostUserBackend::Reply>> VhostUserBackend::Dispatch(
    VhostMessage& msg) {
  using R = std::optional<Reply>;
  switch (msg.request) {
    case vhost::kGetFeatures:
      return R(Reply{U64Payload(offered_features_)});
    case vhost::kSetFeatures: {
      ASSIGN_OR_RETURN(uint64_t f, PayloadAs<uint64_t>(msg, "SET_FEATURES"));
      if (f & ~offered_features_) {
        return absl::InvalidArgumentError(absl::StrCat("frontend acked unoffered features 0x",
                                                       absl::Hex(f & ~offered_features_)));
      }
      bool changed = features_set_ && f != acked_features_;
      if (changed) StopAll();
      acked_features_ = f;
      features_set_ = true;
      // Without VHOST_USER_F_PROTOCOL_FEATURES, rings are enabled from the start.
      if (!(f & vhost::kFeatureProtocolFeatures)) {
        for (auto& v : vrings_) v->enabled = true;
      }
      for (uint32_t i = 0; i < vrings_.size(); ++i) RETURN_IF_ERROR(UpdateQueue(i));
      return R();
    }
    case vhost::kGetProtocolFeatures:
      return R(Reply{U64Payload(offered_protocol_)});
    case vhost::kSetProtocolFeatures: {
      ASSIGN_OR_RETURN(uint64_t f, PayloadAs<uint64_t>(msg, "SET_PROTOCOL_FEATURES"));
      if (f & ~offered_protocol_) {
        return absl::InvalidArgumentError(absl::StrCat(
            "frontend acked unoffered protocol features 0x", absl::Hex(f & ~offered_protocol_)));
      }
      acked_protocol_ = f;
      return R();
    }
    case vhost::kGetQueueNum:
      return R(Reply{U64Payload(vrings_.size())});
    case vhost::kSetOwner:
      return R();
    case vhost::kResetOwner:
    case vhost::kResetDevice:
      StopAll();
      ResetState();
      return R();
    case vhost::kSetMemTable:
      RETURN_IF_ERROR(SetMemTable(msg));
      return R();
    case vhost::kSetVringNum: {
      ASSIGN_OR_RETURN(auto s, PayloadAs<vhost::VringState>(msg, "SET_VRING_NUM"));
      ASSIGN_OR_RETURN(Vring * v, VringFor(s.index));
      if (s.num == 0 || s.num > Virtqueue::kMaxSize || (s.num & (s.num - 1)) != 0) {
        return absl::InvalidArgumentError(absl::StrCat("queue size ", s.num));
      }
      StopQueue(s.index);
      v->layout.size = s.num;
      RETURN_IF_ERROR(UpdateQueue(s.index));
      return R();
    }
    case vhost::kSetVringAddr: {
      ASSIGN_OR_RETURN(auto a, PayloadAs<vhost::VringAddr>(msg, "SET_VRING_ADDR"));
      ASSIGN_OR_RETURN(Vring * v, VringFor(a.index));
      StopQueue(a.index);
      v->layout.desc_addr = a.desc_user_addr;
      v->layout.avail_addr = a.avail_user_addr;
      v->layout.used_addr = a.used_user_addr;
      v->addr_set = true;
      RETURN_IF_ERROR(UpdateQueue(a.index));
      return R();
    }
    case vhost::kSetVringBase: {
      ASSIGN_OR_RETURN(auto s, PayloadAs<vhost::VringState>(msg, "SET_VRING_BASE"));
      ASSIGN_OR_RETURN(Vring * v, VringFor(s.index));
      if (s.num > 0xffff) return absl::InvalidArgumentError(absl::StrCat("vring base ", s.num));
      StopQueue(s.index);
      v->base = s.num;
      RETURN_IF_ERROR(UpdateQueue(s.index));
      return R();
    }
    case vhost::kGetVringBase: {
      ASSIGN_OR_RETURN(auto s, PayloadAs<vhost::VringState>(msg, "GET_VRING_BASE"));
      ASSIGN_OR_RETURN(Vring * v, VringFor(s.index));
      StopQueue(s.index);
      v->kick.Reset();  // stopped until the next SET_VRING_KICK
      vhost::VringState out{s.index, v->base};
      return R(Reply{StructPayload(out)});
    }
    case vhost::kSetVringKick:
    case vhost::kSetVringCall:
    case vhost::kSetVringErr: {
      ASSIGN_OR_RETURN(uint64_t u, PayloadAs<uint64_t>(msg, "SET_VRING_KICK/CALL/ERR"));
      uint32_t index = u & vhost::kVringIndexMask;
      ASSIGN_OR_RETURN(Vring * v, VringFor(index));
      bool no_fd = u & vhost::kVringNoFd;
      if (u & ~(vhost::kVringIndexMask | vhost::kVringNoFd)) {
        return absl::InvalidArgumentError(absl::StrCat("vring fd payload 0x", absl::Hex(u)));
      }
      if (msg.fds.size() != (no_fd ? 0u : 1u)) {
        return absl::InvalidArgumentError(
            absl::StrCat("vring fd message with ", msg.fds.size(), " fds"));
      }
      UniqueFd fd = no_fd ? UniqueFd() : std::move(msg.fds[0]);
      if (msg.request == vhost::kSetVringCall) {
        v->vq.SetCallFd(fd.Release());
      } else if (msg.request == vhost::kSetVringErr) {
        StopQueue(index);  // the queue thread uses the err fd
        v->err = std::move(fd);
        RETURN_IF_ERROR(UpdateQueue(index));
      } else {
        if (no_fd) return absl::UnimplementedError("polling a queue without a kick eventfd");
        StopQueue(index);
        v->kick = std::move(fd);
        RETURN_IF_ERROR(UpdateQueue(index));
      }
      return R();
    }
    case vhost::kSetVringEnable: {
      ASSIGN_OR_RETURN(auto s, PayloadAs<vhost::VringState>(msg, "SET_VRING_ENABLE"));
      ASSIGN_OR_RETURN(Vring * v, VringFor(s.index));
      if (s.num > 1) return absl::InvalidArgumentError(absl::StrCat("vring enable value ", s.num));
      v->enabled = s.num == 1;
      if (!v->enabled) StopQueue(s.index);
      RETURN_IF_ERROR(UpdateQueue(s.index));
      return R();
    }
    case vhost::kGetConfig: {
      if (msg.payload.size() < sizeof(vhost::ConfigHeader)) {
        return absl::InvalidArgumentError("GET_CONFIG payload too short");
      }
      vhost::ConfigHeader h;
      std::memcpy(&h, msg.payload.data(), sizeof(h));
      if (h.size > 256 || msg.payload.size() != sizeof(h) + h.size) {
        return absl::InvalidArgumentError(absl::StrCat("GET_CONFIG of ", h.size, " bytes"));
      }
      std::vector<uint8_t> config = device_.Config();
      std::vector<uint8_t> out(sizeof(h) + h.size, 0);
      std::memcpy(out.data(), &h, sizeof(h));
      for (uint32_t i = 0; i < h.size; ++i) {
        uint64_t pos = uint64_t{h.offset} + i;
        if (pos < config.size()) out[sizeof(h) + i] = config[pos];
      }
      return R(Reply{std::move(out)});
    }
    case vhost::kSetConfig:
      if (msg.payload.size() < sizeof(vhost::ConfigHeader)) {
        return absl::InvalidArgumentError("SET_CONFIG payload too short");
      }
      return absl::PermissionDeniedError("the virtio-fs configuration is read-only");
    default:
      return absl::UnimplementedError(absl::StrCat("unsupported vhost-user request ", msg.request));
  }
}

absl::Status VhostUserBackend::SetMemTable(VhostMessage& msg) {
  if (msg.payload.size() < 8) return absl::InvalidArgumentError("SET_MEM_TABLE payload too short");
  uint32_t nregions;
  std::memcpy(&nregions, msg.payload.data(), 4);
  if (nregions == 0 || nregions > GuestMemory::kMaxRegions ||
      msg.payload.size() != 8 + nregions * sizeof(vhost::MemoryRegion)) {
    return absl::InvalidArgumentError(absl::StrCat("SET_MEM_TABLE with ", nregions, " regions in ",
                                                   msg.payload.size(), " bytes"));
  }
  std::vector<MemoryRegionDesc> regions(nregions);
  for (uint32_t i = 0; i < nregions; ++i) {
    vhost::MemoryRegion r;
    std::memcpy(&r, msg.payload.data() + 8 + i * sizeof(r), sizeof(r));
    regions[i] =
        MemoryRegionDesc{r.guest_phys_addr, r.memory_size, r.userspace_addr, r.mmap_offset};
  }
  std::vector<int> fds;
  for (const UniqueFd& fd : msg.fds) fds.push_back(fd.get());
  ASSIGN_OR_RETURN(auto mem, GuestMemory::Create(regions, fds));
  // Queues hold pointers into the old mapping: stop them, swap, restart.
  StopAll();
  memory_ = std::move(mem);
  for (uint32_t i = 0; i < vrings_.size(); ++i) RETURN_IF_ERROR(UpdateQueue(i));
  return absl::OkStatus();
}

absl::Status VhostUserBackend::UpdateQueue(uint32_t index) {
  Vring& v = *vrings_[index];
  bool want = v.kick && v.enabled && v.addr_set && v.layout.size != 0 && memory_ != nullptr &&
              features_set_;
  if (!want || v.running) return absl::OkStatus();
  RETURN_IF_ERROR(v.vq.Start(*memory_, v.layout, v.base, acked_features_ & vhost::kFeatureEventIdx,
                             acked_features_ & vhost::kFeatureIndirectDesc));
  int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ev < 0) {
    v.vq.Stop();
    return ErrnoStatus(errno, "eventfd");
  }
  v.stop_event.Reset(ev);
  v.stopping.store(false);
  v.running = true;
  v.thread = std::thread([this, index] { QueueLoop(index); });
  return absl::OkStatus();
}

void VhostUserBackend::StopQueue(uint32_t index) {
  Vring& v = *vrings_[index];
  if (!v.running) return;
  v.stopping.store(true);
  eventfd_write(v.stop_event.get(), 1);
  v.thread.join();
  v.vq.WaitIdle();
  v.base = v.vq.last_avail();
  v.vq.Stop();
  v.stop_event.Reset();
  v.running = false;
}

void VhostUserBackend::StopAll() {
  for (uint32_t i = 0; i < vrings_.size(); ++i) StopQueue(i);
}

void VhostUserBackend::ResetState() {
  for (auto& v : vrings_) {
    v->layout = Virtqueue::Layout{};
    v->addr_set = false;
    v->base = 0;
    v->enabled = false;
    v->kick.Reset();
    v->err.Reset();
    v->vq.SetCallFd(-1);
  }
  acked_features_ = 0;
  features_set_ = false;
}

void VhostUserBackend::QueueLoop(uint32_t index) {
  Vring& v = *vrings_[index];
  bool broken = false;
  auto drain = [&] {
    for (;;) {
      for (;;) {
        if (v.stopping.load(std::memory_order_relaxed)) return;
        auto chain = v.vq.Pop();
        if (!chain.ok()) {
          if (chain.status().code() == absl::StatusCode::kDataLoss) {
            spdlog::error("virtqueue {} is broken, no longer served: {}", index,
                          ToStdView(chain.status().message()));
            if (v.err) eventfd_write(v.err.get(), 1);
            broken = true;
            return;
          }
          spdlog::warn("virtqueue {}: {}", index, ToStdView(chain.status().message()));
          continue;
        }
        if (!chain->has_value()) break;
        device_.HandleChain(index, v.vq, std::move(**chain));
      }
      if (!v.vq.EnableNotifyAndCheck()) return;
    }
  };
  drain();  // buffers made available before the kick fd arrived
  for (;;) {
    pollfd fds[2] = {{v.stop_event.get(), POLLIN, 0}, {v.kick.get(), POLLIN, 0}};
    int n = poll(fds, broken ? 1 : 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("poll on virtqueue {}: {}", index, std::strerror(errno));
      return;
    }
    if (fds[0].revents) return;
    if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      broken = true;
      continue;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t value;
      ssize_t n = read(v.kick.get(), &value, sizeof(value));
      if (n != sizeof(value) && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
        // Not an eventfd (a file at EOF would poll readable forever).
        spdlog::error("virtqueue {}: kick fd is not an eventfd; queue no longer served", index);
        broken = true;
        continue;
      }
      drain();
    }
  }
}

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, mode_t mode) {
  // Bound and listening inside a fresh private directory (0700: nobody else
  // can reach the socket there), given its mode, then renamed into place:
  // the path never shows a socket with another mode (whatever the umask),
  // and a frontend that sees it can connect at once.
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string private_dir = absl::StrCat(dir, "/.castor-XXXXXX");
  std::string temp = private_dir + "/s";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.back() == '/' || temp.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket path '", path, "' is empty or too long"));
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    return absl::AlreadyExistsError(absl::StrCat(path, " exists and is not a socket"));
  }
  if (mkdtemp(private_dir.data()) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("mkdtemp ", private_dir));
  }
  temp = private_dir + "/s";
  auto fail = [&](const std::string& what) {
    absl::Status s = ErrnoStatus(errno, what);
    unlink(temp.c_str());
    rmdir(private_dir.c_str());
    return s;
  };
  std::memcpy(addr.sun_path, temp.data(), temp.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail("socket");
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail(absl::StrCat("bind ", temp));
  }
  if (listen(fd.get(), 1) != 0) return fail(absl::StrCat("listen ", temp));
  if (chmod(temp.c_str(), mode) != 0) return fail(absl::StrCat("chmod ", temp));
  if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    unlink(temp.c_str());
    rmdir(private_dir.c_str());
    return absl::AlreadyExistsError(absl::StrCat(path, " exists and is not a socket"));
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return fail(absl::StrCat("rename ", temp, " to ", path));
  }
  rmdir(private_dir.c_str());
  return fd;
}

}  // namespace castor::fs::transport
