// --metrics-listen and --log-format json of real `castor mount` and `castor
// daemon` processes: known work (O_DIRECT reads, failed lookups, gRPC calls)
// moves the counters by exactly that much, the scrape passes `promtool check
// metrics`, and every log line on stderr parses as a JSON object.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "castore/digest.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tvix/castore/protos/rpc_blobstore.grpc.pb.h"

namespace castor {
namespace {

using castore::testing::SlurpFile;
using ::testing::HasSubstr;

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// One HTTP GET /metrics over "unix:PATH" or "IPv4:PORT"; the body, or
// nullopt when the request failed or the status was not 200.
std::optional<std::string> Scrape(const std::string& address) {
  int fd = -1;
  if (address.starts_with("unix:")) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::string path = address.substr(5);
    std::memcpy(sun.sun_path, path.data(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
      ::close(fd);
      return std::nullopt;
    }
  } else {
    size_t colon = address.rfind(':');
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &sin.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
      ::close(fd);
      return std::nullopt;
    }
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const char req[] = "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n";
  ::send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
  std::string resp;
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!resp.starts_with("HTTP/1.1 200 OK\r\n")) return std::nullopt;
  size_t body = resp.find("\r\n\r\n");
  if (body == std::string::npos) return std::nullopt;
  return resp.substr(body + 4);
}

// The value of the sample `series` (name plus labels exactly as rendered),
// 0 when the scrape has no such sample.
double Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

bool HasSample(const std::string& text, const std::string& series) {
  return ("\n" + text).find("\n" + series + " ") != std::string::npos;
}

// Runs `command` through the shell; its exit status and output (stdout and
// stderr).
std::pair<int, std::string> Shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool HavePromtool() { return Shell("command -v promtool").first == 0; }

// promtool's verdict on a scrape: "" when it passes, else its complaint.
std::string PromtoolCheck(const std::string& dir, const std::string& text) {
  WriteFile(dir + "/scrape.txt", text);
  auto [rc, out] = Shell("promtool check metrics < '" + dir + "/scrape.txt'");
  return rc == 0 ? "" : "promtool exit " + std::to_string(rc) + ": " + out;
}

// Every line of `path` must be a JSON object with string time, level,
// message and logger (checked by python3's json module); "" when so.
std::string CheckJsonLines(const std::string& path) {
  const std::string script =
      "import json,sys\n"
      "n=0\n"
      "for raw in open(sys.argv[1],'rb'):\n"
      "  o=json.loads(raw.decode('utf-8'))\n"
      "  assert isinstance(o,dict), raw\n"
      "  for k in ('time','level','message','logger'):\n"
      "    assert isinstance(o.get(k),str), (k, raw)\n"
      "  n+=1\n"
      "assert n>0, 'no log lines'\n"
      "print('ok', n)\n";
  auto [rc, out] = Shell("python3 -c \"$(cat <<'PYEOF'\n" + script + "PYEOF\n)\" '" + path + "'");
  return rc == 0 && out.starts_with("ok ") ? "" : "not JSON lines: " + out;
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = castore::testing::CastorBinary();
    char tmpl[] = "/tmp/castor-metrics-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    procs_.KillAll();
    // Whatever happened, leave no mount behind: a killed castor's mount
    // answers ENOTCONN (no longer "FUSE" to statfs) but is still mounted.
    if (!mnt_.empty()) {
      for (int i = 0; i < 3 && ::umount2(mnt_.c_str(), MNT_DETACH) == 0; ++i) {
      }
    }
    Shell("rm -rf '" + dir_ + "'");
  }

  bool IsFuse() { return castore::testing::IsFuseMount(mnt_); }

  // Spawns castor with `args`, its stderr to `stderr_path`.
  pid_t Spawn(std::vector<std::string> args, const std::string& stderr_path) {
    args.insert(args.begin(), bin_);
    pid_t pid = procs_.Spawn(args, "", stderr_path);
    EXPECT_GT(pid, 0);
    return pid;
  }

  // The exit status of `pid`, or -1 after 20 s.
  int WaitExit(pid_t pid) { return procs_.WaitStatus(pid, std::chrono::seconds(20)); }

  // Waits (10 s at most) for `pattern`'s first group in the file at `path`.
  std::string WaitForLog(const std::string& path, const std::string& pattern) {
    std::regex re(pattern);
    for (int i = 0; i < 1000; ++i) {
      std::smatch m;
      std::string text = SlurpFile(path);
      if (std::regex_search(text, m, re)) return m[1];
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "";
  }

  std::string bin_, dir_, mnt_;
  castore::testing::Processes procs_;
};

TEST_F(MetricsE2eTest, MountCountsReadsLookupsAndHandlesAndLogsJson) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  // A tree in a local store.
  const std::string content = "the bytes a reader asks for, again and again\n";
  ASSERT_EQ(::mkdir((dir_ + "/src").c_str(), 0755), 0);
  WriteFile(dir_ + "/src/file.txt", content);
  auto [rc, out] =
      Shell("'" + bin_ + "' import --store '" + dir_ + "/store' '" + dir_ + "/src' --name tree");
  ASSERT_EQ(rc, 0) << out;

  mnt_ = dir_ + "/mnt";
  ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
  const std::string sock = dir_ + "/metrics.sock";
  const std::string log = dir_ + "/stderr.log";
  pid_t pid = Spawn({"mount", "--store", dir_ + "/store", mnt_, "--metrics-listen", "unix:" + sock,
                     "--log-format", "json"},
                    log);
  for (int i = 0; i < 500 && !IsFuse(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(IsFuse()) << SlurpFile(log);
  EXPECT_EQ(WaitForLog(log, "metrics: serving (unix:[^ ]+) "), "unix:" + sock) << SlurpFile(log);

  // O_DIRECT: every read reaches castor as one FUSE READ (no page cache).
  const std::string file = mnt_ + "/tree/file.txt";
  int fd = ::open(file.c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  void* buf = nullptr;
  ASSERT_EQ(::posix_memalign(&buf, 4096, 4096), 0);

  std::optional<std::string> before = Scrape("unix:" + sock);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(Sample(*before, "castor_fs_open_handles{kind=\"file\"}"), 1);
  constexpr int kReads = 25;
  for (int i = 0; i < kReads; ++i) {
    ASSERT_EQ(::pread(fd, buf, 4096, 0), static_cast<ssize_t>(content.size()));
  }
  constexpr int kMisses = 3;
  for (int i = 0; i < kMisses; ++i) {
    struct stat st;
    std::string missing = mnt_ + "/tree/absent-" + std::to_string(i);
    ASSERT_NE(::stat(missing.c_str(), &st), 0);
  }
  std::optional<std::string> after = Scrape("unix:" + sock);
  ASSERT_TRUE(after.has_value());

  const std::string read = "{opcode=\"READ\"}";
  EXPECT_EQ(Sample(*after, "castor_fuse_requests_total" + read) -
                Sample(*before, "castor_fuse_requests_total" + read),
            kReads);
  EXPECT_EQ(Sample(*after, "castor_fuse_read_bytes_total") -
                Sample(*before, "castor_fuse_read_bytes_total"),
            kReads * static_cast<double>(content.size()));
  EXPECT_EQ(Sample(*after, "castor_fuse_errors_total" + read), 0);
  EXPECT_EQ(Sample(*after, "castor_fuse_request_duration_seconds_count" + read) -
                Sample(*before, "castor_fuse_request_duration_seconds_count" + read),
            kReads);
  EXPECT_EQ(
      Sample(*after, "castor_fuse_request_duration_seconds_bucket{opcode=\"READ\",le=\"+Inf\"}"),
      Sample(*after, "castor_fuse_request_duration_seconds_count" + read));
  const std::string lookup = "{opcode=\"LOOKUP\"}";
  EXPECT_EQ(Sample(*after, "castor_fuse_errors_total" + lookup) -
                Sample(*before, "castor_fuse_errors_total" + lookup),
            kMisses);
  // The top directory, tree/ and file.txt at least.
  ASSERT_TRUE(HasSample(*after, "castor_fs_inodes"));
  EXPECT_GE(Sample(*after, "castor_fs_inodes"), 3);
  EXPECT_THAT(*after, HasSubstr("castor_build_info{version=\""));

  ::close(fd);
  std::free(buf);
  // RELEASE follows close asynchronously.
  double open_files = -1;
  for (int i = 0; i < 200; ++i) {
    auto s = Scrape("unix:" + sock);
    ASSERT_TRUE(s.has_value());
    open_files = Sample(*s, "castor_fs_open_handles{kind=\"file\"}");
    if (open_files == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(open_files, 0);

  if (HavePromtool()) {
    EXPECT_EQ(PromtoolCheck(dir_, *after), "");
  } else {
    std::printf("promtool not installed (Debian package prometheus): scrape format not checked\n");
  }

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  struct stat st;
  EXPECT_NE(::lstat(sock.c_str(), &st), 0) << "metrics socket left behind";
  EXPECT_EQ(CheckJsonLines(log), "") << SlurpFile(log);
  EXPECT_THAT(SlurpFile(log), HasSubstr("\"level\":\"info\",\"message\":\"unmounted "));
}

TEST_F(MetricsE2eTest, DaemonCountsGrpcCallsPerMethodOnAPickedPort) {
  const std::string sock = dir_ + "/castor.sock";
  const std::string log = dir_ + "/stderr.log";
  pid_t pid = Spawn({"daemon", "--store", dir_ + "/store", "--listen", "unix://" + sock,
                     "--metrics-listen", "127.0.0.1:0", "--log-format", "json"},
                    log);
  std::string addr = WaitForLog(log, "metrics: serving (127\\.0\\.0\\.1:[0-9]+) ");
  ASSERT_FALSE(addr.empty()) << SlurpFile(log);
  ASSERT_NE(addr, "127.0.0.1:0");
  for (int i = 0; i < 1000 && ::access(sock.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  auto channel = grpc::CreateChannel("unix://" + sock, grpc::InsecureChannelCredentials());
  auto stub = tvix::castore::v1::BlobService::NewStub(channel);
  std::optional<std::string> before = Scrape(addr);
  ASSERT_TRUE(before.has_value());

  constexpr int kStats = 7;
  for (int i = 0; i < kStats; ++i) {
    grpc::ClientContext ctx;
    tvix::castore::v1::StatBlobRequest req;
    castore::B3Digest absent =
        castore::B3Digest::Of(std::string_view("absent " + std::to_string(i)));
    req.set_digest(std::string(absent.raw()));
    tvix::castore::v1::StatBlobResponse resp;
    EXPECT_EQ(stub->Stat(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  constexpr int kPuts = 2;
  const std::string blob(100000, 'x');
  for (int i = 0; i < kPuts; ++i) {
    grpc::ClientContext ctx;
    tvix::castore::v1::PutBlobResponse resp;
    auto writer = stub->Put(&ctx, &resp);
    tvix::castore::v1::BlobChunk chunk;
    chunk.set_data(blob + std::to_string(i));
    ASSERT_TRUE(writer->Write(chunk));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  std::optional<std::string> after = Scrape(addr);
  ASSERT_TRUE(after.has_value());

  const std::string stat = "method=\"/tvix.castore.v1.BlobService/Stat\"";
  const std::string put = "method=\"/tvix.castore.v1.BlobService/Put\"";
  auto delta = [&](const std::string& series) {
    return Sample(*after, series) - Sample(*before, series);
  };
  EXPECT_EQ(delta("castor_grpc_server_started_total{" + stat + "}"), kStats);
  EXPECT_EQ(delta("castor_grpc_server_handled_total{" + stat + ",code=\"NOT_FOUND\"}"), kStats);
  EXPECT_EQ(delta("castor_grpc_server_handled_total{" + stat + ",code=\"OK\"}"), 0);
  EXPECT_EQ(delta("castor_grpc_server_handling_seconds_count{" + stat + "}"), kStats);
  EXPECT_EQ(delta("castor_grpc_server_handled_total{" + put + ",code=\"OK\"}"), kPuts);
  EXPECT_EQ(delta("castor_blobs_received_total"), kPuts);
  EXPECT_EQ(delta("castor_blob_received_bytes_total"), kPuts * (blob.size() + 1.0));
  EXPECT_THAT(*after, HasSubstr("castor_build_info{version=\""));

  if (HavePromtool()) {
    EXPECT_EQ(PromtoolCheck(dir_, *after), "");
  } else {
    std::printf("promtool not installed (Debian package prometheus): scrape format not checked\n");
  }

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = WaitExit(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(Scrape(addr).has_value()) << "metrics still served after exit";
  EXPECT_EQ(CheckJsonLines(log), "") << SlurpFile(log);
}

TEST_F(MetricsE2eTest, MountThroughADaemonCountsCacheMissesAndRemoteCalls) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  const std::string content(300000, 'c');
  ASSERT_EQ(::mkdir((dir_ + "/src").c_str(), 0755), 0);
  WriteFile(dir_ + "/src/big", content);
  auto [rc, out] =
      Shell("'" + bin_ + "' import --store '" + dir_ + "/store' '" + dir_ + "/src' --name tree");
  ASSERT_EQ(rc, 0) << out;
  const std::string sock = dir_ + "/castor.sock";
  Spawn({"daemon", "--store", dir_ + "/store", "--listen", "unix://" + sock}, dir_ + "/daemon.log");
  for (int i = 0; i < 1000 && ::access(sock.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  mnt_ = dir_ + "/mnt";
  ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
  const std::string metrics = dir_ + "/m.sock";
  const std::string remote = "grpc+unix://" + sock;
  Spawn({"mount", mnt_, "--blob-service-addr", remote, "--directory-service-addr", remote,
         "--root-service-addr", remote, "--cache", dir_ + "/cache", "--metrics-listen",
         "unix:" + metrics},
        dir_ + "/mount.log");
  for (int i = 0; i < 1000 && !IsFuse(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(IsFuse()) << SlurpFile(dir_ + "/mount.log");
  std::optional<std::string> before;
  for (int i = 0; i < 500 && !(before = Scrape("unix:" + metrics)).has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(before.has_value());

  EXPECT_EQ(SlurpFile(mnt_ + "/tree/big"), content);
  std::optional<std::string> after = Scrape("unix:" + metrics);
  ASSERT_TRUE(after.has_value());
  auto delta = [&](const std::string& series) {
    return Sample(*after, series) - Sample(*before, series);
  };
  // The blob was not in the cache: at least one miss, and the remote was
  // asked (its calls counted per method with their latency).
  EXPECT_GE(delta("castor_cache_misses_total{cache=\"blob\"}"), 1);
  EXPECT_GE(delta("castor_cache_misses_total{cache=\"directory\"}"), 1);
  double remote_calls = 0;
  std::istringstream lines(*after);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("castor_grpc_client_handling_seconds_count{method=\"/tvix.castore.v1.")) {
      remote_calls += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  EXPECT_GE(remote_calls, 1);
  EXPECT_EQ(Sample(*after, "castor_verification_failures_total{what=\"blob\"}"), 0);
  if (HavePromtool()) {
    EXPECT_EQ(PromtoolCheck(dir_, *after), "");
  }
}

TEST_F(MetricsE2eTest, BadMetricsAddressIsAClearErrorForEveryCommand) {
  for (const std::string& cmd : std::vector<std::string>{
           "daemon --listen unix://" + dir_ + "/d.sock",
           "mount " + dir_ +
               " --blob-service-addr memory:// "
               "--directory-service-addr memory:// --root-service-addr memory://",
           "virtiofs --socket " + dir_ +
               "/v.sock --blob-service-addr "
               "memory:// --directory-service-addr memory:// "
               "--root-service-addr memory://"}) {
    auto [rc, out] =
        Shell("'" + bin_ + "' " + cmd + " --store '" + dir_ + "/store' --metrics-listen nonsense");
    EXPECT_EQ(rc, 1) << cmd << ": " << out;
    EXPECT_THAT(out, HasSubstr("invalid metrics address 'nonsense'")) << cmd;
    auto [rc2, out2] = Shell("'" + bin_ + "' " + cmd + " --log-format xml");
    EXPECT_NE(rc2, 0) << cmd;
    EXPECT_THAT(out2, HasSubstr("--log-format")) << cmd << ": " << out2;
  }
}

}  // namespace
}  // namespace castor
