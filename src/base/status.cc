#include "base/status.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace castor {

absl::Status ErrnoStatus(int err, std::string_view what) {
  // strerrordesc_np, unlike strerror, shares no buffer between threads.
  const char* desc = strerrordesc_np(err);
  std::string msg = desc != nullptr ? absl::StrCat(ToAbslView(what), ": ", desc)
                                    : absl::StrCat(ToAbslView(what), ": errno ", err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
      return absl::InvalidArgumentError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(ToAbslView(context), ": ", s.message()));
}

}  // namespace castor
