// NarReader and NarWriter on hand-made NARs: the grammar, the strictness of
// the reader (each rule with the input that breaks it), bounded memory, and
// the writer's own checks. The golden comparison with real Nix NARs is in
// castore_nar_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/nar_reader.h"
#include "nix/nar_writer.h"

namespace castor::nix {
namespace {

// One NAR string: length, bytes, zero padding.
std::string S(std::string_view s) {
  std::string out;
  uint64_t n = s.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
  out.append(s);
  out.append((8 - s.size() % 8) % 8, '\0');
  return out;
}
std::string Ss(std::initializer_list<std::string_view> tokens) {
  std::string out;
  for (auto t : tokens) out += S(t);
  return out;
}

std::string File(std::string_view contents, bool executable = false) {
  std::string out = Ss({"(", "type", "regular"});
  if (executable) out += Ss({"executable", ""});
  return out + S("contents") + S(contents) + S(")");
}
std::string Link(std::string_view target) {
  return Ss({"(", "type", "symlink", "target"}) + S(target) + S(")");
}
std::string Entry(std::string_view name, const std::string& node) {
  return Ss({"entry", "(", "name"}) + S(name) + S("node") + node + S(")");
}
std::string Dir(std::initializer_list<std::string> entries) {
  std::string out = Ss({"(", "type", "directory"});
  for (const auto& e : entries) out += e;
  return out + S(")");
}
std::string Nar(const std::string& root) { return S(kNarMagic) + root; }

// Records events as text lines, so tests can compare whole streams.
class Recorder : public NarVisitor {
 public:
  absl::Status StartDirectory() override { return Add("dir{"); }
  absl::Status EntryName(std::string_view name) override {
    return Add(absl::StrCat("entry ", ToAbslView(name)));
  }
  absl::Status EndDirectory() override { return Add("}"); }
  absl::Status StartFile(uint64_t size, bool executable) override {
    return Add(absl::StrCat("file ", size, executable ? " x" : ""));
  }
  absl::Status FileData(std::string_view data) override {
    data_bytes += data.size();
    max_piece = std::max(max_piece, data.size());
    if (lines.empty() || !lines.back().starts_with("data ")) lines.push_back("data ");
    lines.back().append(data);
    return absl::OkStatus();
  }
  absl::Status EndFile() override { return Add("endfile"); }
  absl::Status Symlink(std::string_view target) override {
    return Add(absl::StrCat("symlink ", ToAbslView(target)));
  }

  std::vector<std::string> lines;
  uint64_t data_bytes = 0;
  size_t max_piece = 0;

 private:
  absl::Status Add(std::string line) {
    lines.push_back(std::move(line));
    return absl::OkStatus();
  }
};

absl::Status Parse(const std::string& nar, Recorder* rec = nullptr, NarLimits limits = {}) {
  Recorder local;
  return ParseNar(nar, rec != nullptr ? *rec : local, limits);
}

// Parses `nar` and re-renders its events: the bytes must come back equal.
std::string Rewrite(const std::string& nar) {
  StringSink out;
  NarWriter writer(out);
  absl::Status s = ParseNar(nar, writer);
  if (s.ok()) s = writer.Finish();
  EXPECT_TRUE(s.ok()) << s;
  return out.Take();
}

void ExpectRefused(const std::string& nar, std::string_view message_part, NarLimits limits = {}) {
  absl::Status s = Parse(nar, nullptr, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("NAR at offset"), std::string::npos) << s;
  EXPECT_NE(s.message().find(ToAbslView(message_part)), std::string::npos) << s;
}

TEST(NarReader, ReadsAllNodeKindsInOrder) {
  std::string nar = Nar(Dir({Entry("a", File("hello", true)), Entry("b", Link("../x")),
                             Entry("c", Dir({Entry("d", File(""))})), Entry("e", Dir({}))}));
  Recorder rec;
  ASSERT_TRUE(Parse(nar, &rec).ok());
  std::vector<std::string> want = {
      "dir{",    "entry a", "file 5 x", "data hello", "endfile", "entry b", "symlink ../x",
      "entry c", "dir{",    "entry d",  "file 0",     "endfile", "}",       "entry e",
      "dir{",    "}",       "}"};
  EXPECT_EQ(rec.lines, want);
  EXPECT_EQ(Rewrite(nar), nar);
}

TEST(NarReader, ReadsARootFileOrSymlink) {
  Recorder rec;
  ASSERT_TRUE(Parse(Nar(File("1234567")), &rec).ok());
  EXPECT_EQ(rec.lines, (std::vector<std::string>{"file 7", "data 1234567", "endfile"}));
  Recorder rec2;
  ASSERT_TRUE(Parse(Nar(Link("/abs")), &rec2).ok());
  EXPECT_EQ(rec2.lines, (std::vector<std::string>{"symlink /abs"}));
}

TEST(NarReader, PullInterfaceEndsWithEndRepeatedly) {
  std::string nar = Nar(File("x"));
  StringSource src(nar);
  NarReader reader(src);
  std::vector<NarEvent::Kind> kinds;
  for (;;) {
    auto e = reader.Next();
    ASSERT_TRUE(e.ok()) << e.status();
    kinds.push_back(e->kind);
    if (e->kind == NarEvent::Kind::kEnd) break;
  }
  EXPECT_EQ(kinds,
            (std::vector<NarEvent::Kind>{NarEvent::Kind::kStartFile, NarEvent::Kind::kFileData,
                                         NarEvent::Kind::kEndFile, NarEvent::Kind::kEnd}));
  EXPECT_EQ(reader.offset(), nar.size());
  auto again = reader.Next();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->kind, NarEvent::Kind::kEnd);
}

TEST(NarReader, StreamsBigFilesInBoundedPieces) {
  std::string contents(3 * NarReader::kBufferSize + 5, 'z');
  Recorder rec;
  ASSERT_TRUE(Parse(Nar(File(contents)), &rec).ok());
  EXPECT_EQ(rec.data_bytes, contents.size());
  EXPECT_LE(rec.max_piece, NarReader::kBufferSize);
}

// A source that hands out one byte per Read: every boundary is exercised.
class TrickleSource : public ByteSource {
 public:
  explicit TrickleSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(std::span<char> buf) override {
    if (data_.empty()) return 0;
    buf[0] = data_[0];
    data_.remove_prefix(1);
    return 1;
  }

 private:
  std::string_view data_;
};

TEST(NarReader, ReadsFromASourceThatTricklesBytes) {
  std::string nar = Nar(Dir({Entry("a", File("hello", true)), Entry("b", Link("t"))}));
  TrickleSource src(nar);
  Recorder rec, whole;
  ASSERT_TRUE(ParseNar(src, rec).ok());
  ASSERT_TRUE(Parse(nar, &whole).ok());
  EXPECT_EQ(rec.lines, whole.lines);
}

TEST(NarReader, RefusesWrongMagic) {
  ExpectRefused(S("nix-archive-2") + File("x"), "expected 'nix-archive-1'");
  ExpectRefused("", "unexpected end of NAR");
}

TEST(NarReader, RefusesEveryTruncation) {
  std::string nar = Nar(Dir({Entry("a", File("hello", true)), Entry("b", Link("t"))}));
  for (size_t n = 0; n < nar.size(); ++n) {
    absl::Status s = Parse(nar.substr(0, n));
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n << ": " << s;
  }
}

TEST(NarReader, RefusesTrailingBytes) {
  ExpectRefused(Nar(File("x")) + std::string(1, '\0'), "trailing bytes after the NAR");
  ExpectRefused(Nar(File("x")) + S(")"), "trailing bytes");
}

TEST(NarReader, RefusesNonZeroPadding) {
  std::string nar = Nar(File("abc"));
  // The padding of "contents" data: 5 zero bytes after "abc".
  size_t pos = nar.find("abc") + 3;
  nar[pos + 2] = 1;
  ExpectRefused(nar, "non-zero padding after file contents");
  std::string tok = Nar(File("x"));
  tok[8 + 13] = 'x';  // padding of the magic string
  ExpectRefused(tok, "non-zero padding");
}

TEST(NarReader, RefusesUnknownTokens) {
  ExpectRefused(S(kNarMagic) + Ss({"(", "type", "fifo", ")"}), "unknown node type 'fifo'");
  ExpectRefused(S(kNarMagic) + Ss({"(", "kind"}), "expected 'type'");
  ExpectRefused(S(kNarMagic) + Ss({"(", "type", "regular", "size"}),
                "expected 'executable' or 'contents'");
  ExpectRefused(S(kNarMagic) + Ss({"(", "type", "directory", "item"}), "expected 'entry' or ')'");
  ExpectRefused(S(kNarMagic) + Ss({"(", "type", "symlink", "target", "t", "x"}), "expected ')'");
}

TEST(NarReader, RefusesExecutableWithAValue) {
  ExpectRefused(S(kNarMagic) + Ss({"(", "type", "regular", "executable", "1", "contents", "", ")"}),
                "'executable' must be followed by an empty string");
  ExpectRefused(S(kNarMagic) + Ss({"(", "type", "regular", "executable", "", "executable", ""}),
                "expected 'contents'");
}

TEST(NarReader, RefusesUnsortedAndDuplicateEntries) {
  ExpectRefused(Nar(Dir({Entry("b", File("")), Entry("a", File(""))})),
                "entry 'a' is not sorted after 'b'");
  ExpectRefused(Nar(Dir({Entry("a", File("")), Entry("a", Link("t"))})), "entry 'a' appears twice");
  // Bytewise: uppercase before lowercase, 0xff last.
  EXPECT_TRUE(
      Parse(Nar(Dir({Entry("B", File("")), Entry("a", File("")), Entry("\xff", File(""))}))).ok());
  ExpectRefused(Nar(Dir({Entry("\xff", File("")), Entry("a", File(""))})), "is not sorted");
}

TEST(NarReader, OrderIsPerDirectory) {
  EXPECT_TRUE(Parse(Nar(Dir({Entry("b", Dir({Entry("z", File(""))})),
                             Entry("c", Dir({Entry("a", File(""))}))})))
                  .ok());
}

TEST(NarReader, RefusesInvalidNames) {
  for (std::string_view bad : {std::string_view(""), std::string_view("."), std::string_view(".."),
                               std::string_view("a/b"), std::string_view("a\0b", 3)}) {
    absl::Status s = Parse(Nar(Dir({Entry(bad, File(""))})));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(Parse(Nar(Dir({Entry(std::string(255, 'n'), File(""))}))).ok());
  ExpectRefused(Nar(Dir({Entry(std::string(256, 'n'), File(""))})),
                "expected entry name, got a string of 256 bytes");
}

TEST(NarReader, RefusesInvalidSymlinkTargets) {
  ExpectRefused(Nar(Link("")), "symlink target is empty");
  ExpectRefused(Nar(Link(std::string_view("a\0b", 3))), "NUL");
  EXPECT_TRUE(Parse(Nar(Link(std::string(4095, 't')))).ok());
  ExpectRefused(Nar(Link(std::string(4096, 't'))), "got a string of 4096 bytes");
}

TEST(NarReader, RefusesHugeLengthsWithoutAllocating) {
  // A token length of 2^63 and a file claiming 2^63 bytes: errors, not
  // allocations or waits.
  std::string huge(8, '\0');
  huge[7] = static_cast<char>(0x80);
  ExpectRefused(huge, "got a string of 9223372036854775808 bytes");
  ExpectRefused(S(kNarMagic) + Ss({"(", "type", "regular", "contents"}) + huge + "abc",
                "unexpected end of NAR in file contents");
  ExpectRefused(S(kNarMagic) + Ss({"("}) + huge, "expected 'type', got a string of");
}

TEST(NarReader, LimitsDepth) {
  std::string node = File("");
  for (int i = 0; i < 5; ++i) node = Dir({Entry("d", node)});
  // Five directories: the file is an entry 5 levels below the top.
  EXPECT_TRUE(Parse(Nar(node), nullptr, NarLimits{.max_depth = 5}).ok());
  ExpectRefused(Nar(node), "more than 4 directories deep", NarLimits{.max_depth = 4});
}

TEST(NarReader, DefaultDepthLimitIsCastores) {
  // kMaxTreeDepth levels pass, one more fails; built iteratively, parsed
  // without recursion.
  auto build = [](size_t depth) {
    std::string prefix, suffix;
    for (size_t i = 0; i < depth; ++i) {
      prefix += Ss({"(", "type", "directory", "entry", "(", "name", "d", "node"});
      suffix += Ss({")", ")"});
    }
    return S(kNarMagic) + prefix + File("") + suffix;
  };
  EXPECT_TRUE(Parse(build(castore::kMaxTreeDepth)).ok());
  ExpectRefused(build(castore::kMaxTreeDepth + 1), "directories deep");
}

TEST(NarReader, ErrorsNameTheOffset) {
  std::string nar = Nar(Dir({Entry("b", File("")), Entry("a", File(""))}));
  size_t name_at = nar.rfind(S("a"));
  absl::Status s = Parse(nar);
  EXPECT_NE(s.message().find(absl::StrCat("NAR at offset ", name_at, ":")), std::string::npos) << s;
}

TEST(NarReader, VisitorErrorsStopTheParse) {
  class Stop : public Recorder {
    absl::Status Symlink(std::string_view) override { return absl::CancelledError("stop"); }
  } stop;
  absl::Status s = ParseNar(Nar(Dir({Entry("a", Link("t")), Entry("b", File("x"))})), stop);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(stop.lines, (std::vector<std::string>{"dir{", "entry a"}));
}

class FailingSource : public ByteSource {
 public:
  absl::StatusOr<size_t> Read(std::span<char>) override {
    return absl::UnavailableError("disk on fire");
  }
};

TEST(NarReader, SourceErrorsPassThroughWithTheOffset) {
  FailingSource src;
  Recorder rec;
  absl::Status s = ParseNar(src, rec);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("disk on fire"), std::string::npos);
  EXPECT_NE(s.message().find("offset 0"), std::string::npos) << s;
}

TEST(NarWriter, WritesWhatTheReaderReads) {
  StringSink out;
  NarWriter w(out);
  ASSERT_TRUE(w.StartDirectory().ok());
  ASSERT_TRUE(w.EntryName("bin").ok());
  ASSERT_TRUE(w.StartDirectory().ok());
  ASSERT_TRUE(w.EntryName("tool").ok());
  ASSERT_TRUE(w.StartFile(11, true).ok());
  ASSERT_TRUE(w.FileData("hello ").ok());
  ASSERT_TRUE(w.FileData("world").ok());
  ASSERT_TRUE(w.EndFile().ok());
  ASSERT_TRUE(w.EndDirectory().ok());
  ASSERT_TRUE(w.EntryName("link").ok());
  ASSERT_TRUE(w.Symlink("bin/tool").ok());
  ASSERT_TRUE(w.EndDirectory().ok());
  ASSERT_TRUE(w.Finish().ok());
  std::string want = Nar(Dir({Entry("bin", Dir({Entry("tool", File("hello world", true))})),
                              Entry("link", Link("bin/tool"))}));
  EXPECT_EQ(out.str(), want);
  EXPECT_EQ(w.size(), want.size());
}

TEST(NarWriter, PassesBigFileDataThrough) {
  std::string big(NarWriter::kBufferSize * 2 + 3, 'q');
  StringSink out;
  NarWriter w(out);
  ASSERT_TRUE(w.StartFile(big.size(), false).ok());
  ASSERT_TRUE(w.FileData(big).ok());
  ASSERT_TRUE(w.EndFile().ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(out.str(), Nar(File(big)));
}

TEST(NarWriter, RefusesUnsortedEntriesAndBadNames) {
  StringSink out;
  NarWriter w(out);
  ASSERT_TRUE(w.StartDirectory().ok());
  ASSERT_TRUE(w.EntryName("b").ok());
  ASSERT_TRUE(w.Symlink("t").ok());
  absl::Status s = w.EntryName("a");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("does not sort after"), std::string::npos) << s;
  // The error sticks.
  EXPECT_EQ(w.EndDirectory().code(), absl::StatusCode::kInvalidArgument);

  NarWriter w2(out);
  ASSERT_TRUE(w2.StartDirectory().ok());
  EXPECT_EQ(w2.EntryName("a/b").code(), absl::StatusCode::kInvalidArgument);
  NarWriter w3(out);
  EXPECT_EQ(w3.Symlink("").code(), absl::StatusCode::kInvalidArgument);
}

TEST(NarWriter, RefusesEventsOutOfOrder) {
  StringSink out;
  {
    NarWriter w(out);
    EXPECT_EQ(w.EntryName("a").code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    NarWriter w(out);
    ASSERT_TRUE(w.StartFile(3, false).ok());
    ASSERT_TRUE(w.FileData("ab").ok());
    EXPECT_EQ(w.FileData("cd").code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    NarWriter w(out);
    ASSERT_TRUE(w.StartFile(3, false).ok());
    absl::Status s = w.EndFile();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("3 of 3 bytes missing"), std::string::npos) << s;
  }
  {
    NarWriter w(out);
    ASSERT_TRUE(w.StartDirectory().ok());
    EXPECT_EQ(w.Finish().code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    NarWriter w(out);
    ASSERT_TRUE(w.Symlink("t").ok());
    EXPECT_EQ(w.StartDirectory().code(), absl::StatusCode::kFailedPrecondition);
  }
}

}  // namespace
}  // namespace castor::nix
