// castor as a Nix binary cache against the real Nix client (Debian nix-bin
// 2.8, single-user as root): `nix copy --to` uploads into `castor nix
// serve --allow-upload`, `nix copy --from` substitutes from it into a
// separate chroot store checking castor's signatures, `castor mount` shows
// the same bytes, and `castor nix copy --from file://` reads a cache Nix
// wrote. Every Nix store is a chroot store (--store DIR) in a temp dir, with
// its own configuration (nix::testing::RealNix). Skipped only when Nix is
// not installed.
#include <sys/stat.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/import/test_util.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "gtest/gtest.h"
#include "nix/testing/real_nix.h"

namespace castor {
namespace {

using castore::testing::Child;
using castore::testing::RunResult;
using castore::testing::SlurpFile;
using castore::testing::TempDir;
using castore::testing::WriteFile;

class NixE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string bin = nix::testing::RealNix::BinDir();
    if (bin.empty()) GTEST_SKIP() << nix::testing::RealNix::kSkipMessage;
    nix_.emplace(bin, tmp_.path());
    // Castor's signing key, and a key nobody signs with.
    ASSERT_EQ(Nix("nix-store", {"--generate-binary-cache-key", "castor-e2e-1", tmp_ / "castor.sk",
                                tmp_ / "castor.pk"})
                  .code,
              0);
    ASSERT_EQ(Nix("nix-store", {"--generate-binary-cache-key", "stranger-1", tmp_ / "other.sk",
                                tmp_ / "other.pk"})
                  .code,
              0);
    castor_pk_ = SlurpFile(tmp_ / "castor.pk");
    other_pk_ = SlurpFile(tmp_ / "other.pk");
    MakeSourcePaths();
  }

  void TearDown() override {
    if (serve_.started()) {
      serve_.Signal(SIGTERM);
      EXPECT_EQ(serve_.Wait(std::chrono::seconds(30)), 0) << SlurpFile(tmp_ / "serve.err");
    }
  }

  RunResult Nix(const std::string& tool, const std::vector<std::string>& args) {
    RunResult r = nix_->Run(tool, args);
    if (r.code != 0) ADD_FAILURE() << tool << " failed: " << r.err;
    return r;
  }
  RunResult NixMayFail(const std::string& tool, const std::vector<std::string>& args) {
    return nix_->Run(tool, args);
  }

  RunResult Castor(std::vector<std::string> args) {
    std::vector<std::string> argv = {castore::testing::CastorBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return castore::testing::Run(argv, tmp_ / ("castor-" + std::to_string(runs_++)),
                                 std::chrono::seconds(120));
  }

  // A tree with an executable, a symlink, nesting and an empty file, added
  // with nix-store --add; and a builtins.toFile path referring to it.
  void MakeSourcePaths() {
    std::string t = tmp_ / "tree";
    castore::testing::MakeDir(t);
    castore::testing::MakeDir(t + "/sub");
    castore::testing::MakeDir(t + "/sub/deeper");
    WriteFile(t + "/hello.txt", "hello from castor\n");
    WriteFile(t + "/run.sh", "#!/bin/sh\necho run\n", 0755);
    ASSERT_EQ(symlink("hello.txt", (t + "/link").c_str()), 0);
    WriteFile(t + "/sub/empty", "");
    WriteFile(t + "/sub/deeper/big", std::string(300000, 'x') + "end");
    RunResult added = Nix("nix-store", {"--store", src_, "--add", t});
    ASSERT_EQ(added.code, 0);
    tree_path_ = added.out.substr(0, added.out.find('\n'));
    RunResult made = Nix("nix-instantiate",
                         {"--store", src_, "--eval", "--read-write-mode", "-E",
                          absl::StrCat("builtins.toFile \"uses.txt\" \"see ${builtins.storePath \"",
                                       tree_path_, "\"}\"")});
    ASSERT_EQ(made.code, 0);
    top_path_ = made.out.substr(1, made.out.find('"', 1) - 1);
    RunResult refs = Nix("nix-store", {"--store", src_, "-q", "--references", top_path_});
    ASSERT_EQ(refs.out, tree_path_ + "\n");  // the closure has two paths
  }

  std::string Dump(const std::string& store, const std::string& path) {
    RunResult r = Nix("nix", {"store", "dump-path", "--store", store, path});
    EXPECT_FALSE(r.out.empty());
    return r.out;
  }

  // Starts `castor nix serve` on a free port; returns its URL.
  std::string StartServe(std::vector<std::string> extra) {
    std::vector<std::string> argv = {castore::testing::CastorBinary(),
                                     "nix",
                                     "serve",
                                     "--store",
                                     castor_store_,
                                     "--listen",
                                     "http://127.0.0.1:0",
                                     "--sign-key",
                                     tmp_ / "castor.sk"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    serve_ = Child::Spawn(argv, tmp_ / "serve.out", tmp_ / "serve.err");
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until && serve_.Running()) {
      std::string out = SlurpFile(tmp_ / "serve.out");
      size_t at = out.find("serving ");
      size_t nl = out.find('\n', at);
      if (at != std::string::npos && nl != std::string::npos)
        return out.substr(at + 8, nl - at - 8);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "castor nix serve did not start: " << SlurpFile(tmp_ / "serve.err");
    return "";
  }

  std::vector<std::string> TrustOnly(const std::string& pk) {
    return {"--option", "trusted-public-keys", pk, "--option", "require-sigs", "true"};
  }

  std::optional<nix::testing::RealNix> nix_;
  TempDir tmp_;
  std::string src_ = tmp_ / "nix-src";
  std::string castor_store_ = tmp_ / "castor";
  std::string tree_path_, top_path_;
  std::string castor_pk_, other_pk_;
  Child serve_;
  int runs_ = 0;
};

TEST_F(NixE2eTest, NixUploadsToCastorServeAndSubstitutesByteIdenticalSignedPaths) {
  std::string url = StartServe({"--allow-upload"});
  ASSERT_FALSE(url.empty());
  ASSERT_EQ(Nix("nix", {"copy", "--store", src_, "--to", url, top_path_}).code, 0);

  // castor has both paths, byte-identical to Nix's.
  for (const std::string& p : {tree_path_, top_path_}) {
    RunResult dumped = Castor({"nix", "dump", "--store", castor_store_, p});
    ASSERT_EQ(dumped.code, 0) << dumped.err;
    EXPECT_EQ(dumped.out, Dump(src_, p)) << p;
  }

  // Into a fresh chroot store, trusting castor's key only, signatures required.
  std::string dst = tmp_ / "nix-dst";
  std::vector<std::string> args = {"copy", "--store", dst, "--from", url, top_path_};
  auto trust = TrustOnly(castor_pk_);
  args.insert(args.end(), trust.begin(), trust.end());
  ASSERT_EQ(Nix("nix", args).code, 0);
  for (const std::string& p : {tree_path_, top_path_}) EXPECT_EQ(Dump(dst, p), Dump(src_, p)) << p;
  RunResult refs = Nix("nix-store", {"--store", dst, "-q", "--references", top_path_});
  EXPECT_EQ(refs.out, tree_path_ + "\n");
  std::vector<std::string> verify = {"store", "verify",        "--store", dst,
                                     "--all", "--sigs-needed", "1"};
  verify.insert(verify.end(), trust.begin(), trust.end());
  EXPECT_EQ(Nix("nix", verify).code, 0);
  EXPECT_EQ(Nix("nix-store", {"--store", dst, "--verify", "--check-contents"}).code, 0);
}

TEST_F(NixE2eTest, NixAcceptsAnInputAddressedPathOnlyWithASignatureItTrusts) {
  // nix-store --add and builtins.toFile make content-addressed paths, which
  // Nix accepts unsigned; a path under an input-addressed name (as a build
  // output has) needs a signature by a trusted key.
  const std::string path = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-built";
  std::string nar = tmp_ / "tree.nar";
  WriteFile(nar, Dump(src_, tree_path_));
  RunResult imported =
      Castor({"nix", "import-nar", nar, "--store-path", path, "--store", castor_store_});
  ASSERT_EQ(imported.code, 0) << imported.err;
  std::string url = StartServe({});
  ASSERT_FALSE(url.empty());

  std::vector<std::string> refused = {"copy", "--store", tmp_ / "nix-strict", "--from", url, path};
  auto other = TrustOnly(other_pk_);
  refused.insert(refused.end(), other.begin(), other.end());
  RunResult r = NixMayFail("nix", refused);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("lacks a valid signature"), std::string::npos) << r.err;

  std::string dst = tmp_ / "nix-dst";
  std::vector<std::string> accepted = {"copy", "--store", dst, "--from", url, path};
  auto trust = TrustOnly(castor_pk_);
  accepted.insert(accepted.end(), trust.begin(), trust.end());
  ASSERT_EQ(Nix("nix", accepted).code, 0);
  EXPECT_EQ(Dump(dst, path), Dump(src_, tree_path_));
  EXPECT_EQ(Nix("nix-store", {"--store", dst, "--verify", "--check-contents"}).code, 0);
}

TEST_F(NixE2eTest, ATamperedUploadIsRefusedWithA400SayingWhy) {
  std::string url = StartServe({"--allow-upload"});
  ASSERT_FALSE(url.empty());
  // Nix uploads the tree into a file:// cache; its NAR is then changed in
  // one byte (same length) and re-uploaded to castor with its narinfo:
  // castor refuses the narinfo, the path is not added.
  std::string cache = tmp_ / "cache";
  ASSERT_EQ(Nix("nix", {"copy", "--store", src_, "--to", "file://" + cache + "?compression=none",
                        tree_path_})
                .code,
            0);
  std::string hash = tree_path_.substr(11, 32);
  std::string narinfo = SlurpFile(cache + "/" + hash + ".narinfo");
  size_t u = narinfo.find("URL: ") + 5;
  std::string nar_url = narinfo.substr(u, narinfo.find('\n', u) - u);
  std::string nar = SlurpFile(cache + "/" + nar_url);
  size_t at = nar.find("hello from castor");
  ASSERT_NE(at, std::string::npos);
  nar[at] = 'j';
  std::string tampered = tmp_ / "tampered.nar";
  WriteFile(tampered, nar);
  RunResult put_nar = castore::testing::Run(
      {"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", tampered, url + "/" + nar_url},
      tmp_ / "curl-nar");
  ASSERT_EQ(put_nar.code, 0) << put_nar.err;
  EXPECT_EQ(put_nar.out, "200");
  RunResult put_info =
      castore::testing::Run({"curl", "-sS", "-w", "\n%{http_code}", "-T",
                             cache + "/" + hash + ".narinfo", url + "/" + hash + ".narinfo"},
                            tmp_ / "curl-info");
  ASSERT_EQ(put_info.code, 0) << put_info.err;
  EXPECT_NE(put_info.out.find("\n400"), std::string::npos) << put_info.out;
  EXPECT_NE(put_info.out.find("FileHash is sha256:"), std::string::npos) << put_info.out;
  EXPECT_NE(put_info.out.find("the uploaded file has"), std::string::npos) << put_info.out;
  RunResult info = Castor({"nix", "path-info", "--store", castor_store_, tree_path_});
  EXPECT_NE(info.code, 0) << info.out;
}

TEST_F(NixE2eTest, CastorMountShowsTheUploadedPathsWithTheirBytes) {
  std::string url = StartServe({"--allow-upload"});
  ASSERT_FALSE(url.empty());
  ASSERT_EQ(Nix("nix", {"copy", "--store", src_, "--to", url, top_path_}).code, 0);
  serve_.Signal(SIGTERM);
  ASSERT_EQ(serve_.Wait(std::chrono::seconds(30)), 0) << SlurpFile(tmp_ / "serve.err");

  std::string mnt = tmp_ / "mnt";
  castore::testing::MakeDir(mnt);
  castore::testing::FuseMountGuard guard(mnt);
  Child mount =
      Child::Spawn({castore::testing::CastorBinary(), "mount", mnt, "--store", castor_store_}, "",
                   tmp_ / "mount.err");
  ASSERT_TRUE(castore::testing::WaitForFuseMount(mnt)) << SlurpFile(tmp_ / "mount.err");
  std::string tree = mnt + "/" + tree_path_.substr(11);
  std::string src_tree = src_ + tree_path_;  // the chroot store's real directory
  RunResult diff =
      castore::testing::Run({"diff", "-r", "--no-dereference", src_tree, tree}, tmp_ / "diff");
  EXPECT_EQ(diff.code, 0) << diff.out << diff.err;
  struct stat st;
  ASSERT_EQ(stat((tree + "/run.sh").c_str(), &st), 0);
  EXPECT_NE(st.st_mode & S_IXUSR, 0u);
  EXPECT_EQ(SlurpFile(mnt + "/" + top_path_.substr(11)), "see " + tree_path_);
  mount.Signal(SIGTERM);
  EXPECT_EQ(mount.Wait(std::chrono::seconds(30)), 0) << SlurpFile(tmp_ / "mount.err");
}

TEST_F(NixE2eTest, CastorSubstitutesFromAFileCacheNixWrote) {
  ASSERT_EQ(Nix("nix", {"store", "sign", "--store", src_, "--key-file", tmp_ / "castor.sk",
                        "--recursive", top_path_})
                .code,
            0);
  std::string cache = tmp_ / "cache";
  ASSERT_EQ(Nix("nix",
                {"copy", "--store", src_, "--to", "file://" + cache + "?compression=xz", top_path_})
                .code,
            0);
  // An untrusted key: refused, nothing added.
  RunResult untrusted = Castor({"nix", "copy", "--store", castor_store_, "--from",
                                "file://" + cache, "--trusted-public-key", other_pk_, top_path_});
  EXPECT_NE(untrusted.code, 0);
  EXPECT_NE(untrusted.err.find("signature"), std::string::npos) << untrusted.err;
  EXPECT_NE(Castor({"nix", "path-info", "--store", castor_store_, tree_path_}).code, 0);

  RunResult copied = Castor({"nix", "copy", "--store", castor_store_, "--from", "file://" + cache,
                             "--trusted-public-key", castor_pk_, top_path_});
  ASSERT_EQ(copied.code, 0) << copied.err;
  for (const std::string& p : {tree_path_, top_path_}) {
    RunResult dumped = Castor({"nix", "dump", "--store", castor_store_, p});
    ASSERT_EQ(dumped.code, 0) << dumped.err;
    EXPECT_EQ(dumped.out, Dump(src_, p)) << p;
  }
}

}  // namespace
}  // namespace castor
