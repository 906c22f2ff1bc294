// gc and a running `castor daemon` (real processes of the castor binary on a
// unix socket): a local `castor gc --store` beside the daemon is refused
// naming it (its clients deduplicate against the store without the store
// lock, so a local gc could delete what they are about to reference); the
// daemon runs gc itself through castor.v1.AdminService (`castor gc
// --root-service-addr grpc+unix://...`), serialized against root Puts; and
// imports through the daemon beside gc through the daemon never leave a root
// pointing at something missing.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "castore/import/test_util.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "gtest/gtest.h"

namespace castor {
namespace {

using castore::testing::Child;
using castore::testing::MakeDir;
using castore::testing::RunResult;
using castore::testing::SlurpFile;
using castore::testing::TempDir;
using castore::testing::WriteFile;
using Clock = std::chrono::steady_clock;

class DaemonGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = castore::testing::CastorBinary();
    root_ = dir_.path();
    store_ = root_ + "/store";
    sock_ = root_ + "/castor.sock";
    addr_ = "grpc+unix://" + sock_;
  }

  std::string Log() { return SlurpFile(root_ + "/daemon.log"); }

  // `castor args...`; output through files named after `scratch`.
  RunResult Castor(std::vector<std::string> args, const std::string& scratch = "cmd") {
    args.insert(args.begin(), bin_);
    return castore::testing::Run(args, root_ + "/" + scratch, std::chrono::seconds(120));
  }
  // The same through the daemon.
  RunResult Remote(std::vector<std::string> args, const std::string& scratch = "remote") {
    for (const char* flag :
         {"--blob-service-addr", "--directory-service-addr", "--root-service-addr"}) {
      args.push_back(flag);
      args.push_back(addr_);
    }
    return Castor(std::move(args), scratch);
  }

  // Starts a daemon on the store and waits until it answers.
  Child StartDaemon(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {bin_,   "daemon",   "--store",
                                     store_, "--listen", "unix://" + sock_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Child d = Child::Spawn(argv, root_ + "/daemon.log", root_ + "/daemon.log");
    EXPECT_TRUE(d.started());
    auto until = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < until && d.Running()) {
      if (Remote({"roots"}, "probe").code == 0) return d;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "daemon did not come up; log:\n" << Log();
    return d;
  }

  // A source tree: `n` files, file k holding "<tag> k".
  std::string MakeTree(const std::string& name, const std::string& tag, int n) {
    std::string dir = root_ + "/" + name;
    MakeDir(dir);
    for (int k = 0; k < n; ++k) WriteFile(absl::StrCat(dir, "/f", k), absl::StrCat(tag, " ", k));
    return dir;
  }

  TempDir dir_;
  std::string bin_, root_, store_, sock_, addr_;
};

TEST_F(DaemonGcTest, LocalGcBesideARunningDaemonIsRefusedNamingItAndRunsOnceItExits) {
  ASSERT_EQ(Castor({"import", "--store", store_, "--name", "t", MakeTree("src", "a", 3)}).code, 0);
  Child d = StartDaemon();
  RunResult gc = Castor({"gc", "--store", store_});
  EXPECT_EQ(gc.code, 1) << gc.out << gc.err;
  EXPECT_TRUE(absl::StrContains(gc.err, absl::StrCat("pid ", d.pid()))) << gc.err;
  EXPECT_TRUE(absl::StrContains(gc.err, addr_)) << gc.err;
  EXPECT_TRUE(absl::StrContains(gc.err, "--root-service-addr")) << gc.err;
  EXPECT_TRUE(gc.out.empty()) << gc.out;

  d.Signal(SIGTERM);
  ASSERT_EQ(d.Wait(), 0) << Log();
  gc = Castor({"gc", "--store", store_});
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_TRUE(absl::StrContains(gc.out, "reachable from 1 roots")) << gc.out;
}

TEST_F(DaemonGcTest, AKilledDaemonLeavesNothingThatBlocksGc) {
  Child d = StartDaemon();
  d.Signal(SIGKILL);
  ASSERT_EQ(d.Wait(), 128 + SIGKILL);
  RunResult gc = Castor({"gc", "--store", store_});
  EXPECT_EQ(gc.code, 0) << gc.err;
}

TEST_F(DaemonGcTest, LocalGcWithWaitRunsWhenTheDaemonExits) {
  Child d = StartDaemon();
  Child gc =
      Child::Spawn({bin_, "gc", "--store", store_, "--wait"}, root_ + "/gc.out", root_ + "/gc.err");
  // It says it waits, and does not run while the daemon serves.
  auto until = Clock::now() + std::chrono::seconds(20);
  while (!absl::StrContains(SlurpFile(root_ + "/gc.err"), "waiting") && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(absl::StrContains(SlurpFile(root_ + "/gc.err"), absl::StrCat("pid ", d.pid())))
      << SlurpFile(root_ + "/gc.err");
  EXPECT_TRUE(gc.Running());
  d.Signal(SIGTERM);
  ASSERT_EQ(d.Wait(), 0) << Log();
  EXPECT_EQ(gc.Wait(std::chrono::seconds(60)), 0) << SlurpFile(root_ + "/gc.err");
  EXPECT_TRUE(absl::StrContains(SlurpFile(root_ + "/gc.out"), "deleted 0 blobs"));
}

TEST_F(DaemonGcTest, ASecondDaemonOnTheSameStoreIsRefusedNamingTheFirst) {
  Child d = StartDaemon();
  RunResult second = Castor(
      {"daemon", "--store", store_, "--listen", "unix://" + root_ + "/other.sock"}, "second");
  EXPECT_EQ(second.code, 1) << second.err;
  EXPECT_TRUE(absl::StrContains(second.err, absl::StrCat("pid ", d.pid()))) << second.err;
  EXPECT_TRUE(absl::StrContains(second.err, addr_)) << second.err;
}

TEST_F(DaemonGcTest, LocalImportAndVerifyBesideARunningDaemonStillWork) {
  Child d = StartDaemon();
  RunResult imp = Castor({"import", "--store", store_, "--name", "local", MakeTree("src", "l", 5)});
  EXPECT_EQ(imp.code, 0) << imp.err;
  RunResult verify = Castor({"verify", "--store", store_});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  RunResult roots = Remote({"roots"});
  EXPECT_TRUE(absl::StrContains(roots.out, "local\t")) << roots.out;
}

TEST_F(DaemonGcTest, GcThroughTheDaemonDeletesWhatLocalGcWouldAndPrintsTheSame) {
  Child d = StartDaemon();
  ASSERT_EQ(Remote({"import", "--name", "keep", MakeTree("keep", "k", 4)}).code, 0);
  ASSERT_EQ(Remote({"import", "--name", "drop", MakeTree("drop", "d", 6)}).code, 0);
  ASSERT_EQ(Remote({"rm", "drop"}).code, 0);

  RunResult dry = Castor({"gc", "--dry-run", "--root-service-addr", addr_});
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_TRUE(absl::StrContains(dry.out, "would delete 6 blobs")) << dry.out;
  EXPECT_TRUE(absl::StrContains(dry.out, "and 1 directories; kept 4 blobs")) << dry.out;
  EXPECT_TRUE(absl::StrContains(dry.out, "reachable from 1 roots")) << dry.out;
  RunResult gc = Castor({"gc", "--root-service-addr", addr_});
  ASSERT_EQ(gc.code, 0) << gc.err;
  EXPECT_TRUE(absl::StrContains(gc.out, "deleted 6 blobs")) << gc.out;
  RunResult again = Castor({"gc", "--root-service-addr", addr_});
  EXPECT_TRUE(absl::StrContains(again.out, "deleted 0 blobs")) << again.out;

  d.Signal(SIGTERM);
  ASSERT_EQ(d.Wait(), 0) << Log();
  // The same store, collected locally now: nothing left to delete, the
  // same line format.
  RunResult local = Castor({"gc", "--dry-run", "--store", store_});
  ASSERT_EQ(local.code, 0) << local.err;
  EXPECT_TRUE(absl::StrContains(local.out,
                                "would delete 0 blobs (0 B freed) and 0 directories; "
                                "kept 4 blobs"))
      << local.out;
  EXPECT_EQ(Castor({"verify", "--store", store_}).code, 0);
}

TEST_F(DaemonGcTest, GcThroughADaemonWithAdminOffIsRefusedClearly) {
  Child d = StartDaemon({"--admin", "off"});
  RunResult gc = Castor({"gc", "--root-service-addr", addr_});
  EXPECT_EQ(gc.code, 1);
  EXPECT_TRUE(absl::StrContains(gc.err, "--admin")) << gc.err;
  EXPECT_TRUE(absl::StrContains(gc.err, addr_)) << gc.err;
}

// One thread imports trees through the daemon, each sharing files with the
// previous tree, whose root the other thread removes and collects (through
// the daemon) while the import runs, at a different moment each round, and
// then checks the store with `castor verify`. An import whose reused or new
// objects a gc took redoes its work once (or fails, saying what went
// missing), but no root may ever point at something missing.
TEST_F(DaemonGcTest, ImportsAndGcThroughTheDaemonSideBySideNeverLeaveADanglingRoot) {
  constexpr int kImports = 10;
  Child d = StartDaemon();
  std::atomic<int> rounds_started{0}, rounds_done{0};
  std::atomic<bool> imports_done{false};
  int imported = 0, retries = 0;
  std::vector<std::string> failures;

  std::thread collector([&] {
    while (true) {
      int round = rounds_done.load();
      while (rounds_started.load() == round && !imports_done) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      if (rounds_started.load() == round) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(40 * (round % 5)));
      // Remove every root but the newest, then collect and check.
      RunResult roots = Remote({"roots"}, "gc-roots");
      std::vector<std::string> lines = absl::StrSplit(roots.out, '\n');
      std::vector<std::string> names;
      for (const std::string& line : lines) {
        if (!line.empty()) names.push_back(line.substr(0, line.find('\t')));
      }
      for (size_t k = 0; k + 1 < names.size(); ++k) Remote({"rm", names[k]}, "gc-rm");
      RunResult gc = Castor({"gc", "--root-service-addr", addr_}, "gc");
      EXPECT_EQ(gc.code, 0) << gc.err;
      RunResult verify = Castor({"verify", "--store", store_}, "verify");
      EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
      ++rounds_done;
    }
  });

  for (int i = 0; i < kImports; ++i) {
    // Files of the previous tree (garbage once its root is removed), this
    // tree's own files, and files every tree has.
    std::string src = root_ + "/src" + std::to_string(i);
    MakeDir(src);
    for (int k = 0; k < 100; ++k) {
      WriteFile(absl::StrCat(src, "/prev", k), absl::StrCat("tree ", i - 1, " file ", k));
      WriteFile(absl::StrCat(src, "/own", k), absl::StrCat("tree ", i, " file ", k));
      WriteFile(absl::StrCat(src, "/shared", k % 10), absl::StrCat("shared ", k % 10));
    }
    ++rounds_started;
    RunResult r = Remote({"import", "--name", absl::StrCat("r", i), src}, "import");
    if (absl::StrContains(r.err, "importing again")) ++retries;
    if (r.code == 0) {
      ++imported;
    } else {
      failures.push_back(r.err);
    }
    while (rounds_done.load() < rounds_started.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  imports_done = true;
  collector.join();
  std::printf("%d of %d imports succeeded, %d of them after redoing their work\n", imported,
              kImports, retries);
  for (const std::string& f : failures) {
    // A failed import says what went missing; it set no root.
    EXPECT_TRUE(absl::StrContains(f, "is not stored")) << f;
  }
  EXPECT_GT(imported, 0);
  d.Signal(SIGTERM);
  ASSERT_EQ(d.Wait(), 0) << Log();
  RunResult verify = Castor({"verify", "--store", store_}, "verify-final");
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace castor
