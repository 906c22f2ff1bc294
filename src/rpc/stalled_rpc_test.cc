// Clients against a daemon that accepts calls and then never answers them
// (castore/testing/stalling_services.h behind a real daemon on a unix
// socket): a stream with no message for the idle timeout and a unary call
// past its deadline fail promptly with an error naming the call and the
// address, and a slow but steady stream is not cut off. (CancelAllCalls is
// for a process that shuts down, so it is tested through `castor mount`.)
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "base/status.h"
#include "castore/testing/rot.h"
#include "castore/testing/stalling_services.h"
#include "gtest/gtest.h"
#include "rpc/testing.h"

namespace castor::rpc {
namespace {

using castore::B3Digest;
using castore::testing::RandomBytes;
using castore::testing::Staller;
using testing::LocalDaemon;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1 << 20;
// Far above the timeouts the clients get below, far below the test timeout.
constexpr auto kBound = std::chrono::seconds(15);

class StalledDaemonTest : public ::testing::Test {
 protected:
  StalledDaemonTest()
      : inner_{std::make_shared<castore::MemoryBlobService>(),
               std::make_shared<castore::MemoryDirectoryService>(),
               std::make_shared<castore::MemoryRootService>()},
        daemon_({castore::testing::StallingBlobService(inner_.blobs, staller_),
                 castore::testing::StallingDirectoryService(inner_.directories, staller_),
                 inner_.roots}) {}

  void TearDown() override { staller_->Release(); }

  // Runs `fn` on another thread and waits for it at most kBound; a call
  // that is still running then fails the test (and is freed by TearDown).
  template <typename Fn>
  auto Bounded(Fn fn) -> decltype(fn()) {
    auto start = Clock::now();
    auto f = std::async(std::launch::async, fn);
    if (f.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "still running after " << kBound.count() << " s";
      staller_->Release();
    }
    elapsed_ = Clock::now() - start;
    return f.get();
  }

  CallTimeouts timeouts_{.idle = std::chrono::seconds(1), .unary = std::chrono::seconds(2)};
  std::shared_ptr<Staller> staller_ = std::make_shared<Staller>();
  castore::Services inner_;
  LocalDaemon daemon_;
  GrpcBlobService blobs_{daemon_.channel(), daemon_.address(), timeouts_};
  GrpcDirectoryService dirs_{daemon_.channel(), daemon_.address(), timeouts_};
  Clock::duration elapsed_{};
};

TEST_F(StalledDaemonTest, BlobReadThatSendsNothingIsDeadlineExceededNamingCallAndAddress) {
  std::string data = RandomBytes(3 * kMiB, 1);
  B3Digest d = *castore::PutBlob(*inner_.blobs, data);
  staller_->StallOpen(d);
  auto r = Bounded([&] { return blobs_.OpenReadSized(d, data.size()); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "BlobService.Read")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), d.ToB3())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), daemon_.address())) << r.status();
  EXPECT_LT(elapsed_, kBound);
}

TEST_F(StalledDaemonTest, BlobReadThatStopsAfterTheFirstMessageIsDeadlineExceeded) {
  std::string data = RandomBytes(3 * kMiB, 2);
  B3Digest d = *castore::PutBlob(*inner_.blobs, data);
  staller_->StallReadsFrom(d, kMiB);  // the daemon sends its first 1 MiB message only
  auto r = Bounded([&] { return blobs_.OpenReadSized(d, data.size()); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), daemon_.address())) << r.status();
}

TEST_F(StalledDaemonTest, SlowButSteadyStreamIsNotCutOff) {
  // Four 1 MiB messages 0.35 s apart: 1.4 s in total, longer than the idle
  // timeout of 1.2 s, and never idle for more than 0.35 s of it (the margin
  // absorbs a loaded machine under TSan delaying a message).
  GrpcBlobService blobs(
      daemon_.channel(), daemon_.address(),
      CallTimeouts{.idle = std::chrono::milliseconds(1200), .unary = std::chrono::seconds(2)});
  std::string data = RandomBytes(4 * kMiB, 3);
  B3Digest d = *castore::PutBlob(*inner_.blobs, data);
  staller_->SlowReads(d, absl::Milliseconds(350));
  auto r = Bounded([&] { return blobs.OpenReadSized(d, data.size()); });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(*r, nullptr);
  EXPECT_EQ((*r)->size(), data.size());
}

TEST_F(StalledDaemonTest, StalledStatIsDeadlineExceededWithinTheUnaryTimeout) {
  std::string big = RandomBytes(5 * kMiB, 4);  // over 4 MiB: OpenRead asks for chunks first
  B3Digest d = *castore::PutBlob(*inner_.blobs, big);
  staller_->StallStat(d);
  auto has = Bounded([&] { return blobs_.Has(d); });
  ASSERT_FALSE(has.ok());
  EXPECT_EQ(has.status().code(), absl::StatusCode::kDeadlineExceeded) << has.status();
  EXPECT_TRUE(absl::StrContains(has.status().message(), "BlobService.Stat")) << has.status();
  EXPECT_TRUE(absl::StrContains(has.status().message(), daemon_.address())) << has.status();
  auto r = Bounded([&] { return blobs_.OpenReadSized(d, big.size()); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
}

TEST_F(StalledDaemonTest, StalledDirectoryGetIsDeadlineExceeded) {
  auto dir = castore::Directory::Create(
      {castore::Entry{*castore::PathComponent::Create("f"),
                      castore::FileNode{B3Digest::Of(std::string_view("x")), 1, false}}});
  ASSERT_TRUE(inner_.directories->Put(*dir).ok());
  staller_->StallDirectory(dir->digest());
  auto got = Bounded([&] { return dirs_.Get(dir->digest()); });
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_TRUE(absl::StrContains(got.status().message(), "DirectoryService.Get")) << got.status();
  EXPECT_TRUE(absl::StrContains(got.status().message(), daemon_.address())) << got.status();
  absl::Status s = Bounded([&] {
    return dirs_.GetRecursive(dir->digest(),
                              [](const castore::Directory&) { return absl::OkStatus(); });
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
}

}  // namespace
}  // namespace castor::rpc
