#include "rpc/call_watchdog.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "base/status.h"
#include "rpc/status.h"

namespace castor::rpc {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

int64_t ToNs(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

std::string Seconds(int64_t ns) { return absl::FormatDuration(absl::Nanoseconds(ns)); }

castor::Mutex defaults_mu;
CallTimeouts defaults ABSL_GUARDED_BY(defaults_mu);

}  // namespace

// The process's watchdog: the registered calls, and a thread that sleeps
// until the earliest moment one of the streams can have gone idle. Progress
// only moves those moments later, so it needs no wake-up (the thread finds
// the new time when it wakes); a call whose limit ends earlier than the
// thread's next wake-up kicks it.
class Watchdog {
 public:
  static Watchdog& Get() {
    static auto* w = new Watchdog;  // never destroyed: calls may run until exit
    return *w;
  }

  void Register(CallWatch* w) {
    castor::MutexLock lock(&mu_);
    calls_.insert(w);
    if (shut_down_) {
      Cancel(*w, CallWatch::kShutDown);
      return;
    }
    KickIfEarlierLocked(*w);
    if (!started_) {
      started_ = true;
      std::thread([this] { Run(); }).detach();
    }
  }

  void Unregister(CallWatch* w) {
    castor::MutexLock lock(&mu_);
    calls_.erase(w);
  }

  void Rescheduled(CallWatch* w) {
    castor::MutexLock lock(&mu_);
    KickIfEarlierLocked(*w);
  }

  void CancelAll() {
    castor::MutexLock lock(&mu_);
    shut_down_ = true;
    for (CallWatch* w : calls_) Cancel(*w, CallWatch::kShutDown);
  }

 private:
  static void Cancel(CallWatch& w, CallWatch::Outcome why) {
    int running = CallWatch::kRunning;
    if (w.outcome_.compare_exchange_strong(running, why)) w.ctx_.TryCancel();
  }

  // The moment `w` goes idle, or INT64_MAX when it cannot.
  static int64_t IdleAt(const CallWatch& w) {
    if (w.kind_ != CallWatch::Kind::kStream || w.outcome_.load() != CallWatch::kRunning) {
      return std::numeric_limits<int64_t>::max();
    }
    return w.last_progress_ns_.load() + w.limit_ns_.load();
  }

  void KickIfEarlierLocked(const CallWatch& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (IdleAt(w) < wake_ns_) kicked_ = true;
  }

  void Run() {
    castor::MutexLock lock(&mu_);
    for (;;) {
      const int64_t now = NowNs();
      int64_t next = std::numeric_limits<int64_t>::max();
      for (CallWatch* w : calls_) {
        int64_t at = IdleAt(*w);
        if (at <= now) {
          Cancel(*w, CallWatch::kIdle);
        } else {
          next = std::min(next, at);
        }
      }
      // With nothing to watch, look again in a minute (kicked earlier by a
      // new call).
      wake_ns_ = std::min(next, now + ToNs(std::chrono::minutes(1)));
      kicked_ = false;
      mu_.AwaitUntil([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return kicked_; },
                     SteadyClock::time_point(std::chrono::nanoseconds(wake_ns_)));
    }
  }

  castor::Mutex mu_;
  absl::flat_hash_set<CallWatch*> calls_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  int64_t wake_ns_ ABSL_GUARDED_BY(mu_) = 0;
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
};

void SetDefaultCallTimeouts(const CallTimeouts& timeouts) {
  castor::MutexLock lock(&defaults_mu);
  defaults = timeouts;
}

CallTimeouts DefaultCallTimeouts() {
  castor::MutexLock lock(&defaults_mu);
  return defaults;
}

void CancelAllCalls() { Watchdog::Get().CancelAll(); }

CallWatch::CallWatch(grpc::ClientContext& ctx, Kind kind, std::chrono::milliseconds limit)
    : ctx_(ctx), kind_(kind), limit_ns_(ToNs(limit)), last_progress_ns_(NowNs()) {
  if (kind == Kind::kUnary) ctx.set_deadline(std::chrono::system_clock::now() + limit);
  Watchdog::Get().Register(this);
}

CallWatch::~CallWatch() { Watchdog::Get().Unregister(this); }

void CallWatch::Progress() { last_progress_ns_.store(NowNs()); }

void CallWatch::AwaitAnswer(std::chrono::milliseconds timeout) {
  awaiting_answer_.store(true);
  limit_ns_.store(ToNs(timeout));
  last_progress_ns_.store(NowNs());
  Watchdog::Get().Rescheduled(this);
}

absl::Status CallWatch::Result(const grpc::Status& status, std::string_view what) const {
  if (status.ok()) return absl::OkStatus();
  switch (outcome_.load()) {
    case kIdle:
      if (awaiting_answer_.load()) {
        return absl::DeadlineExceededError(
            absl::StrCat(ToAbslView(what), ": no answer within ", Seconds(limit_ns_.load()),
                         " of the last message (see --rpc-timeout)"));
      }
      return absl::DeadlineExceededError(
          absl::StrCat(ToAbslView(what), ": no progress for ", Seconds(limit_ns_.load()),
                       ", cancelled (the daemon stalls; see --rpc-idle-timeout)"));
    case kShutDown:
      return absl::CancelledError(absl::StrCat(ToAbslView(what), ": cancelled, shutting down"));
    default:
      break;
  }
  if (kind_ == Kind::kUnary && status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError(absl::StrCat(ToAbslView(what), ": no answer within ",
                                                    Seconds(limit_ns_.load()),
                                                    " (see --rpc-timeout)"));
  }
  return FromGrpcStatus(status, what);
}

}  // namespace castor::rpc
