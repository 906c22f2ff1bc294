// End-to-end tests of `castor nix import-nar`, `dump` and `path-info`
// through the castor binary ($CASTOR_BIN) on a temporary embedded store,
// with the golden NAR of tests/data/nix (made by Nix 2.8). No Nix needed.
#include <string>
#include <vector>

#include "castore/import/test_util.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "gtest/gtest.h"
#include "nix/testing/golden.h"
#include "nlohmann/json.hpp"

namespace castor {
namespace {

using castore::testing::RunResult;
using castore::testing::TempDir;

constexpr const char* kGoldenPath = "/nix/store/fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden";
constexpr const char* kGoldenRef = "/nix/store/p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt";
constexpr const char* kGoldenNarHash =
    "sha256:1gd377icjbkzz34xji3mc9niji1ar2yqixsrmwj3yhqvcy49m4v3";

class NixCliTest : public ::testing::Test {
 protected:
  // castor ARGS --store STORE (stdin from /dev/null).
  RunResult Castor(std::vector<std::string> args) {
    std::vector<std::string> argv = {castore::testing::CastorBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--store");
    argv.push_back(store_);
    return castore::testing::Run(argv, tmp_ / ("run-" + std::to_string(runs_++)));
  }

  RunResult ImportGolden() {
    return Castor(
        {"nix", "import-nar", nar_, "--store-path", kGoldenPath, "--references", kGoldenRef});
  }

  void SetUp() override { nar_ = castore::testing::TestDataDir() + "/nix/castor-golden.nar"; }

  TempDir tmp_;
  std::string store_ = tmp_ / "store";
  std::string nar_;
  int runs_ = 0;
};

TEST_F(NixCliTest, ImportedNarDumpsByteIdenticalAndShowsAsARootNamedByItsBaseName) {
  RunResult imported = ImportGolden();
  ASSERT_EQ(imported.code, 0) << imported.err;
  EXPECT_EQ(imported.out, std::string(kGoldenPath) + "\n");

  RunResult dumped = Castor({"nix", "dump", kGoldenPath});
  ASSERT_EQ(dumped.code, 0) << dumped.err;
  EXPECT_EQ(dumped.out, nix::testing::GoldenFile("castor-golden.nar"));
  // By root name too.
  RunResult by_root = Castor({"nix", "dump", "fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden"});
  ASSERT_EQ(by_root.code, 0) << by_root.err;
  EXPECT_EQ(by_root.out, dumped.out);

  RunResult roots = Castor({"roots"});
  ASSERT_EQ(roots.code, 0) << roots.err;
  EXPECT_NE(roots.out.find("fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden"), std::string::npos)
      << roots.out;

  RunResult info = Castor({"nix", "path-info", "--json", kGoldenPath});
  ASSERT_EQ(info.code, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["path"], kGoldenPath);
  EXPECT_EQ(j[0]["narSize"], 168);
  EXPECT_EQ(j[0]["references"], nlohmann::json::array({kGoldenRef}));
  RunResult plain = Castor({"nix", "path-info", kGoldenPath});
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_NE(plain.out.find(std::string(kGoldenNarHash).substr(7)), std::string::npos) << plain.out;
}

TEST_F(NixCliTest, RemovingTheRootRemovesThePathInfo) {
  ASSERT_EQ(ImportGolden().code, 0);
  RunResult rm = Castor({"rm", "fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden"});
  ASSERT_EQ(rm.code, 0) << rm.err;
  RunResult info = Castor({"nix", "path-info", kGoldenPath});
  EXPECT_NE(info.code, 0);
  EXPECT_NE(info.err.find(std::string(kGoldenPath) + " is not in the store"), std::string::npos)
      << info.err;
}

TEST_F(NixCliTest, ImportNarFromStandardInputWorks) {
  // stdin from a file through the shell-free spawn: /bin/sh -c is simplest.
  std::vector<std::string> argv = {"/bin/sh",
                                   "-c",
                                   "exec \"$0\" nix import-nar - --store-path \"$1\" --references "
                                   "\"$2\" --store \"$3\" < \"$4\"",
                                   castore::testing::CastorBinary(),
                                   kGoldenPath,
                                   kGoldenRef,
                                   store_,
                                   nar_};
  RunResult r = castore::testing::Run(argv, tmp_ / "stdin");
  ASSERT_EQ(r.code, 0) << r.err;
  RunResult dumped = Castor({"nix", "dump", kGoldenPath});
  EXPECT_EQ(dumped.out, nix::testing::GoldenFile("castor-golden.nar"));
}

TEST_F(NixCliTest, BadInputGetsAClearErrorNamingIt) {
  RunResult bad_path = Castor({"nix", "import-nar", nar_, "--store-path", "/nix/store/nothash"});
  EXPECT_NE(bad_path.code, 0);
  EXPECT_NE(bad_path.err.find("--store-path"), std::string::npos) << bad_path.err;

  RunResult bad_ref = Castor({"nix", "import-nar", nar_, "--store-path", kGoldenPath,
                              "--references", "/tmp/not-a-store-path"});
  EXPECT_NE(bad_ref.code, 0);
  EXPECT_NE(bad_ref.err.find("--references"), std::string::npos) << bad_ref.err;

  std::string missing = tmp_ / "missing.nar";
  RunResult no_file = Castor({"nix", "import-nar", missing, "--store-path", kGoldenPath});
  EXPECT_NE(no_file.code, 0);
  EXPECT_NE(no_file.err.find(missing), std::string::npos) << no_file.err;

  std::string junk = tmp_ / "junk.nar";
  castore::testing::WriteFile(junk, "this is not a NAR at all, not even close");
  RunResult not_nar = Castor({"nix", "import-nar", junk, "--store-path", kGoldenPath});
  EXPECT_NE(not_nar.code, 0);
  EXPECT_NE(not_nar.err.find(junk), std::string::npos) << not_nar.err;
  // Nothing was added by the failures.
  RunResult info = Castor({"nix", "path-info", kGoldenPath});
  EXPECT_NE(info.code, 0);

  RunResult unknown = Castor({"nix", "dump", "/nix/store/fma7p3c4w798y0zxrb4pm1ppsaax9p43-other"});
  EXPECT_NE(unknown.code, 0);
  EXPECT_NE(unknown.err.find("fma7p3c4w798y0zxrb4pm1ppsaax9p43-other"), std::string::npos)
      << unknown.err;

  RunResult no_args = Castor({"nix", "path-info"});
  EXPECT_NE(no_args.code, 0);
  EXPECT_NE(no_args.err.find("--all"), std::string::npos) << no_args.err;

  RunResult bad_listen = Castor({"nix", "serve", "--listen", "ftp://x:1"});
  EXPECT_NE(bad_listen.code, 0);
  EXPECT_NE(bad_listen.err.find("--listen"), std::string::npos) << bad_listen.err;
}

TEST_F(NixCliTest, EveryNixSubcommandHasHelp) {
  for (const char* sub : {"import-nar", "dump", "path-info", "serve", "copy"}) {
    SCOPED_TRACE(sub);
    RunResult r = Castor({"nix", sub, "--help"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("Usage:"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace castor
