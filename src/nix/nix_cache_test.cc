// Binary caches between castor and the real Nix, both ways, for every
// compression: Nix substitutes a path from a file:// cache castor wrote
// (castor's NAR, compressed by castor, narinfo rendered and signed by
// castor, checked by Nix against a trusted key), and castor reads a cache
// Nix wrote (narinfo parsed and its signature verified and reproduced, NAR
// decompressed and parsed as a stream, hashes equal to the narinfo's).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "castore/testing/paths.h"
#include "nix/castore_nar.h"
#include "nix/compression.h"
#include "nix/hash.h"
#include "nix/nar_reader.h"
#include "nix/nar_writer.h"
#include "nix/narinfo.h"
#include "nix/path_info.h"
#include "nix/signing.h"
#include "nix/testing/golden.h"
#include "nix/testing/real_nix.h"

namespace castor::nix {
namespace {

using castore::testing::DescribeTree;
using castore::testing::MakeDir;
using castore::testing::TempDir;
using castore::testing::WriteFile;

constexpr Compression kAll[] = {Compression::kNone, Compression::kXz, Compression::kBzip2,
                                Compression::kZstd};

class NixCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string bin = testing::RealNix::BinDir();
    if (bin.empty()) GTEST_SKIP() << testing::RealNix::kSkipMessage;
    nix_ = std::make_unique<testing::RealNix>(bin, tmp_.path());
    key_ = std::make_unique<SecretKey>(*SecretKey::Parse(testing::GoldenLine("castor-test-1.sk")));
  }

  // A file:// cache holding `info`'s NAR (rendered from castore), compressed
  // with `c`; returns the cache directory.
  std::string WriteCache(const std::string& name, Compression c, const PathInfo& info) {
    std::string cache = tmp_ / name;
    std::filesystem::create_directories(cache + "/nar");
    WriteFile(cache + "/nix-cache-info", "StoreDir: /nix/store\n");
    // Render straight into the compressor, as the HTTP cache will.
    StringSink compressed;
    CodecSink codec(*MakeCompressor(c), compressed);
    auto summary = RenderNar(blobs_, dirs_, info.node(), codec);
    EXPECT_TRUE(summary.ok()) << summary.status();
    EXPECT_TRUE(codec.Close().ok());
    NixHash file_hash = NixHash::Of(HashAlgo::kSha256, compressed.str());
    std::string url = absl::StrCat("nar/", file_hash.DigestNixBase32(), ".nar",
                                   ToAbslView(CompressionExtension(c)));
    WriteFile(cache + "/" + url, compressed.str());
    NarInfo narinfo =
        info.ToNarInfo(url, std::string(CompressionName(c)), file_hash, compressed.str().size());
    WriteFile(absl::StrCat(cache, "/", info.store_path().HashPart(), ".narinfo"), narinfo.Render());
    return cache;
  }

  // The path info of `tree` imported into castore, under a made-up store
  // path, signed with `signer`.
  PathInfo Import(const std::string& tree, const std::string& name, const SecretKey& signer) {
    auto imported = castore::ImportPath(blobs_, dirs_, tree);
    EXPECT_TRUE(imported.ok()) << imported.status();
    auto summary = CalculateNar(blobs_, dirs_, imported->node);
    EXPECT_TRUE(summary.ok()) << summary.status();
    std::string digest = NixHash::Of(HashAlgo::kSha256, name).digest().substr(0, 20);
    auto info = PathInfo::Create({
        .store_path = *StorePath::FromDigestAndName(digest, name),
        .node = imported->node,
        .nar_size = summary->nar_size,
        .nar_sha256 = summary->nar_sha256,
    });
    EXPECT_TRUE(info.ok()) << info.status();
    return info->WithSignature(signer);
  }

  std::string MakeTree(const std::string& name) {
    std::string root = tmp_ / name;
    MakeDir(root);
    MakeDir(root + "/bin");
    WriteFile(root + "/bin/hello", "#!/bin/sh\necho hello\n", 0755);
    WriteFile(root + "/empty", "");
    MakeDir(root + "/share");
    WriteFile(root + "/share/data", std::string(300000, 'd') + name);
    EXPECT_EQ(symlink("bin/hello", (root + "/link").c_str()), 0);
    return root;
  }

  castore::testing::RunResult Copy(const std::string& cache, const PathInfo& info,
                                   const std::string& store) {
    return nix_->Run("nix", {"copy", "--store", store, "--from", "file://" + cache, "--option",
                             "trusted-public-keys", testing::GoldenLine("castor-test-1.pk"),
                             info.store_path().ToAbsolutePath()});
  }

  TempDir tmp_;
  std::unique_ptr<testing::RealNix> nix_;
  std::unique_ptr<SecretKey> key_;
  castore::MemoryBlobService blobs_;
  castore::MemoryDirectoryService dirs_;
};

TEST_F(NixCacheTest, NixSubstitutesFromACacheCastorWrote) {
  for (Compression c : kAll) {
    std::string name = absl::StrCat("castor-cache-", ToAbslView(CompressionName(c)));
    SCOPED_TRACE(name);
    std::string tree = MakeTree(name);
    PathInfo info = Import(tree, name, *key_);
    std::string cache = WriteCache(name + "-cache", c, info);
    std::string store = tmp_ / (name + "-store");
    auto r = Copy(cache, info, store);
    ASSERT_EQ(r.code, 0) << r.err;
    // The path landed in Nix's store with the tree's contents.
    std::string landed = store + info.store_path().ToAbsolutePath();
    EXPECT_EQ(DescribeTree(landed), DescribeTree(tree));
    // And Nix recorded castor's NAR hash and signature.
    auto q = nix_->Run(
        "nix", {"path-info", "--store", store, "--json", info.store_path().ToAbsolutePath()});
    ASSERT_EQ(q.code, 0) << q.err;
    EXPECT_NE(q.out.find(info.nar_sha256().ToSri()), std::string::npos) << q.out;
    EXPECT_NE(q.out.find(info.signatures()[0].ToString()), std::string::npos) << q.out;
  }
}

TEST_F(NixCacheTest, NixRefusesACacheSignedByAnUntrustedKey) {
  auto stranger = SecretKey::Generate("castor-test-1");  // right name, wrong key
  ASSERT_TRUE(stranger.ok());
  std::string tree = MakeTree("untrusted");
  PathInfo info = Import(tree, "untrusted", *stranger);
  std::string cache = WriteCache("untrusted-cache", Compression::kXz, info);
  auto r = Copy(cache, info, tmp_ / "untrusted-store");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("lacks a valid signature"), std::string::npos) << r.err;
  EXPECT_FALSE(
      std::filesystem::exists(tmp_ / "untrusted-store" + info.store_path().ToAbsolutePath()));
  // The same path signed with the trusted key goes through: the signature
  // was the only difference.
  PathInfo trusted = Import(tree, "untrusted", *key_);
  std::string good_cache = WriteCache("trusted-cache", Compression::kXz, trusted);
  auto ok = Copy(good_cache, trusted, tmp_ / "untrusted-store");
  EXPECT_EQ(ok.code, 0) << ok.err;
}

TEST_F(NixCacheTest, KeysNixGeneratesParseAndSignLikeNix) {
  std::string sk_file = tmp_ / "fresh.sk", pk_file = tmp_ / "fresh.pk";
  auto r = nix_->Run("nix-store", {"--generate-binary-cache-key", "fresh-key-1", sk_file, pk_file});
  ASSERT_EQ(r.code, 0) << r.err;
  auto sk = SecretKey::Parse(castore::testing::SlurpFile(sk_file));
  ASSERT_TRUE(sk.ok()) << sk.status();
  auto pk = PublicKey::Parse(castore::testing::SlurpFile(pk_file));
  ASSERT_TRUE(pk.ok()) << pk.status();
  EXPECT_EQ(sk->name(), "fresh-key-1");
  EXPECT_EQ(sk->public_key(), *pk);  // the public half we derive from the seed is Nix's
  EXPECT_EQ(sk->ToString(), castore::testing::SlurpFile(sk_file));
  Signature sig = sk->Sign("1;/nix/store/x;sha256:y;1;");
  EXPECT_TRUE(pk->Verify("1;/nix/store/x;sha256:y;1;", sig));
}

TEST_F(NixCacheTest, CastorReadsCachesNixWrote) {
  std::string store = tmp_ / "nix-store";
  auto made = nix_->Run("nix-instantiate",
                        {"--store", store, "--eval", "--read-write-mode", "-E",
                         "builtins.toFile \"b.txt\" \"uses ${builtins.toFile \"a.txt\" \"x\"}\""});
  ASSERT_EQ(made.code, 0) << made.err;
  std::string path = made.out.substr(1, made.out.find('"', 1) - 1);
  std::string key_file = tmp_ / "key.sk";
  WriteFile(key_file, testing::GoldenLine("castor-test-1.sk"));
  auto signed_r = nix_->Run(
      "nix", {"store", "sign", "--store", store, "--key-file", key_file, "--recursive", path});
  ASSERT_EQ(signed_r.code, 0) << signed_r.err;
  auto pk = PublicKey::Parse(testing::GoldenLine("castor-test-1.pk"));
  ASSERT_TRUE(pk.ok());
  for (Compression c : kAll) {
    SCOPED_TRACE(CompressionName(c));
    std::string cache = tmp_ / absl::StrCat("from-nix-", ToAbslView(CompressionName(c)));
    auto copied = nix_->Run(
        "nix",
        {"copy", "--store", store, "--to",
         absl::StrCat("file://", cache, "?compression=", ToAbslView(CompressionName(c))), path});
    ASSERT_EQ(copied.code, 0) << copied.err;
    int narinfos = 0;
    for (const auto& entry : std::filesystem::directory_iterator(cache)) {
      if (entry.path().extension() != ".narinfo") continue;
      ++narinfos;
      std::string text = castore::testing::SlurpFile(entry.path());
      auto info = NarInfo::Parse(text);
      ASSERT_TRUE(info.ok()) << info.status() << "\n" << text;
      EXPECT_EQ(info->Render(), text);
      EXPECT_EQ(info->compression, CompressionName(c));
      ASSERT_EQ(info->signatures.size(), 1u);
      EXPECT_EQ(info->CountValidSignatures({&*pk, 1}), 1u);
      EXPECT_EQ(key_->Sign(info->Fingerprint()), info->signatures[0]);
      // Stream the NAR file: file hash, decompression, NAR hash, parse.
      std::string file = castore::testing::SlurpFile(cache + "/" + info->url);
      StringSource raw(file);
      HashingSource file_hashing(HashAlgo::kSha256, raw);
      CodecSource decompressed(*MakeDecompressor(c), file_hashing, info->nar_size);
      HashingSource nar_hashing(HashAlgo::kSha256, decompressed);
      StringSink rerendered;
      NarWriter writer(rerendered);
      absl::Status parsed = ParseNar(nar_hashing, writer);
      ASSERT_TRUE(parsed.ok()) << parsed;
      ASSERT_TRUE(writer.Finish().ok());
      EXPECT_EQ(file_hashing.Finish(), *info->file_hash);
      EXPECT_EQ(file_hashing.bytes(), *info->file_size);
      EXPECT_EQ(nar_hashing.Finish(), info->nar_hash);
      EXPECT_EQ(nar_hashing.bytes(), info->nar_size);
      EXPECT_EQ(rerendered.str().size(), info->nar_size);
    }
    EXPECT_EQ(narinfos, 2);  // b.txt and the a.txt it refers to
  }
}

}  // namespace
}  // namespace castor::nix
