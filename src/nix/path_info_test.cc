// PathInfo: validation on construction, the tvix proto glue (every rule of
// path_info.h with the message that breaks it), narinfo conversion against
// Nix's golden narinfo and signature.
#include "nix/path_info.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "castore/testing/paths.h"
#include "castore/testing/subprocess.h"
#include "nix/testing/golden.h"
#include "tvix/castore/protos/castore.pb.h"
#include "tvix/store/protos/pathinfo.pb.h"

namespace castor::nix {
namespace {

StorePath P(std::string_view base) { return *StorePath::FromBaseName(base); }

PathInfo::Fields GoodFields() {
  return PathInfo::Fields{
      .store_path = P("fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden"),
      .node = castore::FileNode{castore::B3Digest::Of("x"), 1, true},
      .references = {P("p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt")},
      .nar_size = 168,
      .nar_sha256 = *NixHash::Parse("sha256:1gd377icjbkzz34xji3mc9niji1ar2yqixsrmwj3yhqvcy49m4v3"),
      .signatures = {},
      .deriver = P("wzz4wisav04vzbcxiziikswfr13f4fyb-castor-golden.drv"),
      .ca = *ContentAddress::Parse(
          "fixed:r:sha256:160ic54vj08glqmhkp2nxwk6xf77br9djgfzb11m168kmxy8hlkx"),
  };
}

TEST(PathInfo, ProtoRoundTripKeepsEverything) {
  auto key = SecretKey::Parse(
      "castor-test-1:584G5l8Ttky7aFVufbk0fjhV4I1ufSb4zuOlYyMtfLSKT8gyjtBNYWn"
      "hbMpWV0sCIrztsUqtWceEez1hJMsWMA==");
  ASSERT_TRUE(key.ok()) << key.status();
  auto info = PathInfo::Create(GoodFields());
  ASSERT_TRUE(info.ok()) << info.status();
  PathInfo signed_info = info->WithSignature(*key);
  tvix::store::v1::PathInfo proto = signed_info.ToProto();
  // The wire facts: the node carries the base name; references are digests.
  EXPECT_EQ(proto.node().file().name(), "fma7p3c4w798y0zxrb4pm1ppsaax9p43-castor-golden");
  ASSERT_EQ(proto.references_size(), 1);
  EXPECT_EQ(proto.references(0), std::string(signed_info.references()[0].digest_bytes()));
  EXPECT_EQ(proto.narinfo().reference_names(0), "p1lbzl2g6g4pz1wjm5270kllwzf0cd3r-dep.txt");
  EXPECT_EQ(proto.narinfo().deriver().name(), "castor-golden");  // ".drv" dropped
  EXPECT_EQ(proto.narinfo().ca().type(), tvix::store::v1::NARInfo::CA::NAR_SHA256);
  EXPECT_EQ(proto.narinfo().signatures(0).data().size(), 64u);
  auto back = PathInfo::Decode(signed_info.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == signed_info);
}

TEST(PathInfo, EveryContentAddressKindRoundTrips) {
  const std::vector<std::string> cas = {
      "text:sha256:1g18h4y43bfnpimyc8ligrvjilsiq3kajh53qag1n95h1a08gdvc",
      "fixed:sha1:cx2j60ggrnmqjrs54c0yzkdbi5kla8q1",
      "fixed:md5:0123456789abcdef0123456789abcdef",
      "fixed:r:sha512:" + std::string(128, '1'),
      "fixed:r:md5:0123456789abcdef0123456789abcdef",
  };
  for (const std::string& ca : cas) {
    SCOPED_TRACE(ca);
    PathInfo::Fields f = GoodFields();
    f.ca = *ContentAddress::Parse(ca);
    auto info = PathInfo::Create(f);
    ASSERT_TRUE(info.ok());
    auto back = PathInfo::FromProto(info->ToProto());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == *info);
  }
}

TEST(PathInfo, CreateChecksTheRules) {
  PathInfo::Fields f = GoodFields();
  f.nar_size = 0;
  EXPECT_EQ(PathInfo::Create(f).status().code(), absl::StatusCode::kInvalidArgument);
  f = GoodFields();
  f.nar_sha256 = NixHash::Of(HashAlgo::kSha1, "");
  EXPECT_EQ(PathInfo::Create(f).status().code(), absl::StatusCode::kInvalidArgument);
  f = GoodFields();
  f.references.push_back(f.references[0]);
  auto twice = PathInfo::Create(f);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(twice.status().message().find("listed twice"), std::string::npos);
  f = GoodFields();
  f.deriver = P("wzz4wisav04vzbcxiziikswfr13f4fyb-castor-golden");
  EXPECT_EQ(PathInfo::Create(f).status().code(), absl::StatusCode::kInvalidArgument);
  f = GoodFields();
  f.deriver = P("wzz4wisav04vzbcxiziikswfr13f4fyb-.drv");
  EXPECT_EQ(PathInfo::Create(f).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PathInfo, FromProtoRefusesEveryBrokenRule) {
  const tvix::store::v1::PathInfo good = PathInfo::Create(GoodFields())->ToProto();
  ASSERT_TRUE(PathInfo::FromProto(good).ok());
  struct Case {
    std::string name;
    std::function<void(tvix::store::v1::PathInfo&)> mutate;
    std::string_view message_part;
  };
  std::vector<Case> cases = {
      {"no node", [](auto& p) { p.clear_node(); }, "node is missing"},
      {"node name not a store path",
       [](auto& p) { p.mutable_node()->mutable_file()->set_name("castor-golden"); },
       "not a store path base name"},
      {"node name bad", [](auto& p) { p.mutable_node()->mutable_file()->set_name("a/b"); },
       "bad node"},
      {"no narinfo", [](auto& p) { p.clear_narinfo(); }, "narinfo is missing"},
      {"reference too short", [](auto& p) { p.set_references(0, "short"); }, "5 bytes"},
      {"more references than names", [](auto& p) { p.add_references(std::string(20, 'x')); },
       "2 references but 1 reference names"},
      {"reference name not matching",
       [](auto& p) {
         p.mutable_narinfo()->set_reference_names(0, "00000000000000000000000000000000-dep.txt");
       },
       "does not match reference digest"},
      {"reference name invalid",
       [](auto& p) { p.mutable_narinfo()->set_reference_names(0, "dep.txt"); }, "reference name 0"},
      {"nar hash short", [](auto& p) { p.mutable_narinfo()->set_nar_sha256("abc"); }, "NAR hash"},
      {"nar size 0", [](auto& p) { p.mutable_narinfo()->set_nar_size(0); }, "NAR size is 0"},
      {"signature short",
       [](auto& p) {
         auto* s = p.mutable_narinfo()->add_signatures();
         s->set_name("k");
         s->set_data("short");
       },
       "signature 0"},
      {"signature name empty",
       [](auto& p) {
         auto* s = p.mutable_narinfo()->add_signatures();
         s->set_data(std::string(64, 's'));
       },
       "signature 0"},
      {"deriver digest short",
       [](auto& p) { p.mutable_narinfo()->mutable_deriver()->set_digest("x"); }, "deriver"},
      {"deriver name bad", [](auto& p) { p.mutable_narinfo()->mutable_deriver()->set_name("a b"); },
       "deriver"},
      {"ca type unknown",
       [](auto& p) {
         p.mutable_narinfo()->mutable_ca()->set_type(
             static_cast<tvix::store::v1::NARInfo::CA::Hash>(42));
       },
       "unknown content address type 42"},
      {"ca digest wrong length",
       [](auto& p) {
         p.mutable_narinfo()->mutable_ca()->set_type(tvix::store::v1::NARInfo::CA::NAR_SHA1);
       },
       "content address"},
  };
  for (const Case& c : cases) {
    tvix::store::v1::PathInfo p = good;
    c.mutate(p);
    auto r = PathInfo::FromProto(p);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(ToAbslView(c.message_part)), std::string::npos)
        << c.name << ": " << r.status();
  }
  EXPECT_EQ(PathInfo::Decode("\xff\xff garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PathInfo, NarInfoConversionKeepsNixsSignatureValid) {
  auto narinfo = NarInfo::Parse(testing::GoldenFile("castor-golden.narinfo"));
  ASSERT_TRUE(narinfo.ok()) << narinfo.status();
  auto info = PathInfo::FromNarInfo(*narinfo, castore::FileNode{castore::B3Digest::Of("x"), 5});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->Fingerprint(), narinfo->Fingerprint());
  auto pk = PublicKey::Parse("castor-test-1:ik/IMo7QTWFp4WzKVldLAiK87bFKrVnHhHs9YSTLFjA=");
  ASSERT_TRUE(pk.ok());
  ASSERT_EQ(info->signatures().size(), 1u);
  EXPECT_TRUE(pk->Verify(info->Fingerprint(), info->signatures()[0]));
  // Through the proto and back to a narinfo: Nix's bytes again.
  auto back = PathInfo::Decode(info->Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  NarInfo rendered =
      back->ToNarInfo(narinfo->url, narinfo->compression, narinfo->file_hash, narinfo->file_size);
  EXPECT_EQ(rendered.Render(), testing::GoldenFile("castor-golden.narinfo"));
}

}  // namespace
}  // namespace castor::nix
