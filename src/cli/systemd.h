// The parts of systemd's service protocol castor speaks, without
// libsystemd: readiness and watchdog notifications to $NOTIFY_SOCKET (a
// unix datagram socket; a name starting with '@' is in the abstract
// namespace), and the listening sockets of socket activation
// ($LISTEN_FDS, $LISTEN_PID, $LISTEN_FDNAMES; the fds start at 3).
// Notifier and Watchdog are thread-safe; TakeListenFds is for start-up
// (it changes the environment) and is not.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "base/unique_fd.h"

namespace castor::cli::systemd {

// Sends state lines ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...")
// to the service manager. Without $NOTIFY_SOCKET it sends nothing.
class Notifier {
 public:
  // From $NOTIFY_SOCKET (left in the environment). An unusable value (not
  // an absolute path nor '@name', or too long) is InvalidArgument naming
  // it.
  static absl::StatusOr<Notifier> FromEnvironment();
  // Sends nothing.
  Notifier() = default;

  bool enabled() const { return fd_.get() >= 0; }
  // One datagram with `state` (newline-separated assignments). OK when
  // disabled; the errno's status when the manager's socket does not take it.
  absl::Status Send(std::string_view state) const;
  // The same with descriptors attached (SCM_RIGHTS), for the manager's fd
  // store ("FDSTORE=1\nFDNAME=..."). At most 16 descriptors.
  absl::Status SendFds(std::string_view state, std::span<const int> fds) const;

 private:
  UniqueFd fd_;
  std::string address_;  // sockaddr_un bytes
};

// The watchdog interval the manager expects pings in: $WATCHDOG_USEC,
// when set and, if $WATCHDOG_PID is set, only when it names `pid`.
// nullopt when not asked for; a malformed value is InvalidArgument.
absl::StatusOr<std::optional<std::chrono::microseconds>> WatchdogInterval(pid_t pid);

// Sends WATCHDOG=1 through `notifier` every half `interval` on its own
// thread until destroyed (the destructor returns promptly). `notifier`
// must outlive it.
class Watchdog {
 public:
  Watchdog(const Notifier& notifier, std::chrono::microseconds interval);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

struct ListenFd {
  int fd;            // owned by the caller now; FD_CLOEXEC set
  std::string name;  // from $LISTEN_FDNAMES, else "unknown"
};

// The sockets passed by socket activation, and unsets the three variables
// (so that no child takes them for its own). Empty when $LISTEN_FDS is not
// set, or $LISTEN_PID is missing or names another process (they are not
// ours). A malformed value, a name count that is not the fd count, or an
// fd that is not open is InvalidArgument.
absl::StatusOr<std::vector<ListenFd>> TakeListenFds(pid_t pid);

}  // namespace castor::cli::systemd
