#include "base/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace castor::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Connects to "HOST:PORT" (IPv4) or "unix:PATH"; -1 on failure.
UniqueFd Connect(const std::string& address) {
  if (address.starts_with("unix:")) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::string path = address.substr(5);
    std::memcpy(sun.sun_path, path.data(), path.size());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) return {};
    return fd;
  }
  size_t colon = address.rfind(':');
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &sin.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) return {};
  return fd;
}

// Reads until EOF (or 5 s of silence).
std::string ReadAll(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string Exchange(const std::string& address, const std::string& request) {
  UniqueFd fd = Connect(address);
  if (!fd) return "connect failed";
  ::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
  return ReadAll(fd.get());
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("castor_test_scrapes_total", "Test counter.").Inc(7);
    auto s = MetricsServer::Start("127.0.0.1:0", registry_, {std::chrono::milliseconds(500)});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  Registry registry_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, PortZeroPicksAFreePortAndReportsIt) {
  EXPECT_THAT(server_->address(), StartsWith("127.0.0.1:"));
  EXPECT_NE(server_->address(), "127.0.0.1:0");
}

TEST_F(MetricsServerTest, GetMetricsServesTheRegistry) {
  std::string resp = Exchange(server_->address(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(resp, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  std::string body = registry_.Render();
  EXPECT_THAT(resp, HasSubstr("Content-Length: " + std::to_string(body.size()) + "\r\n"));
  EXPECT_TRUE(resp.ends_with("\r\n\r\n" + body)) << resp;
  EXPECT_THAT(resp, HasSubstr("castor_test_scrapes_total 7\n"));
}

TEST_F(MetricsServerTest, QueryStringAndBareNewlinesAreAccepted) {
  EXPECT_THAT(Exchange(server_->address(), "GET /metrics?x=1 HTTP/1.0\n\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, OtherPathsAre404AndOtherMethods405) {
  EXPECT_THAT(Exchange(server_->address(), "GET / HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Exchange(server_->address(), "GET /metricsx HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
  std::string post = Exchange(server_->address(), "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(post, HasSubstr("Allow: GET\r\n"));
}

TEST_F(MetricsServerTest, GarbageGets400AndTheServerGoesOn) {
  EXPECT_THAT(Exchange(server_->address(), std::string("\x16\x03\x01\x00\xff\x01\r\n\r\n", 10)),
              StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(Exchange(server_->address(), "GET/metrics\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(Exchange(server_->address(), "GET /metrics SPDY/3\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(Exchange(server_->address(), "GET /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, OversizedRequestGets431) {
  std::string big =
      "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(MetricsServer::kMaxRequestBytes + 100, 'a') +
      "\r\n\r\n";
  EXPECT_THAT(Exchange(server_->address(), big),
              StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  // A request that never ends its header: cut off at the limit too.
  EXPECT_THAT(Exchange(server_->address(), std::string(64 * 1024, 'x')),
              StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

TEST_F(MetricsServerTest, StalledClientsDoNotBlockOthersAndAreCutOff) {
  // More stalled clients than the server holds connections.
  std::vector<UniqueFd> stalled;
  for (size_t i = 0; i < MetricsServer::kMaxConnections + 8; ++i) {
    stalled.push_back(Connect(server_->address()));
    ASSERT_TRUE(stalled.back());
    ::send(stalled.back().get(), "GET /met", 8, MSG_NOSIGNAL);
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Exchange(server_->address(), "GET /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  // At worst it waited for the stalled ones' 500 ms deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The stalled ones were closed without an answer at their deadline.
  EXPECT_EQ(ReadAll(stalled.front().get()), "");
}

TEST_F(MetricsServerTest, ClientThatClosesEarlyIsForgotten) {
  for (int i = 0; i < 50; ++i) {
    UniqueFd fd = Connect(server_->address());
    ::send(fd.get(), "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL);
  }  // closed before reading: the server's writes fail or go nowhere
  EXPECT_THAT(Exchange(server_->address(), "GET /metrics HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST(MetricsServer, UnixSocketIsServedAndRemovedOnShutdown) {
  Registry registry;
  registry.AddGauge("castor_test_g", "G.").Set(3);
  char dir[] = "/tmp/metrics_server_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/m.sock";
  {
    auto s = MetricsServer::Start("unix:" + path, registry);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ((*s)->address(), "unix:" + path);
    std::string resp = Exchange((*s)->address(), "GET /metrics HTTP/1.1\r\n\r\n");
    EXPECT_THAT(resp, HasSubstr("castor_test_g 3\n"));
  }
  struct stat st;
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
  ::rmdir(dir);
}

TEST(MetricsServer, BadAddressesAreInvalidArgument) {
  Registry registry;
  for (const char* a :
       {"", "9090", "host:", "1.2.3.4:99999", "1.2.3.4:-1", "example.com:80", "unix:", "[zz]:80"}) {
    auto s = MetricsServer::Start(a, registry);
    ASSERT_FALSE(s.ok()) << a;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << a;
  }
}

TEST(MetricsServer, PortInUseIsUnavailable) {
  Registry registry;
  auto first = MetricsServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::Start((*first)->address(), registry);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

// CPU seconds a process has used (utime + stime from /proc).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

TEST(MetricsServer, AcceptOutOfDescriptorsBacksOffInsteadOfSpinning) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    Registry registry;
    auto s = MetricsServer::Start("127.0.0.1:0", registry);
    if (!s.ok()) ::_exit(2);
    // No descriptor left for accept: every fd below the limit is taken.
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    int top = 64;
    lim.rlim_cur = static_cast<rlim_t>(top);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    while (::dup(0) >= 0) {
    }
    std::string addr = (*s)->address() + "\n";
    // The pipe's write end is already open: this write needs no new fd.
    (void)!::write(ready[1], addr.data(), addr.size());
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  std::string addr;
  char c;
  while (::read(ready[0], &c, 1) == 1 && c != '\n') addr += c;
  ::close(ready[0]);
  ASSERT_FALSE(addr.empty());
  UniqueFd client = Connect(addr);  // queued in the backlog; accept fails with EMFILE
  ASSERT_TRUE(client);
  ::send(client.get(), "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL);
  double before = CpuSeconds(pid);
  ::usleep(1500 * 1000);
  double used = CpuSeconds(pid) - before;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  // A spinning poll/accept loop burns the whole 1.5 s.
  EXPECT_LT(used, 0.3);
}

TEST(MetricsServer, ShutdownWithOpenConnectionsIsPrompt) {
  Registry registry;
  auto s = MetricsServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(s.ok());
  UniqueFd idle = Connect((*s)->address());
  ASSERT_TRUE(idle);
  auto start = std::chrono::steady_clock::now();
  s->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(ReadAll(idle.get()), "");
}

}  // namespace
}  // namespace castor::metrics
