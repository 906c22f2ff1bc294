// ImportNar: NAR bytes into castore as they stream, checked by rendering the
// imported node back (RenderNar must give the same bytes, and the summary
// the NAR's own size and SHA-256), plus what an import does with bad input
// and failing services.
#include "nix/nar_import.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/blob_sink.h"
#include "castore/testing/faulty_services.h"
#include "nix/castore_nar.h"
#include "nix/nar_writer.h"

namespace castor::nix {
namespace {

// A NAR built from events (NarWriter checks them).
class NarBuilder {
 public:
  NarBuilder() : writer_(sink_) {}
  NarBuilder& Dir() { return Check(writer_.StartDirectory()); }
  NarBuilder& End() { return Check(writer_.EndDirectory()); }
  NarBuilder& Name(std::string_view n) { return Check(writer_.EntryName(n)); }
  NarBuilder& File(std::string_view contents, bool executable = false) {
    Check(writer_.StartFile(contents.size(), executable));
    if (!contents.empty()) Check(writer_.FileData(contents));
    return Check(writer_.EndFile());
  }
  NarBuilder& Link(std::string_view target) { return Check(writer_.Symlink(target)); }
  std::string Finish() {
    Check(writer_.Finish());
    return sink_.Take();
  }

 private:
  NarBuilder& Check(absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    return *this;
  }
  StringSink sink_;
  NarWriter writer_;
};

std::string SampleTree() {
  return NarBuilder()
      .Dir()
      .Name("bin")
      .Dir()
      .Name("hello")
      .File("#!/bin/sh\necho hello\n", true)
      .End()
      .Name("empty")
      .File("")
      .Name("emptydir")
      .Dir()
      .End()
      .Name("link")
      .Link("bin/hello")
      .Name("share")
      .Dir()
      .Name("a")
      .Dir()
      .Name("b")
      .Dir()
      .Name("deep")
      .File("deep file")
      .End()
      .End()
      .Name("big")
      // Longer than BlobSink keeps in memory: streams into a blob writer.
      .File(std::string(castore::BlobSink::kBuffered + 12345, 'b'))
      .End()
      .End()
      .Finish();
}

class NarImportTest : public ::testing::Test {
 protected:
  // Imports `nar` and renders the node back.
  void ExpectRoundTrip(const std::string& nar) {
    StringSource source(nar);
    auto imported = ImportNar(blobs_, dirs_, source);
    ASSERT_TRUE(imported.ok()) << imported.status();
    EXPECT_EQ(imported->nar.nar_size, nar.size());
    EXPECT_EQ(imported->nar.nar_sha256, NixHash::Of(HashAlgo::kSha256, nar));
    StringSink rendered;
    auto summary = RenderNar(blobs_, dirs_, imported->node, rendered);
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_EQ(rendered.str(), nar);
    EXPECT_EQ(summary->nar_sha256, imported->nar.nar_sha256);
  }

  castore::MemoryBlobService blobs_;
  castore::MemoryDirectoryService dirs_;
};

TEST_F(NarImportTest, TreeRendersBackToTheSameBytes) { ExpectRoundTrip(SampleTree()); }

TEST_F(NarImportTest, SingleFileAndSymlinkRootsRenderBack) {
  ExpectRoundTrip(NarBuilder().File("just a file", true).Finish());
  ExpectRoundTrip(NarBuilder().File("").Finish());
  ExpectRoundTrip(NarBuilder().Link("/nix/store/somewhere").Finish());
  ExpectRoundTrip(NarBuilder().Dir().End().Finish());
}

TEST_F(NarImportTest, CountsWhatItStoredAndDeduplicates) {
  std::string nar = SampleTree();
  StringSource first(nar);
  auto a = ImportNar(blobs_, dirs_, first);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->stats.files, 4u);
  EXPECT_EQ(a->stats.symlinks, 1u);
  EXPECT_EQ(a->stats.directories, 6u);
  EXPECT_EQ(a->stats.blobs_new, 4u);
  StringSource second(nar);
  auto b = ImportNar(blobs_, dirs_, second);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->node, a->node);
  EXPECT_EQ(b->stats.blobs_new, 0u);
  EXPECT_EQ(b->stats.bytes_new, 0u);
}

// A NAR produced piecewise, never whole in memory: a directory of files of
// `file_size` bytes each.
class GeneratedNarSource : public ByteSource {
 public:
  GeneratedNarSource(int files, uint64_t file_size)
      : files_(files),
        file_size_(file_size),
        header_(Str(kNarMagic) + Str("(") + Str("type") + Str("directory")) {}
  absl::StatusOr<size_t> Read(std::span<char> buf) override {
    while (pending_.empty()) {
      if (next_ > files_ + 1) return 0;
      pending_ = Piece(next_++);
    }
    size_t n = std::min(buf.size(), pending_.size());
    std::memcpy(buf.data(), pending_.data(), n);
    pending_.erase(0, n);
    return n;
  }

 private:
  static std::string Str(std::string_view s) {
    std::string out(8, '\0');
    uint64_t n = s.size();
    std::memcpy(out.data(), &n, 8);
    out.append(s);
    out.append((8 - s.size() % 8) % 8, '\0');
    return out;
  }
  // Piece 0: the header; 1..files: one entry each, its contents in one go
  // (at most file_size bytes held); files + 1: the closing parenthesis.
  std::string Piece(int i) {
    if (i == 0) return header_;
    if (i == files_ + 1) return Str(")");
    std::string name = "f" + std::to_string(1000000 + i);
    std::string out = Str("entry") + Str("(") + Str("name") + Str(name) + Str("node") + Str("(") +
                      Str("type") + Str("regular") + Str("contents");
    std::string contents(file_size_, static_cast<char>('a' + i % 26));
    out += Str(contents);
    out += Str(")") + Str(")");
    return out;
  }
  const int files_;
  const uint64_t file_size_;
  std::string header_;
  std::string pending_;
  int next_ = 0;
};

TEST_F(NarImportTest, StreamsANarLargerThanItKeeps) {
  // 40 files of 3 MiB: 120 MiB of NAR through a source that never holds
  // more than one file.
  GeneratedNarSource source(40, 3 << 20);
  auto imported = ImportNar(blobs_, dirs_, source);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_GT(imported->nar.nar_size, uint64_t{120} << 20);
  EXPECT_EQ(imported->stats.files, 40u);
  EXPECT_EQ(imported->stats.blobs_new, 26u);  // contents repeat every 26 files
  auto summary = CalculateNar(blobs_, dirs_, imported->node);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->nar_size, imported->nar.nar_size);
  EXPECT_EQ(summary->nar_sha256, imported->nar.nar_sha256);
}

TEST_F(NarImportTest, TruncatedNarIsInvalidArgumentAndStoresNoDirectory) {
  std::string nar = SampleTree();
  for (size_t cut : {size_t{0}, size_t{7}, nar.size() / 2, nar.size() - 8}) {
    SCOPED_TRACE(cut);
    castore::MemoryDirectoryService dirs;
    StringSource source(std::string_view(nar).substr(0, cut));
    auto imported = ImportNar(blobs_, dirs, source);
    ASSERT_FALSE(imported.ok());
    EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument) << imported.status();
    EXPECT_NE(imported.status().message().find("NAR at offset"), std::string::npos);
    int stored = 0;
    ASSERT_TRUE(dirs.ForEach([&](const castore::B3Digest&) {
                      ++stored;
                      return absl::OkStatus();
                    })
                    .ok());
    EXPECT_EQ(stored, 0);
  }
}

TEST_F(NarImportTest, TrailingBytesAreRefused) {
  std::string nar = NarBuilder().File("x").Finish() + std::string(8, '\0');
  StringSource source(nar);
  auto imported = ImportNar(blobs_, dirs_, source);
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument) << imported.status();
}

TEST_F(NarImportTest, FailingBlobServiceFailsTheImportNamingThePath) {
  auto faults = std::make_shared<castore::testing::FaultInjector>();
  auto faulty =
      castore::testing::FaultyBlobService(std::make_shared<castore::MemoryBlobService>(), faults);
  faults->Set({.kind = castore::testing::FaultKind::kUnavailable});
  std::string nar = SampleTree();
  StringSource source(nar);
  auto imported = ImportNar(*faulty, dirs_, source);
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kUnavailable) << imported.status();
  EXPECT_NE(imported.status().message().find("NAR path"), std::string::npos) << imported.status();
}

}  // namespace
}  // namespace castor::nix
