// `castor virtiofs` as a process: its lifecycle around vhost-user
// connections (exit 0 on disconnect, --persistent, SIGTERM, a malformed
// frontend), with an in-process fake frontend on the socket.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/paths.h"
#include "fs/transport/vhost_user_protocol.h"
#include "gtest/gtest.h"

namespace castor::fs::transport {
namespace {

class VirtiofsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/castor-vfs-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/vfs.sock";
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
    std::filesystem::remove_all(dir_);
  }

  void Start(std::vector<std::string> extra = {}) {
    std::string bin = castor::castore::testing::CastorBinary();
    std::vector<std::string> args = {bin,
                                     "virtiofs",
                                     "--socket",
                                     socket_,
                                     "--blob-service-addr",
                                     "memory://",
                                     "--directory-service-addr",
                                     "memory://",
                                     "--root-service-addr",
                                     "memory://"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    struct stat st;
    while (stat(socket_.c_str(), &st) != 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "socket never appeared";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  int Connect() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  // GET_FEATURES must be answered with VIRTIO_F_VERSION_1 set.
  void ExpectFeatures(int fd) {
    ASSERT_TRUE(WriteVhostMessage(fd, vhost::kGetFeatures, vhost::kVersion, {}).ok());
    auto reply = ReadVhostMessage(fd);
    ASSERT_TRUE(reply.ok() && reply->has_value());
    ASSERT_EQ((*reply)->payload.size(), 8u);
    uint64_t f;
    std::memcpy(&f, (*reply)->payload.data(), 8);
    EXPECT_TRUE(f & vhost::kFeatureVersion1);
  }

  // Signals the daemon; never anything else (pid_ <= 0 would reach whole
  // process groups).
  void Signal(int sig) {
    ASSERT_GT(pid_, 0);
    kill(pid_, sig);
  }

  // The exit code, or nullopt when the process is still running after `wait`.
  std::optional<int> WaitExit(std::chrono::milliseconds wait) {
    if (pid_ <= 0) return -1;
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::string dir_, socket_;
  pid_t pid_ = -1;
};

TEST_F(VirtiofsCliTest, ExitsZeroWhenTheFrontendDisconnects) {
  ASSERT_NO_FATAL_FAILURE(Start());
  int fd = Connect();
  ExpectFeatures(fd);
  close(fd);
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 0);
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(VirtiofsCliTest, SigtermExitsCleanly) {
  ASSERT_NO_FATAL_FAILURE(Start());
  int fd = Connect();
  ExpectFeatures(fd);
  Signal(SIGTERM);
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 0);
  close(fd);
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(VirtiofsCliTest, PersistentServesTheNextConnection) {
  ASSERT_NO_FATAL_FAILURE(Start({"--persistent", "--threads", "3"}));
  for (int i = 0; i < 3; ++i) {
    int fd = Connect();
    ExpectFeatures(fd);
    close(fd);
    EXPECT_EQ(WaitExit(std::chrono::milliseconds(200)), std::nullopt)
        << "exited after connection " << i;
  }
  Signal(SIGTERM);
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 0);
}

TEST_F(VirtiofsCliTest, MalformedMessageClosesTheConnectionAndFails) {
  ASSERT_NO_FATAL_FAILURE(Start());
  int fd = Connect();
  uint32_t header[3] = {vhost::kGetFeatures, 7 /* version 3 */, 0};
  ASSERT_EQ(write(fd, header, sizeof(header)), static_cast<ssize_t>(sizeof(header)));
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 1);
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0);  // the daemon closed its end
  close(fd);
}

}  // namespace
}  // namespace castor::fs::transport
