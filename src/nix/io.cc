#include "nix/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::nix {

absl::StatusOr<size_t> StringSource::Read(std::span<char> buf) {
  size_t n = std::min(buf.size(), data_.size());
  std::memcpy(buf.data(), data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

FdSource::~FdSource() {
  if (fd_ != STDIN_FILENO) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<FdSource>> FdSource::Open(const std::string& path) {
  if (path == "-") return std::make_unique<FdSource>(STDIN_FILENO, "standard input");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return ErrnoStatus(errno, absl::StrCat("opening ", path));
  }
  return std::make_unique<FdSource>(fd, path);
}

absl::StatusOr<size_t> FdSource::Read(std::span<char> buf) {
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoStatus(errno, absl::StrCat("reading ", what_));
  }
}

absl::Status FdSink::Write(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("writing to ", what_));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status LimitSink::Write(std::string_view data) {
  if (data.size() > limit_ - written_) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what_, " exceeds the limit of ", limit_, " bytes"));
  }
  written_ += data.size();
  return downstream_.Write(data);
}

absl::Status ReadAll(ByteSource& source, std::string* out, uint64_t limit, std::string_view what) {
  char buf[64 * 1024];
  uint64_t total = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, source.Read(buf));
    if (n == 0) return absl::OkStatus();
    if (n > limit - total) {
      return absl::ResourceExhaustedError(
          absl::StrCat(ToAbslView(what), " exceeds the limit of ", limit, " bytes"));
    }
    total += n;
    out->append(buf, n);
  }
}

absl::StatusOr<uint64_t> Copy(ByteSource& source, ByteSink& sink) {
  std::vector<char> buf(256 * 1024);
  uint64_t total = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, source.Read(buf));
    if (n == 0) return total;
    RETURN_IF_ERROR(sink.Write(std::string_view(buf.data(), n)));
    total += n;
  }
}

}  // namespace castor::nix
