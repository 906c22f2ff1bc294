#include "castore/directory.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/escaping.h"
#include "castore/testing/paths.h"
#include "tvix/castore/protos/castore.pb.h"

namespace castor::castore {
namespace {

namespace pb = tvix::castore::v1;

nlohmann::json Vectors() {
  std::ifstream in(castor::castore::testing::TestDataDir() + "/castore.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

B3Digest Hex(const std::string& hex) { return *B3Digest::Parse(hex); }

Entry MakeEntry(const nlohmann::json& j) {
  auto name = *PathComponent::Create(j["name"].get<std::string>());
  std::string kind = j["kind"];
  if (kind == "dir") return {name, DirectoryNode{Hex(j["digest"]), j["size"].get<uint64_t>()}};
  if (kind == "file") {
    return {name,
            FileNode{Hex(j["digest"]), j["size"].get<uint64_t>(), j.value("executable", false)}};
  }
  return {name, SymlinkNode{*SymlinkTarget::Create(j["target"].get<std::string>())}};
}

TEST(Directory, ReproducesEveryReferenceVector) {
  auto v = Vectors();
  ASSERT_GE(v["directories"].size(), 6u);
  for (auto& [name, dj] : v["directories"].items()) {
    std::vector<Entry> entries;
    for (auto& e : dj["entries"]) entries.push_back(MakeEntry(e));
    auto dir = Directory::Create(entries);
    ASSERT_TRUE(dir.ok()) << name << ": " << dir.status();
    EXPECT_EQ(absl::BytesToHexString(dir->Encode()), dj["encoded_hex"].get<std::string>()) << name;
    EXPECT_EQ(dir->digest().ToHex(), dj["b3"].get<std::string>()) << name;
    EXPECT_EQ(dir->size(), dj["size"].get<uint64_t>()) << name;

    auto decoded = Directory::Decode(absl::HexStringToBytes(dj["encoded_hex"].get<std::string>()));
    ASSERT_TRUE(decoded.ok()) << name << ": " << decoded.status();
    EXPECT_EQ(decoded->digest(), dir->digest()) << name;
    EXPECT_EQ(decoded->size(), dir->size()) << name;
    EXPECT_EQ(decoded->entries().size(), entries.size()) << name;
  }
}

TEST(Directory, EmptyDirectoryHasDigestOfZeroBytes) {
  Directory empty;
  EXPECT_EQ(empty.digest(), EmptyDigest());
  EXPECT_EQ(empty.Encode(), "");
  EXPECT_EQ(empty.size(), 0u);
}

TEST(Directory, FindUsesExactNames) {
  auto d = *Directory::Create({
      {*PathComponent::Create("b"), FileNode{EmptyDigest(), 0, false}},
      {*PathComponent::Create("a"), DirectoryNode{EmptyDigest(), 0}},
      {*PathComponent::Create("c"), SymlinkNode{*SymlinkTarget::Create("/x")}},
  });
  ASSERT_EQ(d.entries().size(), 3u);
  EXPECT_EQ(d.entries()[0].name.str(), "a");
  EXPECT_EQ(d.entries()[2].name.str(), "c");
  ASSERT_NE(d.Find("b"), nullptr);
  EXPECT_EQ(NodeKind(d.Find("b")->node), "file");
  EXPECT_EQ(d.Find("bb"), nullptr);
  EXPECT_EQ(d.Find(""), nullptr);
  EXPECT_EQ(d.Find("A"), nullptr);
}

TEST(Directory, SortsNamesBytewiseWithHighBytesLast) {
  auto d = *Directory::Create({
      {*PathComponent::Create("\xc3\xa9"), FileNode{EmptyDigest(), 0, false}},
      {*PathComponent::Create("z"), FileNode{EmptyDigest(), 0, false}},
  });
  EXPECT_EQ(d.entries()[0].name.str(), "z");
}

// Helpers to build raw (possibly invalid) protobuf directories.
pb::DirectoryNode* AddDir(pb::Directory& d, std::string name, std::string digest,
                          uint64_t size = 0) {
  auto* n = d.add_directories();
  n->set_name(std::move(name));
  n->set_digest(std::move(digest));
  n->set_size(size);
  return n;
}
void AddFile(pb::Directory& d, std::string name, std::string digest = std::string(32, 'x')) {
  auto* n = d.add_files();
  n->set_name(std::move(name));
  n->set_digest(std::move(digest));
}
void AddLink(pb::Directory& d, std::string name, std::string target) {
  auto* n = d.add_symlinks();
  n->set_name(std::move(name));
  n->set_target(std::move(target));
}

void ExpectInvalid(const pb::Directory& d, const std::string& must_mention) {
  auto r = Directory::FromProto(d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find(must_mention), std::string::npos)
      << "message '" << r.status().message() << "' should mention " << must_mention;
  // Through bytes too.
  auto b = Directory::Decode(d.SerializeAsString());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
}

const std::string kDigest(32, 'd');

TEST(DirectoryValidation, RejectsUnsortedLists) {
  pb::Directory d;
  AddFile(d, "b");
  AddFile(d, "a");
  ExpectInvalid(d, "'a'");
  pb::Directory d2;
  AddDir(d2, "y", kDigest);
  AddDir(d2, "x", kDigest);
  ExpectInvalid(d2, "'x'");
  pb::Directory d3;
  AddLink(d3, "q", "t");
  AddLink(d3, "p", "t");
  ExpectInvalid(d3, "'p'");
}

TEST(DirectoryValidation, RejectsDuplicateNameWithinAList) {
  pb::Directory d;
  AddFile(d, "a");
  AddFile(d, "a");
  ExpectInvalid(d, "'a'");
}

TEST(DirectoryValidation, RejectsDuplicateNameAcrossLists) {
  pb::Directory d;
  AddDir(d, "a", kDigest);
  AddFile(d, "a");
  ExpectInvalid(d, "'a'");
  pb::Directory d2;
  AddFile(d2, "n");
  AddLink(d2, "n", "t");
  ExpectInvalid(d2, "'n'");
}

TEST(DirectoryValidation, RejectsBadNames) {
  for (std::string bad : {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
                          std::string("a\0b", 3), std::string(256, 'n')}) {
    pb::Directory d;
    AddFile(d, bad);
    auto r = Directory::FromProto(d);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad.size();
    EXPECT_NE(r.status().message().find("entry"), std::string::npos) << r.status();
  }
  pb::Directory ok;
  AddFile(ok, std::string(255, 'n'));
  EXPECT_TRUE(Directory::FromProto(ok).ok());
}

TEST(DirectoryValidation, RejectsBadSymlinkTargets) {
  for (std::string bad : {std::string(""), std::string("a\0b", 3), std::string(4096, 't')}) {
    pb::Directory d;
    AddLink(d, "l", bad);
    ExpectInvalid(d, "'l'");
  }
  pb::Directory ok;
  AddLink(ok, "l", std::string(4095, 't'));
  EXPECT_TRUE(Directory::FromProto(ok).ok());
}

TEST(DirectoryValidation, RejectsDigestsOfWrongLength) {
  for (size_t len : {31u, 33u, 0u}) {
    pb::Directory d;
    AddFile(d, "f", std::string(len, 'x'));
    ExpectInvalid(d, "'f'");
    pb::Directory d2;
    AddDir(d2, "s", std::string(len, 'x'));
    ExpectInvalid(d2, "'s'");
  }
}

TEST(DirectoryValidation, RejectsSizeOverflow) {
  pb::Directory d;
  AddDir(d, "a", kDigest, UINT64_MAX - 1);
  AddDir(d, "b", kDigest, 5);
  ExpectInvalid(d, "overflow");
  pb::Directory single;
  AddDir(single, "a", kDigest, UINT64_MAX);
  ExpectInvalid(single, "'a'");
}

TEST(DirectoryValidation, RejectsTruncatedAndGarbageBytes) {
  pb::Directory d;
  AddFile(d, "file");
  std::string bytes = d.SerializeAsString();
  auto truncated = Directory::Decode(bytes.substr(0, bytes.size() - 3));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
  auto garbage = Directory::Decode(std::string("\xff\xff\xff\xff\xff", 5));
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.status().message().find("Directory"), std::string::npos);
}

TEST(Node, RoundTripsThroughBytes) {
  Entry e{*PathComponent::Create("root"), FileNode{B3Digest::Of(std::string_view("x")), 1, true}};
  auto back = DecodeEntry(EncodeEntry(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, e);
  EXPECT_EQ(DecodeEntry("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace castor::castore
