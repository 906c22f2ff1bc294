// Error-propagation helpers for absl::Status / absl::StatusOr (the Debian
// abseil predates abseil's own macros), CASTOR_CHECK for internal invariants,
// the conversions between std:: and absl:: string views, and errno -> Status.
// No state; every function is thread-safe.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CASTOR_CONCAT_INNER_(a, b) a##b
#define CASTOR_CONCAT_(a, b) CASTOR_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status castor_status_ = (expr);          \
    if (!castor_status_.ok()) return castor_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F());` or `ASSIGN_OR_RETURN(x, F());`
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  CASTOR_ASSIGN_OR_RETURN_IMPL_(CASTOR_CONCAT_(castor_statusor_, __LINE__), lhs, rexpr)

#define CASTOR_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

// Aborts with a message when an internal invariant is broken. Never used for
// conditions that untrusted input can cause.
#define CASTOR_CHECK(cond)                                                          \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace castor {

// Debian's abseil is built with its own absl::string_view (not an alias of
// std::string_view), so std::string_view must be converted before it is
// handed to absl::StrCat, absl::Status or the escaping functions.
inline absl::string_view ToAbslView(std::string_view s) { return {s.data(), s.size()}; }
// And back: absl::Status::message() to std::string_view.
inline std::string_view ToStdView(absl::string_view s) { return {s.data(), s.size()}; }

// Status from an errno value, for syscalls: `what` names the call and the
// object ("open /x/y"). ENOENT/ENOTDIR become NotFound, EEXIST AlreadyExists,
// EACCES/EPERM PermissionDenied, EINVAL/ENAMETOOLONG/ELOOP InvalidArgument,
// ENOSPC/EDQUOT ResourceExhausted, everything else (EIO, ...) Unavailable.
absl::Status ErrnoStatus(int err, std::string_view what);

// Adds context in front of a status message, keeping its code.
absl::Status Annotate(const absl::Status& s, std::string_view context);

}  // namespace castor
