// RenderNar against the real Nix: trees on disk are dumped with
// `nix-store --dump` and imported into a memory castore; the rendered NAR
// must be byte-identical, and NarReader must read Nix's NAR back into the
// same tree. Then what a render does with missing, corrupt and too deep
// stores.
#include "nix/castore_nar.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "castore/testing/subprocess.h"
#include "nix/nar_reader.h"
#include "nix/nar_writer.h"
#include "nix/testing/real_nix.h"

namespace castor::nix {
namespace {

using castore::testing::DescribeTree;
using castore::testing::MakeDir;
using castore::testing::TempDir;
using castore::testing::WriteFile;

// Builds the same description as DescribeTree from NAR events.
class TreeDescriber : public NarVisitor {
 public:
  absl::Status StartDirectory() override {
    lines.push_back(path_ + " dir");
    open_.push_back(path_);
    return absl::OkStatus();
  }
  absl::Status EntryName(std::string_view name) override {
    path_ = open_.back().empty() ? std::string(name)
                                 : absl::StrCat(open_.back(), "/", ToAbslView(name));
    return absl::OkStatus();
  }
  absl::Status EndDirectory() override {
    open_.pop_back();
    return absl::OkStatus();
  }
  absl::Status StartFile(uint64_t, bool executable) override {
    executable_ = executable;
    contents_.clear();
    return absl::OkStatus();
  }
  absl::Status FileData(std::string_view data) override {
    contents_.append(data);
    return absl::OkStatus();
  }
  absl::Status EndFile() override {
    lines.push_back(path_ + " file " + (executable_ ? "x " : "- ") + contents_);
    return absl::OkStatus();
  }
  absl::Status Symlink(std::string_view target) override {
    lines.push_back(path_ + " symlink " + std::string(target));
    return absl::OkStatus();
  }

  std::vector<std::string> lines;

 private:
  std::string path_;               // of the node whose events come next
  std::vector<std::string> open_;  // paths of the open directories
  bool executable_ = false;
  std::string contents_;
};

class CastoreNarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string bin = testing::RealNix::BinDir();
    if (bin.empty()) GTEST_SKIP() << testing::RealNix::kSkipMessage;
    nix_ = std::make_unique<testing::RealNix>(bin, tmp_.path());
  }

  // `nix-store --dump path`.
  std::string NixDump(const std::string& path) {
    auto r = nix_->Run("nix-store", {"--dump", path});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }

  castore::Node Import(const std::string& path) {
    auto r = castore::ImportPath(blobs_, dirs_, path);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->node : castore::Node{};
  }

  // Renders `path` both ways and compares; returns Nix's NAR.
  std::string ExpectSameNar(const std::string& path) {
    std::string want = NixDump(path);
    EXPECT_FALSE(want.empty());
    castore::Node node = Import(path);
    StringSink sink;
    auto summary = RenderNar(blobs_, dirs_, node, sink);
    EXPECT_TRUE(summary.ok()) << summary.status();
    EXPECT_TRUE(sink.str() == want)
        << "castor's NAR (" << sink.str().size() << " bytes) differs from nix-store --dump ("
        << want.size() << " bytes) for " << path;
    if (summary.ok()) {
      EXPECT_EQ(summary->nar_size, want.size());
      EXPECT_EQ(summary->nar_sha256, NixHash::Of(HashAlgo::kSha256, want));
    }
    auto calculated = CalculateNar(blobs_, dirs_, node);
    EXPECT_TRUE(calculated.ok() && summary.ok() && calculated->nar_sha256 == summary->nar_sha256);
    return want;
  }

  std::string MakeTree() {
    std::string root = tmp_ / "tree";
    MakeDir(root);
    MakeDir(root + "/bin");
    WriteFile(root + "/bin/tool", "#!/bin/sh\necho hi\n", 0755);
    WriteFile(root + "/empty", "");
    WriteFile(root + "/exec-empty", "", 0755);
    MakeDir(root + "/emptydir");
    EXPECT_EQ(symlink("bin/tool", (root + "/link").c_str()), 0);
    EXPECT_EQ(symlink("/nix/store/dangling-target", (root + "/abs").c_str()), 0);
    MakeDir(root + "/nested");
    MakeDir(root + "/nested/a");
    MakeDir(root + "/nested/a/b");
    WriteFile(root + "/nested/a/b/deep.txt", "deep\n");
    // Names whose order differs between bytewise and other collations.
    for (const char* n : {"B", "a", "a-b", "a.b", "a_b", "\xc3\xa9t\xc3\xa9", ".hidden", "Z9"}) {
      WriteFile(root + "/" + n, n);
    }
    WriteFile(root + "/" + std::string(255, 'n'), "long name");
    // Bigger than RenderNar's in-memory limit (streams) and not a multiple
    // of 8 (padding); pseudo-random so no two blocks dedup.
    std::string big(5 * 1024 * 1024 + 3, '\0');
    uint64_t x = 88172645463325252ull;
    for (char& c : big) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x);
    }
    WriteFile(root + "/big.bin", big, 0755);
    return root;
  }

  castore::MemoryBlobService blobs_;
  castore::MemoryDirectoryService dirs_;
  TempDir tmp_;
  std::unique_ptr<testing::RealNix> nix_;
};

TEST_F(CastoreNarTest, DirectoryTreeIsByteIdenticalToNixStoreDump) { ExpectSameNar(MakeTree()); }

TEST_F(CastoreNarTest, RootFileExecutableAndSymlinkAreByteIdentical) {
  WriteFile(tmp_ / "plain", "plain\n");
  WriteFile(tmp_ / "tool", "#!/bin/sh\n", 0755);
  WriteFile(tmp_ / "nothing", "");
  ASSERT_EQ(symlink("some/target", (tmp_ / "link").c_str()), 0);
  MakeDir(tmp_ / "hollow");
  for (const char* p : {"plain", "tool", "nothing", "link", "hollow"}) {
    SCOPED_TRACE(p);
    ExpectSameNar(tmp_ / p);
  }
}

TEST_F(CastoreNarTest, ReaderReadsNixsNarBackIntoTheSameTree) {
  std::string root = MakeTree();
  std::string nar = NixDump(root);
  TreeDescriber describer;
  absl::Status s = ParseNar(nar, describer);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(describer.lines, DescribeTree(root));
  // And writing the events again gives Nix's bytes back.
  StringSink out;
  NarWriter writer(out);
  ASSERT_TRUE(ParseNar(nar, writer).ok());
  ASSERT_TRUE(writer.Finish().ok());
  EXPECT_TRUE(out.str() == nar);
}

// Render tests that need no Nix.
class RenderNarTest : public ::testing::Test {
 protected:
  castore::MemoryBlobService blobs_;
  castore::MemoryDirectoryService dirs_;

  castore::Entry FileEntry(std::string_view name, std::string_view contents) {
    auto d = castore::PutBlob(blobs_, contents);
    CASTOR_CHECK(d.ok());
    return {*castore::PathComponent::Create(name), castore::FileNode{*d, contents.size(), false}};
  }
  castore::Node PutDir(std::vector<castore::Entry> entries) {
    auto d = castore::Directory::Create(std::move(entries));
    CASTOR_CHECK(d.ok());
    CASTOR_CHECK(dirs_.Put(*d).ok());
    return castore::DirectoryNode{d->digest(), d->size()};
  }
};

TEST_F(RenderNarTest, MissingBlobIsNotFoundNamingThePath) {
  castore::FileNode ghost{castore::B3Digest::Of("never stored"), 12, false};
  castore::Node root =
      PutDir({FileEntry("a", "x"), {*castore::PathComponent::Create("ghost"), ghost}});
  StringSink sink;
  auto r = RenderNar(blobs_, dirs_, root, sink);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("'/ghost'"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find(ghost.digest.ToB3()), std::string::npos) << r.status();
}

TEST_F(RenderNarTest, MissingDirectoryIsNotFound) {
  castore::Node root = castore::DirectoryNode{castore::B3Digest::Of("nope"), 0};
  StringSink sink;
  EXPECT_EQ(RenderNar(blobs_, dirs_, root, sink).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RenderNarTest, CorruptSmallBlobFailsBeforeAnyOfItIsSent) {
  std::string good = "good contents";
  castore::B3Digest digest = castore::B3Digest::Of(good);
  std::string evil = "EVIL contents";  // same size
  blobs_.Insert(digest, std::make_shared<const std::string>(evil));
  castore::Node root = PutDir(
      {{*castore::PathComponent::Create("f"), castore::FileNode{digest, good.size(), false}}});
  StringSink sink;
  auto r = RenderNar(blobs_, dirs_, root, sink);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("'/f'"), std::string::npos) << r.status();
  EXPECT_EQ(sink.str().find("EVIL"), std::string::npos);
}

TEST_F(RenderNarTest, CorruptLargeBlobFailsTheRender) {
  std::string good(NarWriter::kBufferSize * 3, 'g');
  castore::B3Digest digest = castore::B3Digest::Of(good);
  std::string evil = good;
  evil.replace(evil.size() - 4, 4, "EVIL");  // only the end differs
  blobs_.Insert(digest, std::make_shared<const std::string>(evil));
  castore::Node root = castore::FileNode{digest, good.size(), false};
  NarRenderOptions streaming{.verify_in_memory_limit = 1024};
  {
    StringSink sink;
    auto r = RenderNar(blobs_, dirs_, root, sink, streaming);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(r.status().message().find("the NAR sent so far is invalid"), std::string::npos)
        << r.status();
  }
  {
    StringSink sink;
    NarRenderOptions first = streaming;
    first.verify_large_files_first = true;
    auto r = RenderNar(blobs_, dirs_, root, sink, first);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(sink.str().find("EVIL"), std::string::npos);
    EXPECT_EQ(sink.str().find("ggg"), std::string::npos);
  }
}

TEST_F(RenderNarTest, BlobOfTheWrongSizeIsDataLoss) {
  auto d = castore::PutBlob(blobs_, "four");
  ASSERT_TRUE(d.ok());
  castore::Node root = castore::FileNode{*d, 5, false};
  StringSink sink;
  auto r = RenderNar(blobs_, dirs_, root, sink);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("has 4 bytes"), std::string::npos) << r.status();
}

TEST_F(RenderNarTest, DirectorySizeMismatchIsDataLoss) {
  castore::Node inner = PutDir({FileEntry("x", "1")});
  auto node = std::get<castore::DirectoryNode>(inner);
  node.size += 1;
  StringSink sink;
  EXPECT_EQ(RenderNar(blobs_, dirs_, node, sink).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(RenderNarTest, DepthLimitMatchesTheReaders) {
  castore::DirectoryNode ok = castore::testing::PutDeepChain(dirs_, castore::kMaxTreeDepth);
  StringSink sink;
  auto r = RenderNar(blobs_, dirs_, ok, sink);
  ASSERT_TRUE(r.ok()) << r.status();
  TreeDescriber describer;
  EXPECT_TRUE(ParseNar(sink.str(), describer).ok());

  castore::DirectoryNode deep = castore::testing::PutDeepChain(dirs_, castore::kMaxTreeDepth + 1);
  StringSink sink2;
  auto r2 = RenderNar(blobs_, dirs_, deep, sink2);
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r2.status().message().find("levels deep"), std::string::npos) << r2.status();
}

TEST_F(RenderNarTest, SinkErrorsStopTheRender) {
  class Failing : public ByteSink {
    absl::Status Write(std::string_view) override { return absl::UnavailableError("gone"); }
  } failing;
  castore::Node root = PutDir({FileEntry("a", std::string(1 << 20, 'a'))});
  EXPECT_EQ(RenderNar(blobs_, dirs_, root, failing).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace castor::nix
