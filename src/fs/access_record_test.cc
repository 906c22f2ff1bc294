#include "fs/access_record.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "castore/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace castor::fs {
namespace {

using Kind = AccessEntry::Kind;

AccessEntry Dir(std::string path) {
  return AccessEntry{.kind = Kind::kDirectory, .path = std::move(path)};
}
AccessEntry File(std::string path, uint64_t offset, uint64_t length) {
  return AccessEntry{
      .kind = Kind::kFile, .path = std::move(path), .offset = offset, .length = length};
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AccessRecordTest, HostileNamesRoundTrip) {
  const std::vector<std::string> names = {
      "root/with space/and\nnewline", "root/back\\slash\\x41", "root/tab\there/\r\x7f\x01",
      "root/\xc3\xa9t\xc3\xa9/utf8",  "root/-leading dash",    "root/f 1 2"};
  AccessRecord record;
  for (const std::string& n : names) {
    ASSERT_TRUE(record.AddDirectory(n));
    ASSERT_TRUE(record.AddRange(n, 7, 9));
  }
  std::string text = record.Serialize();
  // Exactly one line per entry plus the header: no name broke a line.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + 2 * static_cast<long>(names.size()));
  EXPECT_EQ(text.substr(0, text.find('\n')), "castor-access-record 1");
  EXPECT_NE(text.find("d root/with\\x20space/and\\x0anewline\n"), std::string::npos) << text;
  auto parsed = AccessRecord::Parse(text, "t");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, record.Entries());
  ASSERT_EQ(parsed->size(), 2 * names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ((*parsed)[2 * i], Dir(names[i]));
    EXPECT_EQ((*parsed)[2 * i + 1], File(names[i], 7, 9));
  }
}

TEST(AccessRecordTest, AdjacentAndOverlappingRangesMergeIntoTheFirstLine) {
  AccessRecord record;
  record.AddRange("r/a", 0, 4096);
  record.AddDirectory("r/d");
  record.AddRange("r/a", 4096, 4096);  // adjoins: [0, 8192)
  record.AddRange("r/b", 100, 10);
  record.AddRange("r/a", 20000, 100);  // apart: its own line
  record.AddRange("r/a", 1000, 100);   // inside
  record.AddRange("r/b", 50, 60);      // overlaps: [50, 110)
  EXPECT_EQ(record.Entries(),
            (std::vector<AccessEntry>{File("r/a", 0, 8192), Dir("r/d"), File("r/b", 50, 60),
                                      File("r/a", 20000, 100)}));
  // A range bridging two recorded ones joins them on the first's line.
  record.AddRange("r/a", 8000, 12000);
  EXPECT_EQ(record.Entries(),
            (std::vector<AccessEntry>{File("r/a", 0, 20100), Dir("r/d"), File("r/b", 50, 60)}));
  EXPECT_EQ(record.size(), 3u);
  // A directory is recorded once, where it was first needed.
  record.AddDirectory("r/d");
  EXPECT_EQ(record.size(), 3u);
  // Ranges of other files never merge.
  record.AddRange("r/c", 0, 20100);
  EXPECT_EQ(record.size(), 4u);
}

TEST(AccessRecordTest, StopsAddingLinesAtItsBoundButStillMerges) {
  AccessRecord record(3);
  EXPECT_TRUE(record.AddDirectory("r"));
  EXPECT_TRUE(record.AddRange("r/a", 0, 10));
  EXPECT_TRUE(record.AddRange("r/b", 0, 10));
  EXPECT_FALSE(record.AddDirectory("r/x"));
  EXPECT_FALSE(record.AddRange("r/c", 0, 10));
  EXPECT_FALSE(record.AddRange("r/a", 100, 10));  // would need a line
  EXPECT_TRUE(record.AddRange("r/a", 10, 10));    // merges
  EXPECT_EQ(record.Entries(),
            (std::vector<AccessEntry>{Dir("r"), File("r/a", 0, 20), File("r/b", 0, 10)}));
  // Parsing holds to a bound too.
  auto parsed = AccessRecord::Parse(record.Serialize(), "t", 2);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("line 4: more than 2 entries"), std::string::npos)
      << parsed.status();
}

TEST(AccessRecordTest, ARangeReachingPast64BitsIsCut) {
  AccessRecord record;
  record.AddRange("r/a", ~uint64_t{0} - 5, 100);
  EXPECT_EQ(record.Entries(), (std::vector<AccessEntry>{File("r/a", ~uint64_t{0} - 5, 5)}));
}

TEST(AccessRecordTest, MalformedLinesAreRefusedNamingTheLine) {
  const std::string h = "castor-access-record 1\n";
  struct Case {
    std::string text;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"", "line 1: empty file"},
      {"castor-access-record 2\n", "line 1: unsupported version \"2\""},
      {"castor-access-record x\n", "line 1: unsupported version"},
      {"hello 1\n", "line 1: not a castor access record"},
      {h + "d a\nx a\n", "line 3: unknown entry kind \"x\""},
      {h + "d a b\n", "line 2: expected \"d PATH\""},
      {h + "f a 1\n", "line 2: expected \"f PATH OFFSET LENGTH\""},
      {h + "f a -1 2\n", "line 2: bad offset \"-1\""},
      {h + "f a 1 0\n", "line 2: bad length \"0\""},
      {h + "f a 1 99999999999999999999\n", "line 2: bad length"},
      {h + "f a 18446744073709551615 2\n", "line 2: bad length \"2\""},
      {h + "d a\\q\n", "line 2: bad escape"},
      {h + "d a\\x4\n", "line 2: bad escape"},
      {h + "d a\\x4G\n", "line 2: bad escape"},
      {h + "d a\tb\n", "line 2: unescaped byte 0x09"},
      {h + "d a//b\n", "line 2: empty path component"},
      {h + "d /a\n", "line 2: empty path component"},
      {h + "d \n", "line 2: empty path"},
      {h + "\n", "line 2: unknown entry kind \"\""},
      {h + "d a", "line 2: the last line is incomplete"},
  };
  for (const Case& c : cases) {
    auto parsed = AccessRecord::Parse(c.text, "rec.txt");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("access record rec.txt " + c.want), std::string::npos)
        << "for " << c.text << ": " << parsed.status();
  }
  // The header alone is an empty record.
  auto empty = AccessRecord::Parse(h, "rec.txt");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

// A recorder fed the events a mount would give, by inode.
TEST(AccessRecorderTest, TurnsInodeEventsIntoPathsAndWritesAtStop) {
  castore::testing::TempDir dir("access-recorder");
  const std::string file = dir / "record";
  auto recorder = AccessRecorder::Start({.path = file});
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  AccessRecorder& r = **recorder;
  r.OnEntry(1, "root", 2);
  r.OnDirectory(2);
  r.OnEntry(2, "sub dir", 3);
  r.OnDirectory(3);
  r.OnEntry(3, "f", 4);
  r.OnRead(4, 0, 131072);
  r.OnRead(4, 131072, 100);
  r.OnEntry(2, "same-as-f", 4);  // a deduplicated inode keeps its first path
  r.OnRead(4, 500000, 10);
  r.OnRead(99, 0, 10);     // unknown inodes are not recorded
  r.OnEntry(98, "x", 97);  // nor names below them
  r.OnDirectory(1);        // the top is no Directory
  EXPECT_EQ(::access(file.c_str(), F_OK), -1) << "written before the first interval";
  ASSERT_TRUE(r.Stop().ok());
  r.OnRead(4, 900000, 10);  // after Stop: not recorded
  EXPECT_EQ(ReadText(file),
            "castor-access-record 1\n"
            "d root\n"
            "d root/sub\\x20dir\n"
            "f root/sub\\x20dir/f 0 131172\n"
            "f root/sub\\x20dir/f 500000 10\n");
  struct stat st;
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  auto parsed = AccessRecord::ReadFile(file);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), 4u);
}

TEST(AccessRecorderTest, WritesPeriodicallyAndAtomically) {
  castore::testing::TempDir dir("access-recorder");
  const std::string file = dir / "record";
  // A previous record stays until the first write replaces it whole.
  std::ofstream(file) << "castor-access-record 1\nd old\n";
  auto recorder = AccessRecorder::Start({.path = file, .interval = std::chrono::milliseconds(20)});
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  (*recorder)->OnEntry(1, "r", 2);
  (*recorder)->OnDirectory(2);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ReadText(file) != "castor-access-record 1\nd r\n" &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(ReadText(file), "castor-access-record 1\nd r\n");
  // No temporary files are left beside it.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  ASSERT_TRUE((*recorder)->Stop().ok());
}

TEST(AccessRecorderTest, ARecorderDroppedWithoutStopLeavesThePreviousRecord) {
  castore::testing::TempDir dir("access-recorder");
  const std::string file = dir / "record";
  std::ofstream(file) << "castor-access-record 1\nd old\n";
  {
    auto recorder = AccessRecorder::Start({.path = file});
    ASSERT_TRUE(recorder.ok());
    (*recorder)->OnEntry(1, "r", 2);
    (*recorder)->OnDirectory(2);
  }  // as when the mount fails to start
  EXPECT_EQ(ReadText(file), "castor-access-record 1\nd old\n");
}

TEST(AccessRecorderTest, StopsRecordingAtItsBound) {
  castore::testing::TempDir dir("access-recorder");
  auto recorder = AccessRecorder::Start({.path = dir / "record", .max_entries = 2});
  ASSERT_TRUE(recorder.ok());
  (*recorder)->OnEntry(1, "r", 2);
  for (uint64_t i = 0; i < 10; ++i) (*recorder)->OnRead(2, i * 100, 10);
  EXPECT_EQ((*recorder)->size(), 2u);
  ASSERT_TRUE((*recorder)->Stop().ok());
  auto parsed = AccessRecord::ReadFile(dir / "record");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (std::vector<AccessEntry>{File("r", 0, 10), File("r", 100, 10)}));
}

TEST(AccessRecorderTest, RefusesADirectoryItCannotWriteIn) {
  auto recorder = AccessRecorder::Start({.path = "/nonexistent-castor-dir/record"});
  ASSERT_FALSE(recorder.ok());
  EXPECT_EQ(recorder.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(recorder.status().message().find("/nonexistent-castor-dir"), std::string::npos);
}

// Many workers at once (as FUSE workers call it): every range lands,
// merged (TSan checks the locking).
TEST(AccessRecorderTest, ConcurrentReadsOfOneFileMergeIntoOneRange) {
  castore::testing::TempDir dir("access-recorder");
  auto recorder = AccessRecorder::Start({.path = dir / "record"});
  ASSERT_TRUE(recorder.ok());
  (*recorder)->OnEntry(1, "r", 2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = t; i < 4000; i += 4) (*recorder)->OnRead(2, i * 10, 10);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE((*recorder)->Stop().ok());
  auto parsed = AccessRecord::ReadFile(dir / "record");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (std::vector<AccessEntry>{File("r", 0, 40000)}));
}

}  // namespace
}  // namespace castor::fs
