// ErrnoStatus and Annotate: the codes callers branch on and the messages
// users read.
#include "base/status.h"

#include <cerrno>
#include <string>

#include "gtest/gtest.h"

namespace castor {
namespace {

TEST(ErrnoStatus, MapsErrnoToTheCodeCallersBranchOn) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "open x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(ENOTDIR, "open x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EEXIST, "mkdir x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoStatus(EACCES, "open x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EPERM, "open x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EINVAL, "open x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoStatus(ENAMETOOLONG, "open x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoStatus(ELOOP, "open x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "write x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EDQUOT, "write x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EIO, "read x").code(), absl::StatusCode::kUnavailable);
}

TEST(ErrnoStatus, MessageNamesTheCallAndDescribesTheError) {
  absl::Status s = ErrnoStatus(ENOSPC, "write /store/x");
  EXPECT_EQ(std::string(ToStdView(s.message())), "write /store/x: No space left on device");
}

TEST(ErrnoStatus, UnknownErrnoIsUnavailableNamingTheNumber) {
  absl::Status s = ErrnoStatus(123456, "ioctl /dev/x");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(std::string(ToStdView(s.message())), "ioctl /dev/x: errno 123456");
}

TEST(Annotate, PutsContextInFrontAndKeepsTheCode) {
  absl::Status s = Annotate(absl::DataLossError("digest mismatch"), "blob abc");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(std::string(ToStdView(s.message())), "blob abc: digest mismatch");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "blob abc").ok());
}

}  // namespace
}  // namespace castor
