#include "fs/transport/fuse_uring.h"

#include <liburing.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/metrics.h"
#include "base/status.h"
#include "fs/fuse/abi.h"
#include "spdlog/spdlog.h"

namespace castor::fs::transport {
namespace {

constexpr char kEnableUring[] = "/sys/module/fuse/parameters/enable_uring";
// user_data of the poll on the cancel eventfd (entries use their index).
constexpr uint64_t kCancelTag = ~uint64_t{0};
// Room before the payload buffer for the fuse_out_header the handler writes
// in front of the reply's payload; the payload itself starts page-aligned.
constexpr size_t kHeaderRoom = 4096;

// The errors with which the kernel ends an entry when the connection goes.
bool ConnectionGone(int err) {
  return err == ENOTCONN || err == ECANCELED || err == ENODEV || err == ECONNABORTED;
}

// One registered entry: the kernel's header and payload buffers (mapped, so
// the payload is page-aligned), and the reply completion.
class Entry : public fuse::Responder {
 public:
  explicit Entry(size_t payload_size) : payload_size_(payload_size) {
    mapped_size_ = sizeof(fuse::UringReqHeader) + kHeaderRoom + payload_size;
    void* p =
        mmap(nullptr, mapped_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<uint8_t*>(p);
    iov_[0] = {base_, sizeof(fuse::UringReqHeader)};
    iov_[1] = {payload(), payload_size_};
  }
  ~Entry() override {
    if (base_ != nullptr) munmap(base_, mapped_size_);
  }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

  bool ok() const { return base_ != nullptr; }
  fuse::UringReqHeader* header() { return reinterpret_cast<fuse::UringReqHeader*>(base_); }
  uint8_t* payload() { return base_ + sizeof(fuse::UringReqHeader) + kHeaderRoom; }
  size_t payload_size() const { return payload_size_; }
  iovec* iov() { return iov_; }

  // The reply goes right before and into the payload buffer: its
  // fuse_out_header is then copied into the entry's header, and the rest
  // is already where the kernel reads it.
  std::span<uint8_t> ReplyBuffer() override {
    return {payload() - sizeof(fuse_out_header), sizeof(fuse_out_header) + payload_size_};
  }
  void Complete(size_t length) override {
    castor::MutexLock lock(&mu_);
    length_ = length;
    done_ = true;
  }
  // Waits for Complete (a handler may complete from another thread) and
  // returns its length.
  size_t AwaitAndReset() {
    castor::MutexLock lock(&mu_);
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_; });
    done_ = false;
    return length_;
  }

 private:
  const size_t payload_size_;
  size_t mapped_size_ = 0;
  uint8_t* base_ = nullptr;
  iovec iov_[2] = {};
  castor::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  size_t length_ ABSL_GUARDED_BY(mu_) = 0;
};

// Fills `sqe` with FUSE io_uring command `op` for `entry` of queue `qid`.
void PrepareCommand(io_uring_sqe* sqe, int fd, uint32_t op, uint16_t qid, Entry& entry,
                    uint64_t index, uint64_t commit_id) {
  // 128-byte SQE: the command area (from addr3 on) runs past the classic
  // 64 bytes.
  std::memset(static_cast<void*>(sqe), 0, 2 * sizeof(io_uring_sqe));
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd;
  sqe->cmd_op = op;
  sqe->addr = reinterpret_cast<uint64_t>(entry.iov());
  sqe->len = 2;
  sqe->user_data = index;
  fuse::UringCmdReq req{};
  req.qid = qid;
  req.commit_id = commit_id;
  std::memcpy(reinterpret_cast<uint8_t*>(sqe) + offsetof(io_uring_sqe, addr3), &req, sizeof(req));
}

metrics::Counter& RingRequests() {
  static metrics::Counter& c = FuseRequestsCounter("uring");
  return c;
}

}  // namespace

metrics::Counter& FuseRequestsCounter(std::string_view transport) {
  static auto& family = metrics::Registry::Default().AddCounterFamily(
      "castor_fuse_transport_requests_total",
      "FUSE requests a mount received, by transport (dev: read(2) from /dev/fuse; uring: FUSE "
      "over io_uring).",
      {"transport"});
  return family.WithLabels({transport});
}

int PossibleCpus() {
  // "0-3" or "0,2-5"; the kernel makes num_possible_cpus() queues.
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string list;
  int count = 0;
  if (in >> list) {
    size_t pos = 0;
    while (pos < list.size()) {
      size_t end = list.find(',', pos);
      if (end == std::string::npos) end = list.size();
      std::string range = list.substr(pos, end - pos);
      size_t dash = range.find('-');
      int first = std::atoi(range.c_str());
      int last = dash == std::string::npos ? first : std::atoi(range.c_str() + dash + 1);
      if (last >= first) count += last - first + 1;
      pos = end + 1;
    }
  }
  if (count > 0) return count;
  long n = sysconf(_SC_NPROCESSORS_CONF);
  return n > 0 ? static_cast<int>(n) : 1;
}

absl::Status FuseUring::Available() {
  std::ifstream param(kEnableUring);
  std::string value;
  if (!param || !(param >> value)) {
    return absl::UnimplementedError(
        absl::StrCat("this kernel has no FUSE over io_uring (", kEnableUring,
                     " is missing; Linux 6.14+ with CONFIG_FUSE_IO_URING has it)"));
  }
  if (value != "Y" && value != "1") {
    return absl::FailedPreconditionError(
        absl::StrCat("FUSE over io_uring is off in the kernel; as root: echo 1 > ", kEnableUring));
  }
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SQE128;
  int rc = io_uring_queue_init_params(2, &ring, &params);
  if (rc < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot set up an io_uring with 128-byte SQEs: ", std::strerror(-rc),
                     " (io_uring disabled by the kernel.io_uring_disabled sysctl or a seccomp "
                     "filter?)"));
  }
  io_uring_queue_exit(&ring);
  return absl::OkStatus();
}

FuseUring::FuseUring(fuse::RequestHandler& handler, int fd, UringOptions options)
    : handler_(handler), fd_(fd), options_(options) {}

std::unique_ptr<FuseUring> FuseUring::Start(fuse::RequestHandler& handler, int fd,
                                            UringOptions options) {
  if (options.queue_depth < 1) options.queue_depth = 1;
  std::unique_ptr<FuseUring> u(new FuseUring(handler, fd, options));
  u->cancel_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int n = PossibleCpus();
  {
    castor::MutexLock lock(&u->mu_);
    u->pending_registrations_ = n;
  }
  u->live_.store(n);
  for (int qid = 0; qid < n; ++qid) u->threads_.emplace_back(&FuseUring::Run, u.get(), qid);
  castor::MutexLock lock(&u->mu_);
  u->mu_.Await(
      [&u]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(u->mu_) { return u->pending_registrations_ == 0; });
  return u;
}

FuseUring::~FuseUring() {
  Cancel();
  if (cancel_fd_ >= 0) close(cancel_fd_);
}

absl::Status FuseUring::registered() const {
  castor::MutexLock lock(&mu_);
  return registered_;
}

void FuseUring::Registered(int qid, absl::Status status) {
  castor::MutexLock lock(&mu_);
  if (!status.ok() && registered_.ok()) {
    registered_ = absl::Status(status.code(),
                               absl::StrCat("FUSE io_uring queue ", qid, ": ", status.message()));
  }
  --pending_registrations_;
}

void FuseUring::Cancel() {
  if (joined_.exchange(true)) return;
  uint64_t one = 1;
  if (cancel_fd_ >= 0) (void)!write(cancel_fd_, &one, sizeof(one));
  for (std::thread& t : threads_) t.join();
}

void FuseUring::Run(int qid) {
  const auto q = static_cast<uint16_t>(qid);
  // Requests come to queue `qid` from callers on CPU `qid`; serving them on
  // that CPU keeps the request and its reply in one CPU's caches. A CPU
  // that is possible but offline cannot be pinned to (nor send requests).
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(qid, &cpus);
  if (int err = pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus); err != 0) {
    spdlog::debug("FUSE io_uring queue {}: not pinned to its CPU: {}", qid, std::strerror(err));
  }
  bool reported = false;
  auto report = [&](absl::Status s) {
    if (!reported) Registered(qid, std::move(s));
    reported = true;
  };
  const auto depth = static_cast<size_t>(options_.queue_depth);
  std::vector<std::unique_ptr<Entry>> entries;
  for (size_t i = 0; i < depth; ++i) {
    entries.push_back(std::make_unique<Entry>(options_.payload_size));
    if (!entries.back()->ok()) {
      report(ErrnoStatus(errno, "mapping a FUSE io_uring buffer"));
      live_.fetch_sub(1);
      return;
    }
  }
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SQE128;
  if (int rc = io_uring_queue_init_params(static_cast<unsigned>(depth + 1), &ring, &params);
      rc < 0) {
    report(ErrnoStatus(-rc, "io_uring_queue_init"));
    live_.fetch_sub(1);
    return;
  }
  auto next_sqe = [&ring]() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    while (sqe == nullptr) {
      io_uring_submit(&ring);
      sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
  };
  io_uring_sqe* poll = next_sqe();
  io_uring_prep_poll_add(poll, cancel_fd_, POLLIN);
  io_uring_sqe_set_data64(poll, kCancelTag);
  for (size_t i = 0; i < depth; ++i) {
    PrepareCommand(next_sqe(), fd_, fuse::kUringCmdRegister, q, *entries[i], i, 0);
  }
  std::vector<uint8_t> request(sizeof(fuse_in_header) + fuse::kUringOpInSize +
                               options_.payload_size);
  size_t live_entries = depth;
  bool cancelled = false;
  // A REGISTER that fails completes at once; one that succeeds completes
  // only when the entry gets a request. The kernel refuses (EAGAIN) until
  // it has processed the INIT reply, which may still be on its way.
  const auto register_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool registering = true;
  absl::Status register_status;
  while (!cancelled && live_entries > 0) {
    if (registering) {
      io_uring_submit(&ring);
      __kernel_timespec wait{0, 50 * 1000 * 1000};
      io_uring_cqe* first = nullptr;
      int rc = io_uring_wait_cqe_timeout(&ring, &first, &wait);
      if (rc == -ETIME || std::chrono::steady_clock::now() >= register_deadline) {
        // No refusal within the wait: every entry is registered.
        registering = false;
        report(register_status);
        if (!register_status.ok()) break;
        continue;
      }
      if (rc < 0 && rc != -EINTR) {
        report(ErrnoStatus(-rc, "waiting for the FUSE io_uring registration"));
        break;
      }
    } else {
      int rc = io_uring_submit_and_wait(&ring, 1);
      if (rc < 0 && rc != -EINTR) {
        spdlog::error("FUSE io_uring queue {}: {}", qid, std::strerror(-rc));
        break;
      }
    }
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      uint64_t index = io_uring_cqe_get_data64(cqe);
      if (index == kCancelTag) {
        cancelled = true;
        continue;
      }
      if (index >= depth) continue;
      Entry& entry = *entries[index];
      if (cqe->res == -EAGAIN && std::chrono::steady_clock::now() < register_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        PrepareCommand(next_sqe(), fd_, fuse::kUringCmdRegister, q, entry, index, 0);
        continue;
      }
      if (cqe->res < 0) {
        --live_entries;
        // Unmounted while registering: no error, the session just ends.
        if (registering && !ConnectionGone(-cqe->res)) {
          if (register_status.ok()) {
            register_status = ErrnoStatus(-cqe->res, "registering a FUSE io_uring entry");
          }
        } else if (!ConnectionGone(-cqe->res)) {
          spdlog::warn("FUSE io_uring queue {}: {}", qid, std::strerror(-cqe->res));
        }
        continue;
      }
      if (registering) {
        // A request arrived, so the kernel switched to the ring: every
        // queue has registered. Said before handling it, which may take
        // long (Start() waits for this).
        registering = false;
        report(register_status);
      }
      // The entry holds a request: fuse_in_header in in_out, the opcode's
      // fixed header in op_in, the rest in the payload buffer. The
      // dispatcher wants them in one piece, as /dev/fuse delivers them.
      fuse::UringReqHeader* h = entry.header();
      fuse_in_header in;
      std::memcpy(&in, h->in_out, sizeof(in));
      const uint64_t commit_id = h->ring_ent_in_out.commit_id;
      const size_t payload_sz = h->ring_ent_in_out.payload_sz;
      size_t length = 0;
      if (in.len >= sizeof(in) + payload_sz && payload_sz <= entry.payload_size() &&
          in.len - sizeof(in) - payload_sz <= fuse::kUringOpInSize) {
        size_t op_size = in.len - sizeof(in) - payload_sz;
        std::memcpy(request.data(), &in, sizeof(in));
        std::memcpy(request.data() + sizeof(in), h->op_in, op_size);
        std::memcpy(request.data() + sizeof(in) + op_size, entry.payload(), payload_sz);
        handler_.Handle(std::span<const uint8_t>(request.data(), in.len), entry);
        length = entry.AwaitAndReset();
      }
      fuse_out_header out;
      if (length < sizeof(out)) {
        // No reply to send (a malformed request): the kernel still waits
        // for this one, so it gets EIO.
        out = {static_cast<uint32_t>(sizeof(out)), -EIO, in.unique};
        length = sizeof(out);
      } else {
        std::memcpy(&out, entry.ReplyBuffer().data(), sizeof(out));
      }
      std::memcpy(h->in_out, &out, sizeof(out));
      h->ring_ent_in_out.payload_sz = static_cast<uint32_t>(length - sizeof(out));
      PrepareCommand(next_sqe(), fd_, fuse::kUringCmdCommitAndFetch, q, entry, index, commit_id);
      requests_.fetch_add(1, std::memory_order_relaxed);
      RingRequests().Inc();
    }
    io_uring_cq_advance(&ring, seen);
  }
  report(register_status.ok() && cancelled
             ? absl::CancelledError("cancelled before its entries were registered")
             : register_status);
  io_uring_queue_exit(&ring);
  live_.fetch_sub(1);
}

}  // namespace castor::fs::transport
