#include "fs/transport/virtiofs_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "fs/fuse/dispatcher.h"
#include "fs/fuse/session.h"
#include "fs/transport/vhost_user_backend.h"
#include "fs/transport/virtio_fs_device.h"
#include "spdlog/spdlog.h"

namespace castor::fs::transport {
namespace {

// Waits for a connection on `listener`; nullopt when stop_fd fired first.
absl::StatusOr<std::optional<UniqueFd>> Accept(int listener, int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{listener, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = poll(fds, stop_fd >= 0 ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "poll on the vhost-user listening socket");
    }
    if (stop_fd >= 0 && (fds[1].revents & POLLIN)) return std::nullopt;
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return ErrnoStatus(errno, "accept on the vhost-user socket");
    }
    return std::optional<UniqueFd>(UniqueFd(fd));
  }
}

absl::Status ServeOne(const FilesystemFactory& new_filesystem, const VirtiofsOptions& options,
                      int conn, int stop_fd) {
  GuestSessionHandler handler(new_filesystem);
  VirtioFsDevice device(handler, "castor", options.request_queues, options.threads);
  VhostUserBackend backend(device);
  return backend.ServeConnection(conn, stop_fd);
}

}  // namespace

struct GuestSessionHandler::Instance {
  Instance(std::unique_ptr<fuse::Filesystem> filesystem, fuse::SessionOptions session_options)
      : fs(std::move(filesystem)), session(session_options), dispatcher(*fs, session) {}
  const std::unique_ptr<fuse::Filesystem> fs;
  fuse::Session session;
  fuse::Dispatcher dispatcher;
};

GuestSessionHandler::GuestSessionHandler(FilesystemFactory new_filesystem)
    : new_filesystem_(std::move(new_filesystem)), current_(NewInstance()) {}

GuestSessionHandler::~GuestSessionHandler() = default;

std::shared_ptr<GuestSessionHandler::Instance> GuestSessionHandler::NewInstance() const {
  fuse::SessionOptions session_options;
  // Replies go through VirtioFsDevice buffers of up to kMaxReply bytes.
  session_options.max_pages = 256;
  return std::make_shared<Instance>(new_filesystem_(), session_options);
}

uint64_t GuestSessionHandler::sessions() const {
  MutexLock lock(&mu_);
  return sessions_;
}

void GuestSessionHandler::Handle(std::span<const uint8_t> request, fuse::Responder& responder) {
  uint32_t opcode = 0;
  if (request.size() >= 8) std::memcpy(&opcode, request.data() + 4, 4);
  std::shared_ptr<Instance> instance;
  {
    MutexLock lock(&mu_);
    if (opcode == FUSE_INIT && current_->session.initialized()) {
      spdlog::info(
          "virtiofs: the guest driver sent INIT again (reset); starting a new FUSE session");
      current_ = NewInstance();
      ++sessions_;
    }
    instance = current_;
  }
  instance->dispatcher.Handle(request, responder);
}

absl::Status ServeVirtiofs(const FilesystemFactory& new_filesystem, const VirtiofsOptions& options,
                           int stop_fd) {
  ASSIGN_OR_RETURN(UniqueFd listener, ListenUnix(options.socket_path, options.socket_mode));
  spdlog::info("virtiofs: listening on {}", options.socket_path);
  if (options.on_listening) options.on_listening();
  absl::Status result;
  for (;;) {
    auto conn = Accept(listener.get(), stop_fd);
    if (!conn.ok()) {
      result = conn.status();
      break;
    }
    if (!conn->has_value()) break;
    spdlog::info("virtiofs: frontend connected");
    absl::Status s = ServeOne(new_filesystem, options, (*conn)->get(), stop_fd);
    if (s.code() == absl::StatusCode::kCancelled) break;  // stop_fd fired
    if (!s.ok()) {
      spdlog::error("virtiofs: connection ended: {}", ToStdView(s.message()));
      if (!options.persistent) {
        result = s;
        break;
      }
    } else {
      spdlog::info("virtiofs: frontend disconnected");
    }
    if (!options.persistent) break;
  }
  unlink(options.socket_path.c_str());
  return result;
}

}  // namespace castor::fs::transport
