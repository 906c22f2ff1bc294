// narinfo, content addresses and signatures against golden files Nix 2.8
// wrote (tests/data/nix, see its README): parse, render back byte for
// byte, fingerprint, verify Nix's signatures, sign identically.
#include "nix/narinfo.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "nix/content_address.h"
#include "nix/signing.h"
#include "nix/testing/golden.h"

namespace castor::nix {
namespace {

TEST(NarInfo, ParsesNixsNarinfoAndRendersItBackByteForByte) {
  for (const char* file : {"castor-golden.narinfo", "b-txt.narinfo"}) {
    SCOPED_TRACE(file);
    std::string text = testing::GoldenFile(file);
    ASSERT_FALSE(text.empty());
    auto info = NarInfo::Parse(text);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->Render(), text);
  }
}

TEST(NarInfo, ParsesEveryField) {
  auto info = NarInfo::Parse(testing::GoldenFile("castor-golden.narinfo"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->store_path.ToAbsolutePath(),
            "/nix/store/fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden");
  EXPECT_EQ(info->url, "nar/1gd377icjbkzz34xji3mc9niji1ar2yqixsrmwj3yhqvcy49m4v3.nar");
  EXPECT_EQ(info->compression, "none");
  ASSERT_TRUE(info->file_hash.has_value());
  EXPECT_EQ(info->file_hash->ToNixBase32(),
            "sha256:1gd377icjbkzz34xji3mc9niji1ar2yqixsrmwj3yhqvcy49m4v3");
  EXPECT_EQ(info->file_size, 168u);
  EXPECT_EQ(info->nar_hash, *info->file_hash);  // uncompressed
  EXPECT_EQ(info->nar_size, 168u);
  ASSERT_EQ(info->references.size(), 1u);
  EXPECT_EQ(info->references[0].BaseName(), "p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt");
  ASSERT_TRUE(info->deriver.has_value());
  EXPECT_EQ(info->deriver->BaseName(), "wzz4wisav04vzbcxiziikswfr13f4fyb-castor-golden.drv");
  ASSERT_EQ(info->signatures.size(), 1u);
  EXPECT_EQ(info->signatures[0].key_name(), "castor-test-1");
  EXPECT_FALSE(info->ca.has_value());

  auto b = NarInfo::Parse(testing::GoldenFile("b-txt.narinfo"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->compression, "xz");
  ASSERT_TRUE(b->ca.has_value());
  EXPECT_EQ(b->ca->method(), ContentAddress::Method::kText);
  EXPECT_EQ(b->ca->ToString(), "text:sha256:1g18h4y43bfnpimyc8ligrvjilsiq3kajh53qag1n95h1a08gdvc");
}

TEST(NarInfo, FingerprintHasNixsLayout) {
  auto info = NarInfo::Parse(testing::GoldenFile("castor-golden.narinfo"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->Fingerprint(),
            "1;/nix/store/fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden;"
            "sha256:1gd377icjbkzz34xji3mc9niji1ar2yqixsrmwj3yhqvcy49m4v3;168;"
            "/nix/store/p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt");
}

TEST(NarInfo, FingerprintSortsReferences) {
  auto a = *StorePath::FromBaseName("00000000000000000000000000000000-a");
  auto b = *StorePath::FromBaseName("11111111111111111111111111111111-b");
  auto self = *StorePath::FromBaseName("22222222222222222222222222222222-self");
  NixHash h = NixHash::Of(HashAlgo::kSha256, "x");
  std::vector<StorePath> refs = {self, b, a};
  EXPECT_EQ(Fingerprint(self, h, 5, refs),
            absl::StrCat("1;/nix/store/22222222222222222222222222222222-self;", h.ToNixBase32(),
                         ";5;/nix/store/00000000000000000000000000000000-a,/nix/store/"
                         "11111111111111111111111111111111-b,/nix/store/"
                         "22222222222222222222222222222222-self"));
  EXPECT_EQ(Fingerprint(self, h, 5, {}, "/s"),
            absl::StrCat("1;/s/22222222222222222222222222222222-self;", h.ToNixBase32(), ";5;"));
}

TEST(Signing, VerifiesNixsSignaturesAndSignsIdentically) {
  auto sk = SecretKey::Parse(testing::GoldenLine("castor-test-1.sk"));
  ASSERT_TRUE(sk.ok()) << sk.status();
  auto pk = PublicKey::Parse(testing::GoldenLine("castor-test-1.pk"));
  ASSERT_TRUE(pk.ok()) << pk.status();
  EXPECT_EQ(sk->public_key(), *pk);
  EXPECT_EQ(pk->ToString(), testing::GoldenLine("castor-test-1.pk"));
  EXPECT_EQ(sk->ToString(), testing::GoldenLine("castor-test-1.sk"));
  for (const char* file : {"castor-golden.narinfo", "b-txt.narinfo"}) {
    SCOPED_TRACE(file);
    auto info = NarInfo::Parse(testing::GoldenFile(file));
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info->signatures.size(), 1u);
    EXPECT_TRUE(pk->Verify(info->Fingerprint(), info->signatures[0]));
    EXPECT_EQ(info->CountValidSignatures({&*pk, 1}), 1u);
    // Ed25519 is deterministic: our signature is Nix's.
    EXPECT_EQ(sk->Sign(info->Fingerprint()), info->signatures[0]);
    NarInfo resigned = *info;
    resigned.signatures.clear();
    resigned.Sign(*sk);
    EXPECT_EQ(resigned.Render(), testing::GoldenFile(file));
  }
}

TEST(Signing, RejectsTamperedFingerprintsAndForeignKeys) {
  auto pk = PublicKey::Parse(testing::GoldenLine("castor-test-1.pk"));
  auto info = NarInfo::Parse(testing::GoldenFile("castor-golden.narinfo"));
  ASSERT_TRUE(pk.ok() && info.ok());
  NarInfo tampered = *info;
  tampered.nar_size += 1;
  EXPECT_EQ(tampered.CountValidSignatures({&*pk, 1}), 0u);
  tampered = *info;
  tampered.references.clear();
  EXPECT_EQ(tampered.CountValidSignatures({&*pk, 1}), 0u);
  // Same key bytes under another name: Nix matches signatures by key name.
  auto renamed = PublicKey::Parse("other-1:" + testing::GoldenLine("castor-test-1.pk").substr(14));
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(info->CountValidSignatures({&*renamed, 1}), 0u);
  // A flipped bit in the signature.
  Signature sig = info->signatures[0];
  std::string bytes(sig.bytes_view());
  bytes[10] ^= 1;
  EXPECT_FALSE(pk->Verify(info->Fingerprint(), *Signature::Create(sig.key_name(), bytes)));
}

TEST(Signing, GeneratedKeysRoundTrip) {
  auto sk = SecretKey::Generate("cache.example.org-1");
  ASSERT_TRUE(sk.ok()) << sk.status();
  auto again = SecretKey::Parse(sk->ToString());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->public_key(), sk->public_key());
  Signature sig = sk->Sign("message");
  EXPECT_TRUE(sk->public_key().Verify("message", sig));
  EXPECT_FALSE(sk->public_key().Verify("messagE", sig));
  EXPECT_EQ(Signature::Parse(sig.ToString()).value(), sig);
}

TEST(Signing, RejectsMalformedKeysWithoutEchoingSecrets) {
  std::string sk = testing::GoldenLine("castor-test-1.sk");
  // Public half altered: a damaged key.
  std::string damaged = sk;
  damaged[damaged.size() - 5] = damaged[damaged.size() - 5] == 'A' ? 'B' : 'A';
  auto r = SecretKey::Parse(damaged);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().find(sk.substr(14, 20)), std::string::npos) << r.status();
  for (std::string_view bad :
       {"", "nocolon", ":AAAA", "name:not base64", "na me:AAAA", "name:AAAA"}) {
    EXPECT_EQ(SecretKey::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(PublicKey::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(Signature::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  // A public key is not a secret key and the reverse.
  EXPECT_FALSE(SecretKey::Parse(testing::GoldenLine("castor-test-1.pk")).ok());
  EXPECT_FALSE(PublicKey::Parse(sk).ok());
}

TEST(ContentAddress, ParsesAndPrintsNixsForms) {
  for (std::string_view text :
       {"text:sha256:1g18h4y43bfnpimyc8ligrvjilsiq3kajh53qag1n95h1a08gdvc",
        "fixed:r:sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx",
        "fixed:sha1:cx2j60ggrnmqjrs54c0yzkdbi5kla8q1"}) {
    auto ca = ContentAddress::Parse(text);
    ASSERT_TRUE(ca.ok()) << ca.status();
    EXPECT_EQ(ca->ToString(), text);
  }
  auto hex = ContentAddress::Parse(
      "fixed:r:sha256:7d52887caf1399504358df3dd9525ee7b86e26ef56dc092ba60f01b949611198");
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(hex->ToString(), "fixed:r:sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx");
  EXPECT_EQ(hex->method(), ContentAddress::Method::kNixArchive);
  for (std::string_view bad :
       {"", "text:", "text:sha1:cx2j60ggrnmqjrs54c0yzkdbi5kla8q1",
        "fixed:r:sha256-fVKIfK8TmVBDWN892VJe57huJu9W3Akrpg8BuUlhEZg=",
        "fixed:r:sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hl",
        "flat:sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx"}) {
    EXPECT_EQ(ContentAddress::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

TEST(NarInfo, RefusesMalformedInput) {
  const std::string good = testing::GoldenFile("castor-golden.narinfo");
  struct Case {
    std::string text;
    std::string_view message_part;
  };
  std::vector<Case> cases = {
      {good.substr(0, good.size() - 1), "missing newline"},
      {Replace(good, "StorePath: ", "StorePath:"), "expected '<field>: <value>'"},
      {Replace(good, "NarSize: 168\n", ""), "no NarSize field"},
      {Replace(good, "NarSize: 168", "NarSize: 0"), "must not be 0"},
      {Replace(good, "NarSize: 168", "NarSize: 0168"), "invalid number"},
      {Replace(good, "NarSize: 168", "NarSize: 18446744073709551616"), "too large"},
      {Replace(good, "NarSize: 168", "NarSize: -1"), "invalid number"},
      {Replace(good, "URL: ", "StorePath: /nix/store/fma7p3c4w798y0zxrb4pm1ppsaax9p43-x\nURL: "),
       "appears more than once"},
      {Replace(good, "NarHash: sha256:", "NarHash: sha1:"), "field NarHash"},
      {Replace(good, "/nix/store/fma7", "/gnu/store/fma7"), "field StorePath"},
      {Replace(good, "References: p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt",
               "References: p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt "
               "p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt"),
       "twice"},
      {Replace(good, "References: p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt",
               "References: /nix/store/p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt"),
       "field References"},
      {Replace(good, "Sig: castor-test-1:", "Sig: castor-test-1:AAAA"), "field Sig"},
      {Replace(good, "Deriver: wzz4", "Deriver: /nix/store/wzz4"), "field Deriver"},
      {good + "CA: nonsense\n", "field CA"},
      {good + "\n", "expected '<field>: <value>'"},
  };
  for (const Case& c : cases) {
    auto r = NarInfo::Parse(c.text);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.message_part;
    EXPECT_NE(r.status().message().find(ToAbslView(c.message_part)), std::string::npos)
        << r.status();
  }
}

TEST(NarInfo, OptionalFieldsAndDefaults) {
  std::string minimal =
      "StorePath: /nix/store/fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden\n"
      "URL: nar/x.nar.bz2\n"
      "NarHash: sha256:1gd377icjbkzz34xji3mc9niji1ar2yqixsrmwj3yhqvcy49m4v3\n"
      "NarSize: 168\n"
      "Deriver: unknown-deriver\n"
      "FutureField: whatever\n";
  auto info = NarInfo::Parse(minimal);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->compression, "bzip2");  // Nix's default
  EXPECT_FALSE(info->deriver.has_value());
  EXPECT_FALSE(info->file_hash.has_value());
  EXPECT_TRUE(info->references.empty());
  EXPECT_EQ(info->Render(),
            "StorePath: /nix/store/fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden\n"
            "URL: nar/x.nar.bz2\n"
            "Compression: bzip2\n"
            "NarHash: sha256:1gd377icjbkzz34xji3mc9niji1ar2yqixsrmwj3yhqvcy49m4v3\n"
            "NarSize: 168\n"
            "References: \n");
}

TEST(NarInfo, StoreDirIsConfigurable) {
  std::string text =
      Replace(testing::GoldenFile("b-txt.narinfo"), "/nix/store/", "/tmp/other store/");
  EXPECT_FALSE(NarInfo::Parse(text).ok());
  auto info = NarInfo::Parse(text, "/tmp/other store");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->Render("/tmp/other store"), text);
}

}  // namespace
}  // namespace castor::nix
