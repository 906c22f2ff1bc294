#include "fs/transport/takeover.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fd_passing.h"
#include "base/status.h"
#include "fs/takeover_state.h"
#include "spdlog/spdlog.h"

namespace castor::fs::transport {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kHello[] = "castor-takeover 1";
constexpr size_t kHeaderSize = 8;

enum class Tag { kHello, kState, kFail, kReady, kRefuse, kCommit, kUnknown };
constexpr const char* kTagNames[] = {"HELO", "STAT", "FAIL", "REDY", "NACK", "CMIT"};

std::string_view TagName(Tag t) { return t == Tag::kUnknown ? "????" : kTagNames[int(t)]; }

Tag ParseTag(std::string_view s) {
  for (int i = 0; i < 6; ++i) {
    if (s == kTagNames[i]) return static_cast<Tag>(i);
  }
  return Tag::kUnknown;
}

struct Frame {
  Tag tag = Tag::kUnknown;
  std::string payload;
  std::vector<UniqueFd> fds;
};

absl::StatusOr<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("takeover socket path '", path,
                                                   "' is empty or longer than ",
                                                   sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

absl::Status SendFrame(int sock, Tag tag, std::string_view payload, int fd = -1) {
  std::string frame(TagName(tag));
  auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  frame.append(payload);
  std::vector<int> fds;
  if (fd >= 0) fds.push_back(fd);
  return SendWithFds(sock, std::span(reinterpret_cast<const uint8_t*>(frame.data()), frame.size()),
                     fds, absl::StrCat("sending takeover ", ToAbslView(TagName(tag))));
}

// Reads exactly buf.size() bytes by `deadline`, unless `stop_fd` (if >= 0)
// becomes readable first. Descriptors that come along are kept in `fds` (at
// most one in all).
absl::Status ReadExactly(int sock, int stop_fd, Clock::time_point deadline, std::span<uint8_t> buf,
                         std::vector<UniqueFd>* fds) {
  size_t done = 0;
  while (done < buf.size()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return absl::DeadlineExceededError("takeover peer did not answer in time");
    pollfd p[2] = {{sock, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int r = poll(p, stop_fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) return ErrnoStatus(errno, "poll takeover socket");
    if (r <= 0) continue;
    if (stop_fd >= 0 && (p[1].revents & POLLIN)) return absl::CancelledError("shutting down");
    ASSIGN_OR_RETURN(size_t n, ReceiveWithFds(sock, buf.subspan(done), 1 - fds->size(), fds,
                                              "reading from the takeover peer"));
    if (n == 0) return absl::UnavailableError("the takeover peer closed the connection");
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<Frame> ReadFrame(int sock, int stop_fd, Clock::time_point deadline,
                                size_t max_payload) {
  Frame f;
  uint8_t header[kHeaderSize];
  RETURN_IF_ERROR(ReadExactly(sock, stop_fd, deadline, header, &f.fds));
  f.tag = ParseTag(std::string_view(reinterpret_cast<const char*>(header), 4));
  if (f.tag == Tag::kUnknown) {
    return absl::InvalidArgumentError("not a castor takeover frame");
  }
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= uint32_t{header[4 + i]} << (8 * i);
  if (n > max_payload) {
    return absl::InvalidArgumentError(absl::StrCat("takeover ", ToAbslView(TagName(f.tag)),
                                                   " frame of ", n, " bytes (at most ", max_payload,
                                                   ")"));
  }
  f.payload.resize(n);
  RETURN_IF_ERROR(ReadExactly(
      sock, stop_fd, deadline,
      std::span(reinterpret_cast<uint8_t*>(f.payload.data()), f.payload.size()), &f.fds));
  return f;
}

absl::StatusOr<UniqueFd> Listen(const std::string& path) {
  ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "socket");
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("takeover socket path ", path, " exists and is not a socket"));
    }
    // A socket somebody still listens on belongs to a live mount.
    UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe &&
        connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("a process already listens on takeover socket ", path));
    }
    unlink(path.c_str());
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind takeover socket ", path));
  }
  if (chmod(path.c_str(), 0600) != 0 || listen(fd.get(), 4) != 0) {
    int err = errno;
    unlink(path.c_str());
    return ErrnoStatus(err, absl::StrCat("listen on takeover socket ", path));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TakeoverListener>> TakeoverListener::Start(
    const std::string& path, DevFuseSession& session, SaveState save_state,
    TakeoverTimeouts timeouts) {
  ASSIGN_OR_RETURN(UniqueFd listen_fd, Listen(path));
  UniqueFd stop_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<TakeoverListener> l(new TakeoverListener(
      path, session, std::move(save_state), timeouts, std::move(listen_fd), std::move(stop_fd)));
  l->thread_ = std::thread(&TakeoverListener::Run, l.get());
  spdlog::info("listening for a takeover of {} on {}", session.mountpoint(), path);
  return l;
}

TakeoverListener::TakeoverListener(std::string path, DevFuseSession& session, SaveState save_state,
                                   TakeoverTimeouts timeouts, UniqueFd listen_fd, UniqueFd stop_fd)
    : path_(std::move(path)),
      session_(session),
      save_state_(std::move(save_state)),
      timeouts_(timeouts),
      listen_fd_(std::move(listen_fd)),
      stop_fd_(std::move(stop_fd)) {}

TakeoverListener::~TakeoverListener() {
  uint64_t one = 1;
  (void)!write(stop_fd_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  if (listen_fd_) unlink(path_.c_str());
}

void TakeoverListener::Run() {
  while (true) {
    pollfd p[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("takeover socket {}: poll: {}", path_, std::strerror(errno));
      return;
    }
    if (p[1].revents & POLLIN) return;
    if (!(p[0].revents & POLLIN)) continue;
    UniqueFd conn(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) continue;
    if (Serve(conn.get())) return;
    failed_.fetch_add(1);
    if (!listen_fd_) return;  // could not listen again after a failed commit
  }
}

bool TakeoverListener::Serve(int conn) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != 0 && cred.uid != geteuid())) {
    spdlog::warn("takeover of {}: refused a connection from uid {}", session_.mountpoint(),
                 cred.uid);
    (void)SendFrame(conn, Tag::kFail, "only the mount's own user may take it over");
    return false;
  }
  absl::StatusOr<Frame> hello =
      ReadFrame(conn, stop_fd_.get(), Clock::now() + timeouts_.hello, kMaxTakeoverMessage);
  if (!hello.ok() || hello->tag != Tag::kHello || hello->payload != kHello || !hello->fds.empty()) {
    std::string why = hello.ok() ? "not a castor takeover request" : hello.status().ToString();
    spdlog::warn("takeover of {}: refused a request: {}", session_.mountpoint(), why);
    (void)SendFrame(conn, Tag::kFail, absl::StrCat("refused: ", why));
    return false;
  }
  spdlog::info("takeover of {}: pausing to hand over", session_.mountpoint());
  if (!session_.Pause()) {
    (void)SendFrame(conn, Tag::kFail, "the mount is shutting down");
    return false;
  }
  std::string state = save_state_();
  timeval tv{static_cast<time_t>(timeouts_.send.count() / 1000),
             static_cast<suseconds_t>((timeouts_.send.count() % 1000) * 1000)};
  setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (absl::Status s = SendFrame(conn, Tag::kState, state, session_.fd()); !s.ok()) {
    Abandon(s.ToString());
    return false;
  }
  absl::StatusOr<Frame> ready =
      ReadFrame(conn, stop_fd_.get(), Clock::now() + timeouts_.ready, kMaxTakeoverMessage);
  if (!ready.ok() || ready->tag != Tag::kReady) {
    Abandon(!ready.ok()                  ? ready.status().ToString()
            : ready->tag == Tag::kRefuse ? absl::StrCat("the successor refused: ", ready->payload)
                                         : "the successor sent something else than REDY");
    return false;
  }
  // Free the path for the successor's own listener before it serves.
  listen_fd_.Reset();
  unlink(path_.c_str());
  if (absl::Status s = SendFrame(conn, Tag::kCommit, ""); !s.ok()) {
    absl::StatusOr<UniqueFd> again = Listen(path_);
    if (again.ok()) listen_fd_ = std::move(*again);
    Abandon(s.ToString());
    return false;
  }
  session_.MarkHandedOver();
  spdlog::info("takeover of {}: handed over", session_.mountpoint());
  return true;
}

void TakeoverListener::Abandon(std::string_view why) {
  spdlog::warn("takeover of {} failed ({}); serving again", session_.mountpoint(), why);
  session_.Resume();
}

absl::StatusOr<TakenOver> RequestTakeover(const std::string& path,
                                          std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  TakenOver t;
  t.conn.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!t.conn) return ErrnoStatus(errno, "socket");
  if (connect(t.conn.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    return absl::UnavailableError(
        absl::StrCat("no mount to take over listens on ", path, ": ", std::strerror(err)));
  }
  RETURN_IF_ERROR(SendFrame(t.conn.get(), Tag::kHello, kHello));
  ASSIGN_OR_RETURN(Frame f,
                   ReadFrame(t.conn.get(), -1, Clock::now() + timeout, fs::kMaxTakeoverStateBytes));
  if (f.tag == Tag::kFail) {
    return absl::FailedPreconditionError(
        absl::StrCat("the mount on ", path, " refused the takeover: ", f.payload));
  }
  if (f.tag != Tag::kState || f.fds.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("takeover socket ", path, ": expected the state with a descriptor, got ",
                     ToAbslView(TagName(f.tag)), " with ", f.fds.size()));
  }
  t.fuse_fd = std::move(f.fds[0]);
  t.state = std::move(f.payload);
  return t;
}

void RefuseTakeover(TakenOver& taken, std::string_view why) {
  std::string_view msg = why.substr(0, kMaxTakeoverMessage);
  (void)SendFrame(taken.conn.get(), Tag::kRefuse, msg);
  taken.conn.Reset();
  taken.fuse_fd.Reset();
}

absl::Status CompleteTakeover(TakenOver& taken, std::chrono::milliseconds timeout) {
  RETURN_IF_ERROR(SendFrame(taken.conn.get(), Tag::kReady, ""));
  absl::StatusOr<Frame> f =
      ReadFrame(taken.conn.get(), -1, Clock::now() + timeout, kMaxTakeoverMessage);
  if (!f.ok() || f->tag != Tag::kCommit) {
    return absl::AbortedError(absl::StrCat(
        "the mount being taken over did not commit (it keeps serving): ",
        f.ok() ? absl::StrCat("got ", ToAbslView(TagName(f->tag))) : f.status().ToString()));
  }
  taken.conn.Reset();
  return absl::OkStatus();
}

}  // namespace castor::fs::transport
