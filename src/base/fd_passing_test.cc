#include "base/fd_passing.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace castor {
namespace {

class FdPassingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a_.Reset(sv[0]);
    b_.Reset(sv[1]);
  }
  static std::span<const uint8_t> Bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
  UniqueFd a_, b_;
};

TEST_F(FdPassingTest, DescriptorArrivesAndNamesTheSameOpenFile) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  int fds[] = {r.get()};
  ASSERT_TRUE(SendWithFds(a_.get(), Bytes("hello"), fds, "test").ok());
  r.Reset();  // the receiver's copy keeps the pipe's read end open
  std::vector<UniqueFd> got;
  uint8_t buf[16];
  auto n = ReceiveWithFds(b_.get(), buf, 1, &got, "test");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *n), "hello");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(fcntl(got[0].get(), F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_EQ(write(w.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(read(got[0].get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST_F(FdPassingTest, MoreDescriptorsThanAcceptedAreRefusedAndClosed) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  int fds[] = {r.get(), w.get()};
  ASSERT_TRUE(SendWithFds(a_.get(), Bytes("x"), fds, "test").ok());
  std::vector<UniqueFd> got;
  uint8_t buf[4];
  auto n = ReceiveWithFds(b_.get(), buf, 1, &got, "handover");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(n.status().message().find("handover"), std::string_view::npos);
  EXPECT_TRUE(got.empty());
}

TEST_F(FdPassingTest, ClosedPeerIsUnavailableNotSigpipe) {
  b_.Reset();
  absl::Status s = SendWithFds(a_.get(), Bytes("x"), {}, "test");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

TEST_F(FdPassingTest, EndOfStreamReadsZero) {
  a_.Reset();
  std::vector<UniqueFd> got;
  uint8_t buf[4];
  auto n = ReceiveWithFds(b_.get(), buf, 1, &got, "test");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST_F(FdPassingTest, EmptyMessageIsRefused) {
  EXPECT_EQ(SendWithFds(a_.get(), {}, {}, "test").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace castor
