// End to end through a real `castor daemon` process on a unix socket: import
// through it, list and cat through it (with and without --cache), mount
// through it and compare bytes with the source, kill it mid-read (EIO, no
// hang), restart it (the same mount reads again), SIGTERM (graceful exit,
// socket removed), random access into a big file fetching only its chunks,
// and a stopped (SIGSTOP) daemon: EIO without a hang, reads again after SIGCONT.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/grpc_root_service.h"

namespace castor {
namespace {

using castore::testing::RandomBytes;
using castore::testing::SlurpFile;

void WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary) << data;
  ::chmod(path.c_str(), mode);
}

class DaemonE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = castor::castore::testing::CastorBinary();
    root_ = dir_.path();
    store_ = root_ + "/store";
    sock_ = root_ + "/castor.sock";
    addr_ = "grpc+unix://" + sock_;
    src_ = root_ + "/src";
    mnt_ = root_ + "/mnt";
    ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((src_ + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((src_ + "/sub/deeper").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((src_ + "/empty").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
    WriteFile(src_ + "/a", "hello\n");
    WriteFile(src_ + "/sub/run.sh", "#!/bin/sh\necho hi\n", 0755);
    WriteFile(src_ + "/sub/deeper/big1", RandomBytes(5 << 20, 1));
    WriteFile(src_ + "/sub/deeper/big2", RandomBytes(3 << 20, 2));
    WriteFile(src_ + "/sub/deeper/small", RandomBytes(1000, 3));
    ASSERT_EQ(::symlink("../a", (src_ + "/sub/link").c_str()), 0);
  }

  void TearDown() override {
    procs_.KillAll();
    for (int i = 0; i < 3 && IsFuse(); ++i) ::umount2(mnt_.c_str(), MNT_DETACH);
    struct statfs s;
    if (::statfs(mnt_.c_str(), &s) != 0 && errno == ENOTCONN) ::umount2(mnt_.c_str(), MNT_DETACH);
  }

  // Starts `castor args...` with stdout to `out` (or the log), stderr to the
  // log; returns its pid.
  pid_t Spawn(std::vector<std::string> args, const std::string& out = "") {
    args.insert(args.begin(), bin_);
    pid_t pid = procs_.Spawn(args, out.empty() ? root_ + "/log" : out, root_ + "/log");
    EXPECT_GT(pid, 0);
    return pid;
  }

  // The exit status, or -1 after `timeout`.
  int WaitExit(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    return procs_.WaitStatus(pid, timeout);
  }

  static bool Ok(int status) { return castore::testing::ExitedWith(status, 0); }

  // Runs a client command against the daemon; its exit status.
  int Client(std::vector<std::string> args, const std::string& out = "") {
    return WaitExit(Spawn(castore::testing::WithServiceAddr(std::move(args), addr_), out));
  }

  std::string Log() { return SlurpFile(root_ + "/log"); }

  // Spawns `castor mount MNT EXTRA...` with every service through the
  // daemon.
  pid_t SpawnMount(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"mount", mnt_};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const char* flag :
         {"--blob-service-addr", "--directory-service-addr", "--root-service-addr"}) {
      args.push_back(flag);
      args.push_back(addr_);
    }
    return Spawn(args);
  }

  pid_t StartDaemon() {
    pid_t pid = Spawn({"daemon", "--store", store_, "--listen", "unix://" + sock_});
    // Ready when a client call succeeds.
    auto channel = *rpc::OpenChannel(*castore::ServiceAddress::Parse(addr_));
    rpc::GrpcRootService roots(channel, addr_);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (roots.List([](const castore::Entry&) { return absl::OkStatus(); }).ok()) return pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "daemon did not come up; log:\n" << Log();
    return pid;
  }

  bool IsFuse() { return castore::testing::IsFuseMount(mnt_); }
  bool WaitMounted() { return castore::testing::WaitForFuseMount(mnt_); }

  castore::testing::TempDir dir_{"daemon-e2e"};
  std::string bin_, root_, store_, sock_, addr_, src_, mnt_;
  castore::testing::Processes procs_;
};

TEST_F(DaemonE2eTest, HelpSaysTcpHasNoClientAuthenticationAndOffersTls) {
  std::string out = root_ + "/help";
  ASSERT_TRUE(Ok(WaitExit(Spawn({"daemon", "--help"}, out))));
  std::string help = SlurpFile(out);
  EXPECT_NE(help.find("no client authentication"), std::string::npos) << help;
  EXPECT_NE(help.find("--tls-cert"), std::string::npos) << help;
  EXPECT_NE(help.find("--listen"), std::string::npos);
}

// A self-signed certificate for localhost and 127.0.0.1 (cert.pem, key.pem)
// and an unrelated one (other.pem), made by the openssl tool.
void MakeCertificates(const std::string& dir) {
  for (const char* name : {"", "other"}) {
    std::string cmd = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ",
        dir, "/", name, "key.pem -out ", dir, "/", *name ? name : "cert", ".pem 2>/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
}

TEST_F(DaemonE2eTest, OverTlsClientsThatTrustTheCertificateReadAndWriteAndOthersFailPromptly) {
  MakeCertificates(root_);
  ASSERT_TRUE(Ok(WaitExit(Spawn({"import", "--store", store_, "--name", "t", src_})))) << Log();
  const std::string out = root_ + "/daemon.out";
  Spawn({"daemon", "--store", store_, "--listen", "127.0.0.1:0", "--tls-cert", root_ + "/cert.pem",
         "--tls-key", root_ + "/key.pem"},
        out);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (SlurpFile(out).find('\n') == std::string::npos && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::string serving = SlurpFile(out);
  ASSERT_EQ(serving.rfind("serving grpc+https://127.0.0.1:", 0), 0u) << serving << Log();
  addr_ = serving.substr(8, serving.find('\n') - 8);

  // Trusting the daemon's certificate: read, and import through it.
  const std::string ca = root_ + "/cert.pem";
  ASSERT_TRUE(Ok(Client({"cat", "--tls-ca", ca, "t/sub/deeper/small"}, root_ + "/small"))) << Log();
  EXPECT_EQ(SlurpFile(root_ + "/small"), RandomBytes(1000, 3));
  ASSERT_TRUE(Ok(Client({"import", "--tls-ca", ca, "--name", "again", src_ + "/sub"}))) << Log();
  ASSERT_TRUE(Ok(Client({"cat", "--tls-ca", ca, "again/run.sh"}, root_ + "/run"))) << Log();
  EXPECT_EQ(SlurpFile(root_ + "/run"), "#!/bin/sh\necho hi\n");

  // Not trusting it (the system's roots, another certificate), or talking
  // in the clear to a TLS port: a clear failure, no hang, no bytes.
  for (std::vector<std::string> args :
       {std::vector<std::string>{"cat", "t/a"},
        std::vector<std::string>{"cat", "--tls-ca", root_ + "/other.pem", "t/a"}}) {
    const std::string got = root_ + "/refused";
    ::unlink(got.c_str());
    int status = Client(args, got);
    ASSERT_GE(status, 0) << "hung: " << absl::StrJoin(args, " ");
    EXPECT_FALSE(Ok(status)) << absl::StrJoin(args, " ");
    EXPECT_EQ(SlurpFile(got), "");
  }
  EXPECT_NE(Log().find("certificate verify failed"), std::string::npos) << Log();
  const std::string tls_addr = addr_;
  addr_ = "grpc+http://" + tls_addr.substr(std::string("grpc+https://").size());
  int status = Client({"cat", "t/a"}, root_ + "/plain");
  ASSERT_GE(status, 0) << "hung";
  EXPECT_FALSE(Ok(status));
  // A file that is not PEM is named.
  addr_ = tls_addr;
  status = Client({"cat", "--tls-ca", root_ + "/src/a", "t/a"});
  EXPECT_FALSE(Ok(status));
  EXPECT_NE(Log().find("--tls-ca " + root_ + "/src/a: not a PEM file"), std::string::npos) << Log();
}

TEST_F(DaemonE2eTest, SocketIs0660AndSigtermExitsZeroAndRemovesIt) {
  pid_t d = StartDaemon();
  struct stat st;
  ASSERT_EQ(::lstat(sock_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_EQ(::kill(d, SIGTERM), 0);
  int status = WaitExit(d);
  EXPECT_TRUE(Ok(status)) << status << Log();
  EXPECT_NE(::lstat(sock_.c_str(), &st), 0);
}

TEST_F(DaemonE2eTest, ImportListCatThroughTheDaemonAndTheCacheOutlivesIt) {
  pid_t d = StartDaemon();
  ASSERT_TRUE(Ok(Client({"import", "--name", "t", src_}))) << Log();
  std::string roots = root_ + "/roots.out";
  ASSERT_TRUE(Ok(Client({"roots"}, roots))) << Log();
  EXPECT_NE(SlurpFile(roots).find("t\t"), std::string::npos) << SlurpFile(roots);
  std::string ls = root_ + "/ls.out";
  ASSERT_TRUE(Ok(Client({"ls", "t/sub"}, ls))) << Log();
  EXPECT_NE(SlurpFile(ls).find("run.sh"), std::string::npos) << SlurpFile(ls);

  // Roots are not cached (they change), so the cached client reads them from
  // the daemon's LMDB directly; blobs and directories come through the
  // daemon and stay in the cache.
  std::string cache = root_ + "/cache";
  std::vector<std::string> cached = {"cat",
                                     "t/sub/deeper/big1",
                                     "--cache",
                                     cache,
                                     "--blob-service-addr",
                                     addr_,
                                     "--directory-service-addr",
                                     addr_,
                                     "--root-service-addr",
                                     "lmdb://" + store_ + "/meta"};
  std::string cat1 = root_ + "/cat1.out";
  ASSERT_TRUE(Ok(WaitExit(Spawn(cached, cat1)))) << Log();
  EXPECT_TRUE(SlurpFile(cat1) == RandomBytes(5 << 20, 1));

  // The daemon goes away: a read through it fails promptly, while the cached
  // read is served locally.
  ASSERT_EQ(::kill(d, SIGKILL), 0);
  WaitExit(d);
  auto start = std::chrono::steady_clock::now();
  int status = Client({"cat", "t/sub/deeper/big1"}, root_ + "/cat2.out");
  EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  std::string cat3 = root_ + "/cat3.out";
  ASSERT_TRUE(Ok(WaitExit(Spawn(cached, cat3)))) << Log();
  EXPECT_TRUE(SlurpFile(cat3) == RandomBytes(5 << 20, 1));
}

// Bytes of the blob files under `dir` (a cache's store).
uint64_t BlobBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/blobs/b3")) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

TEST_F(DaemonE2eTest, ACacheWithASizeBoundServesExactBytesWhileEvictingAndEndsWithinIt) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  StartDaemon();
  ASSERT_TRUE(Ok(Client({"import", "--name", "t", src_}))) << Log();
  const std::string cache = root_ + "/cache";
  pid_t m = SpawnMount({"--cache", cache, "--cache-size", "2MiB"});
  ASSERT_TRUE(WaitMounted()) << Log();
  const std::string deeper = mnt_ + "/t/sub/deeper";

  // big2 (3 MiB, more than the whole bound, so never kept) stays open and
  // half read while big1's chunks and the small files churn through the
  // cache; then the rest of it.
  const std::string big2 = RandomBytes(3 << 20, 2);
  int fd = ::open((deeper + "/big2").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string got(big2.size(), '\0');
  ASSERT_EQ(::pread(fd, got.data(), 1 << 20, 0), 1 << 20);
  EXPECT_TRUE(SlurpFile(deeper + "/big1") == RandomBytes(5 << 20, 1));
  EXPECT_TRUE(SlurpFile(deeper + "/small") == RandomBytes(1000, 3));
  EXPECT_TRUE(SlurpFile(mnt_ + "/t/a") == "hello\n");
  ASSERT_EQ(::pread(fd, got.data() + (1 << 20), got.size() - (1 << 20), 1 << 20),
            static_cast<ssize_t>(got.size() - (1 << 20)));
  EXPECT_TRUE(got == big2);
  ::close(fd);
  // Everything again, after the evictions: still the exact bytes.
  EXPECT_TRUE(SlurpFile(deeper + "/big1") == RandomBytes(5 << 20, 1));
  EXPECT_TRUE(SlurpFile(deeper + "/big2") == big2);

  // Once nothing is open, the cache is back within its bound (the kernel
  // lets go of its files at unmount, at the latest).
  ASSERT_EQ(::kill(m, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(m))) << Log();
  EXPECT_LE(BlobBytes(cache), uint64_t{2} << 20);
  EXPECT_GT(BlobBytes(cache), 0u);
}

TEST_F(DaemonE2eTest, APartlyReadBigFileOpensAgainFromTheCacheWhileTheDaemonIsDown) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  pid_t d = StartDaemon();
  ASSERT_TRUE(Ok(Client({"import", "--name", "t", src_}))) << Log();
  const std::string cache = root_ + "/cache";
  pid_t m = SpawnMount({"--cache", cache});
  ASSERT_TRUE(WaitMounted()) << Log();
  // The first MiB of big1 (5 MiB: fetched in 1 MiB chunks) is read, the
  // rest is not.
  const std::string big1 = mnt_ + "/t/sub/deeper/big1";
  const std::string want = RandomBytes(5 << 20, 1);
  std::string head(4096, '\0');
  {
    int fd = ::open(big1.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pread(fd, head.data(), head.size(), 0), 4096);
    EXPECT_TRUE(head == want.substr(0, 4096));
    ::close(fd);
  }
  ASSERT_EQ(::kill(d, SIGKILL), 0);
  WaitExit(d);

  // A new open of big1 (its pages dropped, so reads reach the mount) needs
  // no daemon for what the cache holds: the chunk list and group CVs were
  // kept with the chunk. A read past it is EIO, promptly.
  auto reopen = std::async(std::launch::async, [&] {
    std::pair<std::string, int> got{std::string(4096, '\0'), 0};
    int fd = ::open(big1.c_str(), O_RDONLY);
    if (fd < 0) return std::make_pair(std::string("open: ") + strerror(errno), 0);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ssize_t n = ::pread(fd, got.first.data(), 4096, 100);
    if (n != 4096) got.first = std::string("pread: ") + strerror(errno);
    char far[4096];
    got.second = ::pread(fd, far, sizeof(far), 4 << 20) < 0 ? errno : 0;
    ::close(fd);
    return got;
  });
  ASSERT_EQ(reopen.wait_for(std::chrono::seconds(30)), std::future_status::ready) << "read hangs";
  auto [bytes, far_err] = reopen.get();
  EXPECT_TRUE(bytes == want.substr(100, 4096)) << bytes.substr(0, 200) << "\n" << Log();
  EXPECT_EQ(far_err, EIO);
  ASSERT_EQ(::kill(m, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(m))) << Log();
}

TEST_F(DaemonE2eTest, MountThroughTheDaemonReadsBytesAndSurvivesARestart) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  pid_t d = StartDaemon();
  ASSERT_TRUE(Ok(Client({"import", "--name", "t", src_}))) << Log();

  pid_t m = SpawnMount();
  ASSERT_TRUE(WaitMounted()) << Log();
  std::string tree = mnt_ + "/t";
  EXPECT_TRUE(SlurpFile(tree + "/a") == "hello\n");
  EXPECT_TRUE(SlurpFile(tree + "/sub/run.sh") == SlurpFile(src_ + "/sub/run.sh"));
  char target[64] = {};
  ASSERT_GT(::readlink((tree + "/sub/link").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "../a");
  // Look both big files up (entries are cached by the kernel for good), but
  // read only the first.
  struct stat st;
  ASSERT_EQ(::stat((tree + "/sub/deeper/big2").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3 << 20);
  ASSERT_EQ(::stat((tree + "/sub/deeper/small").c_str(), &st), 0);

  // Mid-read: the first 4 KiB of big1 arrive, then the daemon is killed.
  int fd = ::open((tree + "/sub/deeper/big1").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string head(4096, '\0');
  ASSERT_EQ(::read(fd, head.data(), head.size()), 4096);
  EXPECT_TRUE(head == RandomBytes(5 << 20, 1).substr(0, 4096));
  ASSERT_EQ(::kill(d, SIGKILL), 0);
  WaitExit(d);

  // Reads finish promptly: the open file may still be served (its bytes were
  // verified whole when it was opened), never wrong bytes; a file not read
  // yet gives EIO.
  auto rest = std::async(std::launch::async, [fd] {
    std::string buf(5 << 20, '\0');
    size_t done = 4096;
    while (done < buf.size()) {
      ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, done);
      if (n <= 0) return std::make_pair(n < 0 ? errno : 0, std::string());
      done += n;
    }
    return std::make_pair(0, buf.substr(4096));
  });
  ASSERT_EQ(rest.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "read hangs";
  auto [err, bytes] = rest.get();
  if (err == 0) {
    EXPECT_TRUE(bytes == RandomBytes(5 << 20, 1).substr(4096));
  } else {
    EXPECT_EQ(err, EIO);
  }
  ::close(fd);

  auto other = std::async(std::launch::async, [&] {
    int fd2 = ::open((tree + "/sub/deeper/big2").c_str(), O_RDONLY);
    if (fd2 < 0) return errno;
    char buf[4096];
    ssize_t n = ::read(fd2, buf, sizeof(buf));
    int e = n < 0 ? errno : 0;
    ::close(fd2);
    return e;
  });
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(other.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "read hangs";
  EXPECT_EQ(other.get(), EIO);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));

  // The daemon comes back on the same socket: the same mount reads again.
  d = StartDaemon();
  std::string big2;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    big2 = SlurpFile(tree + "/sub/deeper/big2");
    if (!big2.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(big2 == RandomBytes(3 << 20, 2)) << big2.size();
  // The whole tree compares equal to its source.
  std::string diff = "diff -r --no-dereference '" + src_ + "' '" + tree + "' >/dev/null";
  EXPECT_EQ(std::system(diff.c_str()), 0);

  ASSERT_EQ(::kill(m, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(m))) << Log();
  ASSERT_EQ(::kill(d, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(d))) << Log();
}

// Mount arguments for the daemon, plus `extra`.
std::vector<std::string> MountArgs(const std::string& mnt, const std::string& addr,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"mount", mnt};
  for (const char* flag :
       {"--blob-service-addr", "--directory-service-addr", "--root-service-addr"}) {
    args.push_back(flag);
    args.push_back(addr);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

uint64_t BytesUnder(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

TEST_F(DaemonE2eTest, RandomReadInABigFileFetchesOnlyItsChunksIntoTheCache) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  const std::string huge = RandomBytes(24 << 20, 9);
  WriteFile(src_ + "/huge", huge);
  pid_t d = StartDaemon();
  ASSERT_TRUE(Ok(Client({"import", "--name", "t", src_}))) << Log();
  const std::string cache = root_ + "/cache";
  pid_t m = Spawn(MountArgs(mnt_, addr_, {"--cache", cache}));
  ASSERT_TRUE(WaitMounted()) << Log();

  int fd = ::open((mnt_ + "/t/huge").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << Log();
  const off_t off = (13 << 20) + 123;
  std::string buf(4096, '\0');
  ASSERT_EQ(::pread(fd, buf.data(), buf.size(), off), 4096);
  EXPECT_TRUE(buf == huge.substr(off, 4096));
  ::close(fd);
  // Every byte fetched from the daemon lands in the cache: one 1 MiB chunk
  // (maybe two with readahead), not the 24 MiB blob.
  const uint64_t cached = BytesUnder(cache + "/blobs");
  EXPECT_GE(cached, uint64_t{1} << 20);
  EXPECT_LE(cached, uint64_t{3} << 20) << "the mount fetched more than the chunks it read";

  ASSERT_EQ(::kill(m, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(m))) << Log();
  ASSERT_EQ(::kill(d, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(d))) << Log();
}

TEST_F(DaemonE2eTest, AStoppedDaemonGivesEioWithoutHangingAndWorksAfterSigcont) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse not usable";
  pid_t d = StartDaemon();
  ASSERT_TRUE(Ok(Client({"import", "--name", "t", src_}))) << Log();
  pid_t m = Spawn(MountArgs(mnt_, addr_));
  ASSERT_TRUE(WaitMounted()) << Log();
  const std::string big2 = mnt_ + "/t/sub/deeper/big2";
  EXPECT_TRUE(SlurpFile(mnt_ + "/t/a") == "hello\n");
  struct stat st;
  ASSERT_EQ(::stat(big2.c_str(), &st), 0);

  // SIGSTOP: the daemon's socket still accepts, but nothing answers. The
  // client's keepalive (10 s + 5 s) or its deadline ends the call.
  ASSERT_EQ(::kill(d, SIGSTOP), 0);
  auto start = std::chrono::steady_clock::now();
  auto read = std::async(std::launch::async, [&] {
    int fd = ::open(big2.c_str(), O_RDONLY);
    if (fd < 0) return errno;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    int e = n < 0 ? errno : 0;
    ::close(fd);
    return e;
  });
  const bool done = read.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  ::kill(d, SIGCONT);  // before any assertion can return
  ASSERT_TRUE(done) << "read hangs on a stopped daemon";
  EXPECT_EQ(read.get(), EIO);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(45));
  std::printf("read against a stopped daemon failed after %.1f s\n",
              std::chrono::duration<double>(took).count());

  // Resumed: the same mount reads again.
  std::string bytes;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) {
    bytes = SlurpFile(big2);
    if (!bytes.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(bytes == RandomBytes(3 << 20, 2)) << bytes.size();

  ASSERT_EQ(::kill(m, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(m))) << Log();
  ASSERT_EQ(::kill(d, SIGTERM), 0);
  EXPECT_TRUE(Ok(WaitExit(d))) << Log();
}

}  // namespace
}  // namespace castor
