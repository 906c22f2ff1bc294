#include "nix/io.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"

namespace castor::nix {

absl::StatusOr<size_t> StringSource::Read(std::span<char> buf) {
  size_t n = std::min(buf.size(), data_.size());
  std::memcpy(buf.data(), data_.data(), n);
  data_.remove_prefix(n);
  return n;
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
          absl::StrCat(AV(what), " exceeds the limit of ", limit, " bytes"));
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
