// ByteSink and ByteSource: the byte streams the Nix formats are written to
// and read from (NAR, compression filters, hashing), plus in-memory and
// length-limiting implementations. A sink or source belongs to one thread at
// a time.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace castor::nix {

// Receives a stream of bytes.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Takes all of `data` (which is borrowed for the call only), or fails; a
  // sink that failed once is not written to again.
  virtual absl::Status Write(std::string_view data) = 0;
};

// Hands out a stream of bytes.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to buf.size() (> 0) bytes; returns how many, 0 only at the end
  // of the stream.
  virtual absl::StatusOr<size_t> Read(std::span<char> buf) = 0;
};

// Appends to a string it owns.
class StringSink : public ByteSink {
 public:
  absl::Status Write(std::string_view data) override {
    out_.append(data);
    return absl::OkStatus();
  }
  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Discards what it is given (to measure or hash a stream only).
class NullSink : public ByteSink {
 public:
  absl::Status Write(std::string_view) override { return absl::OkStatus(); }
};

// Reads a borrowed string, which must outlive the source.
class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(std::span<char> buf) override;

 private:
  std::string_view data_;
};

// Passes writes on to `downstream` while their total stays within `limit`
// bytes; the write that would exceed it fails with ResourceExhausted naming
// `what` and the limit, and nothing of it is passed on.
class LimitSink : public ByteSink {
 public:
  LimitSink(ByteSink& downstream, uint64_t limit, std::string what)
      : downstream_(downstream), limit_(limit), what_(std::move(what)) {}
  absl::Status Write(std::string_view data) override;
  uint64_t written() const { return written_; }

 private:
  ByteSink& downstream_;
  const uint64_t limit_;
  const std::string what_;
  uint64_t written_ = 0;
};

// Reads a file descriptor it owns (closed on destruction unless it is
// standard input); `what` names it in errors.
class FdSource : public ByteSource {
 public:
  FdSource(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  ~FdSource() override;
  FdSource(const FdSource&) = delete;
  FdSource& operator=(const FdSource&) = delete;
  // The file at `path`, or standard input for "-". NotFound naming the path
  // when it does not exist.
  static absl::StatusOr<std::unique_ptr<FdSource>> Open(const std::string& path);
  absl::StatusOr<size_t> Read(std::span<char> buf) override;

 private:
  const int fd_;
  const std::string what_;
};

// Writes to a file descriptor it does not own (standard output).
class FdSink : public ByteSink {
 public:
  FdSink(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  absl::Status Write(std::string_view data) override;

 private:
  const int fd_;
  const std::string what_;
};

inline constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

// Reads `source` to its end, appending to *out. ResourceExhausted naming
// `what` when more than `limit` bytes come.
absl::Status ReadAll(ByteSource& source, std::string* out, uint64_t limit = kNoLimit,
                     std::string_view what = "stream");

// Copies `source` to its end into `sink`; returns the number of bytes.
absl::StatusOr<uint64_t> Copy(ByteSource& source, ByteSink& sink);

}  // namespace castor::nix
