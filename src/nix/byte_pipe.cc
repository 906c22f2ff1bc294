#include "nix/byte_pipe.h"

#include <algorithm>
#include <cstring>

namespace castor::nix {

absl::Status BytePipe::Write(std::string_view data) {
  while (!data.empty()) {
    castor::MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return !abandoned_.ok() || buffer_.size() - start_ < capacity_;
    });
    if (!abandoned_.ok()) return abandoned_;
    if (start_ > 0 && start_ == buffer_.size()) {
      buffer_.clear();
      start_ = 0;
    }
    size_t n = std::min(data.size(), capacity_ - (buffer_.size() - start_));
    buffer_.append(data.data(), n);
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

void BytePipe::Close() {
  castor::MutexLock lock(&mu_);
  closed_ = true;
}

void BytePipe::Fail(absl::Status error) {
  castor::MutexLock lock(&mu_);
  closed_ = true;
  error_ = std::move(error);
}

absl::StatusOr<size_t> BytePipe::Read(std::span<char> buf) {
  castor::MutexLock lock(&mu_);
  mu_.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return closed_ || start_ < buffer_.size(); });
  if (start_ == buffer_.size()) {
    if (!error_.ok()) return error_;
    return 0;
  }
  size_t n = std::min(buf.size(), buffer_.size() - start_);
  std::memcpy(buf.data(), buffer_.data() + start_, n);
  start_ += n;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > capacity_ / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return n;
}

void BytePipe::Abandon(absl::Status why) {
  castor::MutexLock lock(&mu_);
  abandoned_ = std::move(why);
}

}  // namespace castor::nix
