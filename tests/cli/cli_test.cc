// End-to-end tests of the castor binary ($CASTOR_BIN) on temporary embedded
// stores (file:// blobs + lmdb:// metadata): round trips, crashes, bad input,
// tar safety, gc and verify.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "castore/digest.h"
#include "castore/import/test_util.h"
#include "castore/testing/paths.h"
#include "castore/testing/rot.h"
#include "castore/testing/subprocess.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace castor {
namespace {

using castore::testing::DescribeTree;
using castore::testing::MakeDir;
using castore::testing::ReadFile;
using castore::testing::TempDir;
using castore::testing::WriteFile;

// On tmpfs when there is one: the shared disk of the test machine takes
// minutes to unlink 100k files while other jobs syncfs it.
std::string TestBase() {
  struct stat st;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  return "/tmp";
}

struct RunResult {
  int code = -1;  // exit code, or 128+signal
  std::string out, err;
  long max_rss_kib = 0;  // peak resident set size
};

// The castor the tests spawn is built like the tests, sanitizers included.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string bin = castor::castore::testing::CastorBinary();
    bin_ = bin;
    store_ = tmp_ / "store";
  }

  // Starts castor with `args` (plus --store unless `no_store`), stdout and
  // stderr to files; returns the pid.
  pid_t Start(std::vector<std::string> args, const std::string& tag = "run",
              const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    argv.push_back(bin_);
    for (auto& a : args) argv.push_back(a);
    if (args.size() > 0 && args[0] != "--help") {
      argv.push_back("--store");
      argv.push_back(store_);
    }
    out_path_ = tmp_ / (tag + ".out");
    err_path_ = tmp_ / (tag + ".err");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid;
    int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "spawn " << cargv[0];
    return pid;
  }

  RunResult Wait(pid_t pid) {
    int status;
    struct rusage usage {};
    EXPECT_EQ(wait4(pid, &status, 0, &usage), pid);
    RunResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.max_rss_kib = usage.ru_maxrss;
    r.out = ReadFile(out_path_);
    r.err = ReadFile(err_path_);
    return r;
  }

  RunResult Run(std::vector<std::string> args, const std::vector<std::string>& prefix = {}) {
    return Wait(Start(std::move(args), "run", prefix));
  }

  // Imports and returns the JSON summary of the one root.
  nlohmann::json Import(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"import", "--json"};
    full.insert(full.end(), args.begin(), args.end());
    RunResult r = Run(full);
    EXPECT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("roots") || j["roots"].empty()) return {};
    return j["roots"][0];
  }

  void ExpectNoRoots() {
    RunResult r = Run({"roots"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "");
  }

  void ExpectVerifyPasses() {
    RunResult r = Run({"verify"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
  }

  TempDir tmp_{"cli", TestBase()};
  std::string bin_, store_, out_path_, err_path_;
};

// A tree with the awkward cases an import meets, except the huge ones.
void MakeOddTree(const std::string& src) {
  MakeDir(src);
  WriteFile(src + "/plain", "plain\n");
  WriteFile(src + "/exec", "#!/bin/sh\n", 0755);
  WriteFile(src + "/empty", "");
  MakeDir(src + "/empty-dir");
  WriteFile(src + "/\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x8d", "utf-8 name");
  WriteFile(src + "/latin1-\xe9\xff", "not utf-8 at all");
  WriteFile(src + "/" + std::string(255, 'L'), "longest name");
  WriteFile(src + "/with\nnewline and spaces", "odd");
  ASSERT_EQ(symlink("plain", (src + "/rel-link").c_str()), 0);
  ASSERT_EQ(symlink("/absolute/dangling", (src + "/abs-link").c_str()), 0);
  ASSERT_EQ(symlink("../../../../outside", (src + "/up-link").c_str()), 0);
  ASSERT_EQ(symlink("spaces and\nnewline \x01\xfe", (src + "/odd-link").c_str()), 0);
  ASSERT_EQ(symlink(std::string(4095, 't').c_str(), (src + "/long-link").c_str()), 0);
  ASSERT_EQ(symlink("empty-dir", (src + "/dir-link").c_str()), 0);
  // 500 levels of nesting.
  std::string deep = src + "/deep";
  for (int i = 0; i < 500; ++i) {
    MakeDir(deep);
    deep += "/d";
  }
  WriteFile(deep, "at the bottom");
}

TEST_F(CliTest, HelpWorksForEveryCommand) {
  for (std::string cmd : {"import", "export", "ls", "cat", "roots", "rm", "verify", "gc"}) {
    RunResult r = Run({cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("--store"), std::string::npos) << cmd;
  }
}

TEST_F(CliTest, VersionIsTheProjectVersion) {
  RunResult r = Run({"--version"});
  EXPECT_EQ(r.code, 0);
  // "castor 0.1.0 (blake3 1.3.1, avx2)": the version, then which BLAKE3.
  EXPECT_TRUE(r.out.starts_with("castor " CASTOR_VERSION " (blake3 ")) << r.out;
  EXPECT_TRUE(r.out.ends_with(")\n")) << r.out;
  bool named = false;
  for (std::string impl : {"avx512", "avx2", "sse41", "sse2", "portable"}) {
    named = named || r.out.find(", " + impl + ")") != std::string::npos;
  }
  EXPECT_TRUE(named) << r.out;
}

TEST_F(CliTest, OddTreeRoundTripsExactly) {
  std::string src = tmp_ / "odd";
  MakeOddTree(src);
  nlohmann::json j = Import({src});
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["name"], "odd");
  EXPECT_EQ(j["kind"], "directory");
  EXPECT_EQ(j["files"], 8);
  EXPECT_EQ(j["symlinks"], 6);
  EXPECT_EQ(j["directories"], 1 + 1 + 500);
  RunResult r = Run({"export", "odd", tmp_ / "out"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(DescribeTree(src), DescribeTree(tmp_ / "out"));
  // Re-import: same digest, nothing new stored.
  nlohmann::json again = Import({"--name", "odd2", src});
  EXPECT_EQ(again["digest"], j["digest"]);
  EXPECT_EQ(again["bytes_new"], 0);
  ExpectVerifyPasses();
}

TEST_F(CliTest, HundredThousandFilesInOneDirectoryRoundTrip) {
  std::string src = tmp_ / "wide";
  MakeDir(src);
  int dfd = open(src.c_str(), O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < 100000; ++i) {
    std::string name = "f" + std::to_string(i);
    int fd = openat(dfd, name.c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    std::string data = std::to_string(i % 1000);
    ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    close(fd);
  }
  close(dfd);
  nlohmann::json j = Import({src});
  EXPECT_EQ(j["files"], 100000);
  EXPECT_EQ(j["blobs_new"], 1000);
  RunResult r = Run({"export", "wide", tmp_ / "out"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(DescribeTree(src), DescribeTree(tmp_ / "out"));
}

TEST_F(CliTest, SingleFileAndSymlinkRoots) {
  WriteFile(tmp_ / "one.bin", "single", 0755);
  ASSERT_EQ(symlink("target/of/link", (tmp_ / "ln").c_str()), 0);
  nlohmann::json f = Import({tmp_ / "one.bin"});
  EXPECT_EQ(f["kind"], "file");
  nlohmann::json l = Import({tmp_ / "ln"});
  EXPECT_EQ(l["kind"], "symlink");
  RunResult cat = Run({"cat", "one.bin"});
  EXPECT_EQ(cat.code, 0);
  EXPECT_EQ(cat.out, "single");
  RunResult roots = Run({"roots"});
  EXPECT_NE(roots.out.find("ln\tsymlink -> 'target/of/link'"), std::string::npos) << roots.out;
  EXPECT_NE(roots.out.find("one.bin\texecutable file b3:"), std::string::npos) << roots.out;
  ASSERT_EQ(Run({"export", "one.bin", tmp_ / "back"}).code, 0);
  struct stat st;
  ASSERT_EQ(stat((tmp_ / "back").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
  ASSERT_EQ(Run({"export", "ln", tmp_ / "back-ln"}).code, 0);
  EXPECT_EQ(DescribeTree(tmp_ / "back-ln"), DescribeTree(tmp_ / "ln"));
}

// `--store DIR` (and --cache) may be relative to the working directory.
TEST_F(CliTest, RelativeStoreDirectoryIsRelativeToTheWorkingDirectory) {
  WriteFile(tmp_ / "f", "relative");
  std::string absolute_store = store_;
  store_ = "rel/store";
  const std::vector<std::string> in_tmp = {"sh", "-c", "cd \"$0\" && exec \"$@\"", tmp_ / "."};
  RunResult r = Run({"import", "--name", "f", tmp_ / "f"}, in_tmp);
  EXPECT_EQ(r.code, 0) << r.err;
  r = Run({"cat", "f"}, in_tmp);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "relative");
  store_ = tmp_ / "rel/store";
  r = Run({"cat", "f"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "relative");
  store_ = absolute_store;
}

TEST_F(CliTest, LsCatRmAndExistingRoots) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  MakeDir(src + "/sub");
  WriteFile(src + "/sub/file", "contents");
  ASSERT_EQ(Run({"import", src}).code, 0);
  RunResult ls = Run({"ls", "t"});
  EXPECT_EQ(ls.out, "sub\n");
  RunResult lsl = Run({"ls", "-l", "t/sub"});
  EXPECT_NE(lsl.out.find("-r--r--r--"), std::string::npos);
  EXPECT_NE(lsl.out.find(" 8 b3:"), std::string::npos) << lsl.out;
  EXPECT_EQ(Run({"cat", "t/sub/file"}).out, "contents");
  RunResult missing = Run({"cat", "t/sub/nope"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("t/sub/nope"), std::string::npos) << missing.err;
  // Same name again: refused without --force, replaced with it.
  RunResult again = Run({"import", src});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(Run({"import", "--force", src}).code, 0);
  EXPECT_EQ(Run({"rm", "t"}).code, 0);
  RunResult rm_again = Run({"rm", "t"});
  EXPECT_NE(rm_again.code, 0);
  EXPECT_NE(rm_again.err.find("no root named"), std::string::npos);
  ExpectNoRoots();
}

TEST_F(CliTest, ExportRefusesAnExistingDestinationUnlessForced) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  WriteFile(src + "/f", "x");
  ASSERT_EQ(Run({"import", src}).code, 0);
  MakeDir(tmp_ / "out");
  RunResult r = Run({"export", "t", tmp_ / "out"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_EQ(Run({"export", "--force", "t", tmp_ / "out"}).code, 0);
  EXPECT_EQ(ReadFile(tmp_ / "out/f"), "x");
}

TEST_F(CliTest, DeepestTreeRoundTripsUnderTheDefaultSoftOpenFileLimit) {
  // Import and export hold a descriptor per directory level: castor raises
  // its soft limit (1024 on most systems) to the hard one.
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max < 4096) GTEST_SKIP() << "hard open-file limit below 4096";
  std::vector<std::string> low_limit = {"prlimit", "--nofile=1024:"};
  std::string src = tmp_ / "deep";
  castore::testing::MakeDeepDirs(src, castore::kMaxTreeDepth);
  RunResult r = Run({"import", src}, low_limit);
  ASSERT_EQ(r.code, 0) << r.err;
  r = Run({"export", "deep", tmp_ / "out"}, low_limit);
  EXPECT_EQ(r.code, 0) << r.err;
  r = Run({"verify"}, low_limit);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  castore::testing::RemoveDeepDirs(tmp_ / "out");
  // One level more is refused, naming the path, and sets no root.
  ASSERT_EQ(Run({"rm", "deep"}).code, 0);
  castore::testing::RemoveDeepDirs(src);
  castore::testing::MakeDeepDirs(src, castore::kMaxTreeDepth + 1);
  r = Run({"import", src}, low_limit);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("more than 2048 levels deep"), std::string::npos) << r.err;
  ExpectNoRoots();
  castore::testing::RemoveDeepDirs(src);
}

TEST_F(CliTest, SpecialFilesFailNamingThePathAndSetNoRoot) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  WriteFile(src + "/ok", "fine");
  ASSERT_EQ(mkfifo((src + "/fifo").c_str(), 0644), 0);
  RunResult r = Run({"import", src});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("t/fifo: is a FIFO"), std::string::npos) << r.err;
  ASSERT_EQ(unlink((src + "/fifo").c_str()), 0);
  ASSERT_EQ(mknod((src + "/dev").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
  r = Run({"import", src});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("t/dev: is a character device"), std::string::npos) << r.err;
  ExpectNoRoots();
  ExpectVerifyPasses();
}

TEST_F(CliTest, MissingPathFails) {
  RunResult r = Run({"import", tmp_ / "does-not-exist"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("does-not-exist"), std::string::npos) << r.err;
  ExpectNoRoots();
}

// Tests run as root, who can read anything; the import runs as `nobody`
// (setpriv) so that a mode-000 file is really unreadable.
TEST_F(CliTest, UnreadableFileFailsNamingThePath) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to nobody";
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";
  ASSERT_EQ(chmod(tmp_.path().c_str(), 0755), 0);
  std::string src = tmp_ / "t";
  MakeDir(src);
  WriteFile(src + "/readable", "yes");
  WriteFile(src + "/secret", "no", 0000);
  MakeDir(store_);
  ASSERT_EQ(chmod(store_.c_str(), 0777), 0);
  RunResult r =
      Run({"import", src}, {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("t/secret: Permission denied"), std::string::npos) << r.err;
  ExpectNoRoots();
}

TEST_F(CliTest, FileChangingSizeWhileReadFails) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  std::string growing = src + "/growing";
  WriteFile(growing, std::string(64 << 20, 'g'));
  std::atomic<bool> stop{false};
  std::thread appender([&] {
    int fd = open(growing.c_str(), O_WRONLY | O_APPEND);
    while (!stop) {
      (void)write(fd, "more", 4);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    close(fd);
  });
  RunResult r = Run({"import", src});
  stop = true;
  appender.join();
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("t/growing: changed"), std::string::npos) << r.err;
  ExpectNoRoots();
}

void WriteTar(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& files) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, data] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, data.size());
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

TEST_F(CliTest, TarImportMatchesTheTreeAndRejectsTraversal) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  MakeDir(src + "/d");
  WriteFile(src + "/d/f", "tar content");
  nlohmann::json tree = Import({"--name", "tree", src});
  std::string good = tmp_ / "good.tar.gz";
  WriteTar(good, {{"d/f", "tar content"}});
  nlohmann::json tar = Import({"--tar", good});
  EXPECT_EQ(tar["name"], "good");
  EXPECT_EQ(tar["digest"], tree["digest"]);
  for (std::string bad : {"../escape", "/etc/evil", "d/../../escape"}) {
    std::string path = tmp_ / "bad.tar.gz";
    WriteTar(path, {{"d/f", "x"}, {bad, "evil"}});
    RunResult r = Run({"import", "--tar", "--name", "bad", path});
    EXPECT_EQ(r.code, 1) << bad;
    EXPECT_NE(r.err.find("not allowed"), std::string::npos) << r.err;
  }
  RunResult roots = Run({"roots"});
  EXPECT_EQ(roots.out.find("bad"), std::string::npos);
}

// A file of `size` bytes, holes but for 4 KiB of pseudorandom data at each
// of `data_at`.
void MakeSparseFile(const std::string& path, uint64_t size, const std::vector<uint64_t>& data_at) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
  std::mt19937_64 rng(size);
  for (uint64_t offset : data_at) {
    std::string data(4096, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    ASSERT_EQ(pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)), 4096);
  }
  ASSERT_EQ(close(fd), 0);
}

// `tar --sparse` of a 64 MiB file that is a hole but for two 4 KiB blocks:
// the import stores all 64 MiB (it stored the first 4 KiB and exited 0),
// streaming the zeros (never the whole file in memory).
TEST_F(CliTest, SparseTarImportStoresTheWholeFileInBoundedMemory) {
  constexpr uint64_t kSize = 64 << 20;
  std::string src = tmp_ / "src";
  MakeDir(src);
  MakeSparseFile(src + "/f", kSize, {0, 60 << 20});
  std::string tar = tmp_ / "sparse.tar";
  auto made =
      castore::testing::Run({"tar", "--sparse", "-c", "-f", tar, "-C", src, "f"}, tmp_ / "tar");
  ASSERT_EQ(made.code, 0) << made.err;
  ASSERT_LT(ReadFile(tar).size(), 1u << 20) << "tar did not write a sparse entry";

  RunResult r = Run({"import", "--json", "--tar", tar, "--name", "sp"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["roots"][0]["bytes"], kSize);
  if (!kSanitized) {
    // castor itself takes about 17 MiB here; holding the file would add 64.
    EXPECT_LT(r.max_rss_kib, 48 << 10) << "peak RSS of the import, KiB";
  }
  RunResult cat = Run({"cat", "sp/f"});
  ASSERT_EQ(cat.code, 0) << cat.err;
  EXPECT_EQ(cat.out.size(), kSize);
  EXPECT_TRUE(cat.out == ReadFile(src + "/f")) << "stored bytes differ from the file";
  ExpectVerifyPasses();
}

// A real GNU tar archive (pax, sparse format 0.1) whose sparse map was
// changed to list its two blocks out of order: refused, naming the entry,
// and no root is set. The untouched archive imports.
TEST_F(CliTest, MalformedSparseTarIsRefusedNamingTheEntryAndSetsNoRoot) {
  std::string src = tmp_ / "src";
  MakeDir(src);
  MakeSparseFile(src + "/holey", 2 << 20, {0, 1 << 20});
  std::string good = tmp_ / "good.tar";
  auto made = castore::testing::Run({"tar", "--format=pax", "--sparse", "--sparse-version=0.1",
                                     "-c", "-f", good, "-C", src, "holey"},
                                    tmp_ / "tar");
  ASSERT_EQ(made.code, 0) << made.err;
  std::string bytes = ReadFile(good);
  // The map ends with an empty block at the end of the file (2097152,0).
  const std::string map = "GNU.sparse.map=0,4096,1048576,4096,";
  size_t at = bytes.find(map);
  ASSERT_NE(at, std::string::npos) << "no map of the expected shape in tar's output";
  bytes.replace(at, map.size(), "GNU.sparse.map=1048576,4096,0,4096,");
  std::string bad = tmp_ / "bad.tar";
  WriteFile(bad, bytes);

  RunResult r = Run({"import", "--tar", bad, "--name", "bad"});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("'holey'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sparse"), std::string::npos) << r.err;
  ExpectNoRoots();
  nlohmann::json ok = Import({"--tar", good, "--name", "good"});
  EXPECT_EQ(ok["bytes"], 2 << 20);
}

TEST_F(CliTest, KilledImportsLeaveAVerifiableStoreAndReimportGivesTheSameDigest) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  for (int d = 0; d < 20; ++d) {
    std::string dir = src + "/dir" + std::to_string(d);
    MakeDir(dir);
    for (int f = 0; f < 100; ++f) {
      WriteFile(dir + "/f" + std::to_string(f), std::string(1000 + f * 37 + d, 'a' + (f % 26)));
    }
  }
  std::string big(24 << 20, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < big.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(big.data() + i, &v, 8);
  }
  WriteFile(src + "/big", big);
  // Reference digest from a separate store.
  std::string real_store = store_;
  store_ = tmp_ / "reference-store";
  nlohmann::json reference = Import({src});
  store_ = real_store;
  ASSERT_FALSE(reference.is_null());

  std::uniform_int_distribution<int> delay_ms(0, 400);
  for (int round = 0; round < 6; ++round) {
    pid_t pid = Start({"import", "--force", src}, "killed");
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    RunResult v = Run({"verify"});
    EXPECT_EQ(v.code, 0) << "round " << round << ": " << v.out << v.err;
  }
  nlohmann::json j = Import({"--force", src});
  EXPECT_EQ(j["digest"], reference["digest"]);
  ExpectVerifyPasses();
  ASSERT_EQ(Run({"gc"}).code, 0);
  ExpectVerifyPasses();
  RunResult r = Run({"export", "t", tmp_ / "out"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(DescribeTree(src), DescribeTree(tmp_ / "out"));
}

TEST_F(CliTest, InterruptedImportExitsCleanlyWithoutARoot) {
  // A 1 GiB sparse file takes far longer than 300 ms to hash and store.
  std::string src = tmp_ / "t";
  MakeDir(src);
  int fd = open((src + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_EQ(ftruncate(fd, 1LL << 30), 0);
  close(fd);
  pid_t pid = Start({"import", src}, "interrupted");
  // The import installs its SIGINT handler before it creates the store lock
  // file; a slow start (sanitizers, load) must not get the default action.
  for (int i = 0; i < 3000 && access((store_ + "/lock").c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  RunResult r = Wait(pid);
  EXPECT_EQ(r.code, 130) << r.err;
  EXPECT_NE(r.err.find("no root was set"), std::string::npos) << r.err;
  ExpectNoRoots();
  ExpectVerifyPasses();
}

TEST_F(CliTest, GcFreesUnreachableDataAndKeepsRoots) {
  std::string a = tmp_ / "a", b = tmp_ / "b";
  MakeDir(a);
  MakeDir(b);
  WriteFile(a + "/shared", "shared bytes");
  WriteFile(b + "/shared", "shared bytes");
  WriteFile(b + "/only-b", std::string(100000, 'b'));
  ASSERT_EQ(Run({"import", a, b}).code, 0);
  ASSERT_EQ(Run({"rm", "b"}).code, 0);
  RunResult dry = Run({"gc", "--dry-run"});
  EXPECT_EQ(dry.code, 0);
  EXPECT_NE(dry.out.find("would delete 1 blobs (97.7 KiB freed) and 1 directories"),
            std::string::npos)
      << dry.out;
  RunResult gc = Run({"gc"});
  EXPECT_EQ(gc.code, 0);
  EXPECT_NE(gc.out.find("deleted 1 blobs"), std::string::npos) << gc.out;
  RunResult again = Run({"gc"});
  EXPECT_NE(again.out.find("deleted 0 blobs"), std::string::npos) << again.out;
  ExpectVerifyPasses();
  EXPECT_EQ(Run({"cat", "a/shared"}).out, "shared bytes");
}

TEST_F(CliTest, GcWaitsForAnImportHoldingTheStoreLock) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  WriteFile(src + "/f", "x");
  ASSERT_EQ(Run({"import", src}).code, 0);  // creates the store and its lock file
  // `flock -s` stands in for an import between its dedup checks and commit.
  pid_t holder;
  std::string lock = store_ + "/lock";
  const char* argv[] = {"flock", "-s", lock.c_str(), "sleep", "1.5", nullptr};
  ASSERT_EQ(posix_spawnp(&holder, "flock", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  RunResult gc = Run({"gc"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int status;
  waitpid(holder, &status, 0);
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_NE(gc.err.find("waiting for running imports"), std::string::npos) << gc.err;
  EXPECT_GT(secs, 0.8);
}

TEST_F(CliTest, VerifyReportsACorruptBlobWithItsPath) {
  std::string src = tmp_ / "t";
  MakeDir(src);
  MakeDir(src + "/d");
  WriteFile(src + "/d/victim", "original bytes");
  WriteFile(src + "/fine", "fine");
  ASSERT_EQ(Run({"import", src}).code, 0);
  RunResult ls = Run({"ls", "-l", "t/d"});
  size_t at = ls.out.find("b3:");
  ASSERT_NE(at, std::string::npos);
  std::string b3 = ls.out.substr(at, 47);
  // Find the blob file by content and corrupt it in place.
  std::string hex;
  {
    RunResult j = Run({"import", "--json", "--name", "v", src + "/d/victim"});
    hex = nlohmann::json::parse(j.out)["roots"][0]["digest_hex"];
  }
  std::string blob = store_ + "/blobs/b3/" + hex.substr(0, 2) + "/" + hex;
  ASSERT_EQ(ReadFile(blob), "original bytes") << blob;
  WriteFile(blob, "corrupt  bytes!");
  RunResult v = Run({"verify"});
  EXPECT_EQ(v.code, 1);
  EXPECT_NE(v.out.find("t/d/victim: blob " + b3), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("v: blob"), std::string::npos) << v.out;
  RunResult only = Run({"verify", "--roots", "t"});
  EXPECT_EQ(only.code, 1);
  EXPECT_EQ(only.out.find("v: blob"), std::string::npos) << only.out;
  RunResult unknown = Run({"verify", "--roots", "nope"});
  EXPECT_EQ(unknown.code, 1);
}

TEST_F(CliTest, CatOfACorruptBlobWritesNoWrongByteAndFails) {
  const std::string data = castore::testing::RandomBytes(3 << 20, 7);
  std::string src = tmp_ / "t";
  MakeDir(src);
  WriteFile(src + "/big", data);
  WriteFile(src + "/small", "small bytes");
  RunResult j = Run({"import", "--json", src});
  ASSERT_EQ(j.code, 0) << j.err;
  std::string big_b3 = castore::B3Digest::Of(std::string_view(data)).ToB3();
  std::string big_hex = castore::B3Digest::Of(std::string_view(data)).ToHex();
  std::string small_hex = castore::B3Digest::Of(std::string_view("small bytes")).ToHex();
  auto blob = [&](const std::string& hex) {
    return store_ + "/blobs/b3/" + hex.substr(0, 2) + "/" + hex;
  };
  // Damaged before castor ever read them: nothing at all of the small one
  // is written (it is hashed whole); of the big one, whose tree was kept
  // at import, at most the checked bytes before the damaged piece.
  ASSERT_TRUE(castore::testing::Rot(blob(small_hex), 3));
  RunResult small = Run({"cat", "t/small"});
  EXPECT_NE(small.code, 0);
  EXPECT_EQ(small.out, "");
  EXPECT_NE(small.err.find("t/small"), std::string::npos) << small.err;
  ASSERT_TRUE(castore::testing::Rot(blob(big_hex), (5 << 19) + 17));  // at 2.5 MiB
  RunResult big = Run({"cat", "t/big"});
  EXPECT_NE(big.code, 0);
  EXPECT_LE(big.out.size(), size_t{5} << 19);
  EXPECT_TRUE(big.out == data.substr(0, big.out.size())) << "a wrong byte was written";
  EXPECT_NE(big.err.find("t/big"), std::string::npos) << big.err;
  EXPECT_NE(big.err.find(big_b3), std::string::npos) << big.err;
  // Damaged after a good read: what is written is a prefix of the true
  // bytes that ends before the damaged piece, and cat fails.
  ASSERT_TRUE(castore::testing::Rot(blob(big_hex), (5 << 19) + 17));
  RunResult good = Run({"cat", "t/big"});
  ASSERT_EQ(good.code, 0) << good.err;
  ASSERT_TRUE(good.out == data);
  ASSERT_TRUE(castore::testing::Rot(blob(big_hex), (5 << 19) + 17));
  RunResult late = Run({"cat", "t/big"});
  EXPECT_NE(late.code, 0);
  EXPECT_LT(late.out.size(), size_t{5} << 19);
  EXPECT_TRUE(late.out == data.substr(0, late.out.size())) << "a wrong byte was written";
  EXPECT_NE(late.err.find(big_b3), std::string::npos) << late.err;
}

TEST_F(CliTest, ExportOfACorruptBlobLeavesNoFileBehind) {
  const std::string data = castore::testing::RandomBytes(3 << 20, 8);
  std::string src = tmp_ / "t";
  MakeDir(src);
  WriteFile(src + "/big", data);
  WriteFile(src + "/fine", "fine");
  ASSERT_EQ(Run({"import", src}).code, 0);
  castore::B3Digest digest = castore::B3Digest::Of(std::string_view(data));
  std::string hex = digest.ToHex();
  ASSERT_TRUE(castore::testing::Rot(store_ + "/blobs/b3/" + hex.substr(0, 2) + "/" + hex, 2 << 20));
  std::string out = tmp_ / "out";
  RunResult r = Run({"export", "t", out});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(out + "/big"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(digest.ToB3()), std::string::npos) << r.err;
  struct stat st;
  EXPECT_NE(lstat((out + "/big").c_str(), &st), 0) << "a partial file was left behind";
}

}  // namespace
}  // namespace castor
