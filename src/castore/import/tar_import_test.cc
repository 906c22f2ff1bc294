#include "castore/import/tar_import.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <cstring>

#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_util.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

using testing::MakeDir;
using testing::TempDir;
using testing::WriteFile;

struct TarEntry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string data;  // file contents, or the symlink / hard link target
  mode_t perm = 0644;
};

// Writes a pax tar with the given compression filter.
void WriteTar(const std::string& path, const std::vector<TarEntry>& entries,
              const std::string& filter = "none") {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  if (filter == "xz") archive_write_add_filter_xz(a);
  if (filter == "zstd") archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    if (e.type == 0) {  // hard link
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_hardlink(entry, e.data.c_str());
      archive_entry_set_size(entry, 0);
    } else {
      archive_entry_set_filetype(entry, e.type);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.data.c_str());
      archive_entry_set_size(entry, e.type == AE_IFREG ? e.data.size() : 0);
    }
    archive_entry_set_perm(entry, e.perm);
    ASSERT_EQ(archive_write_header(a, entry), ARCHIVE_OK) << archive_error_string(a);
    if (e.type == AE_IFREG && !e.data.empty()) {
      ASSERT_EQ(archive_write_data(a, e.data.data(), e.data.size()),
                static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// Raw ustar blocks, for names libarchive's writer cannot produce (its API
// takes C strings): `name` is copied into the 100-byte field as is, NULs
// and all.
std::string UstarHeader(std::string_view name, char type, size_t size,
                        std::string_view linkname = "") {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  std::snprintf(h.data() + 124, 12, "%011zo", size);
  std::snprintf(h.data() + 136, 12, "%011o", 0);
  h[156] = type;
  std::memcpy(h.data() + 157, linkname.data(), std::min<size_t>(linkname.size(), 100));
  std::memcpy(h.data() + 257, "ustar\0" "00", 8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

std::string Padded(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

// A pax extended header block setting `key` to `value` (which may hold NULs).
std::string PaxHeader(const std::string& key, const std::string& value) {
  std::string body = " " + key + "=" + value + "\n";
  size_t len = body.size() + 1;
  while (std::to_string(len).size() + body.size() != len) ++len;
  std::string record = std::to_string(len) + body;
  return UstarHeader("PaxHeader/x", 'x', record.size()) + Padded(record);
}

std::string RegularFile(std::string_view name, const std::string& data) {
  return UstarHeader(name, '0', data.size()) + Padded(data);
}

std::string EndOfArchive() { return std::string(1024, '\0'); }

class TarImportTest : public ::testing::Test {
 protected:
  MemoryBlobService blobs_;
  MemoryDirectoryService dirs_;
  TempDir tmp_;
};

TEST_F(TarImportTest, TarOfATreeGivesTheSameDigestAsTheTree) {
  std::string src = tmp_ / "src";
  MakeDir(src);
  WriteFile(src + "/a", "alpha");
  WriteFile(src + "/x", std::string(3 << 20, 'x'), 0755);
  MakeDir(src + "/d");
  MakeDir(src + "/d/empty");
  WriteFile(src + "/d/b", "");
  ASSERT_EQ(symlink("../a", (src + "/d/l").c_str()), 0);
  auto tree = IngestPath(blobs_, dirs_, src);
  ASSERT_TRUE(tree.ok()) << tree.status();
  for (std::string filter : {"none", "gzip", "xz", "zstd"}) {
    std::string tar = tmp_ / ("t." + filter);
    WriteTar(tar, {{"./", AE_IFDIR},
                   {"./a", AE_IFREG, "alpha"},
                   {"./x", AE_IFREG, std::string(3 << 20, 'x'), 0755},
                   {"d/b", AE_IFREG, ""},  // parent created implicitly
                   {"d/empty/", AE_IFDIR},
                   {"d//l", AE_IFLNK, "../a"}},
             filter);
    auto result = IngestTar(blobs_, dirs_, tar);
    ASSERT_TRUE(result.ok()) << filter << ": " << result.status();
    EXPECT_EQ(result->node, tree->node) << filter;
    EXPECT_EQ(result->stats.files, 3u);
    EXPECT_EQ(result->stats.directories, 3u);
    EXPECT_EQ(result->stats.symlinks, 1u);
    EXPECT_EQ(result->stats.bytes_new, 0u);
  }
}

TEST_F(TarImportTest, ArchiveInMemoryGivesTheSameNodeAsTheFile) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"a", AE_IFREG, "alpha"}, {"d/l", AE_IFLNK, "../a"}}, "gzip");
  auto from_file = IngestTar(blobs_, dirs_, tar);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  std::string bytes = testing::ReadFile(tar);
  std::span<const uint8_t> span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  auto from_memory = IngestTarBytes(blobs_, dirs_, span, "in-memory");
  ASSERT_TRUE(from_memory.ok()) << from_memory.status();
  EXPECT_EQ(from_memory->node, from_file->node);
  EXPECT_EQ(from_memory->stats.files, 1u);
  auto garbage = IngestTarBytes(blobs_, dirs_, span.subspan(0, 100), "cut-short");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("cut-short"), absl::string_view::npos) << garbage.status();
}

TEST_F(TarImportTest, HardLinkTakesTheTargetsContent) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"a", AE_IFREG, "content"}, {"b", 0, "a"}});
  auto result = IngestTar(blobs_, dirs_, tar);
  ASSERT_TRUE(result.ok()) << result.status();
  auto dir = dirs_.Get(std::get<DirectoryNode>(result->node).digest);
  ASSERT_TRUE(dir.ok() && dir->has_value());
  EXPECT_EQ((*dir)->Find("a")->node, (*dir)->Find("b")->node);
}

TEST_F(TarImportTest, RejectsTraversalAndAbsoluteNames) {
  for (std::string bad : {"../evil", "a/../../evil", "/etc/passwd", "ok/.."}) {
    std::string tar = tmp_ / "bad.tar";
    WriteTar(tar, {{"fine", AE_IFREG, "x"}, {bad, AE_IFREG, "evil"}});
    auto result = IngestTar(blobs_, dirs_, tar);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_NE(result.status().message().find("not allowed"), absl::string_view::npos)
        << result.status();
  }
}

// A NUL cannot be part of a name libarchive hands over (its entry API is
// C strings): a name or link target holding one arrives cut at the NUL, and
// that prefix is validated like any other name. So whatever follows a NUL
// (`/../../evil`) can never smuggle a separator or `..` past validation.
TEST_F(TarImportTest, NulInNamesNeverSmugglesTraversal) {
  struct Case {
    const char* what;
    std::string archive;
  };
  std::string evil_path("a\0/../../evil", 13);
  std::vector<Case> cases = {
      {"pax path", PaxHeader("path", evil_path) + RegularFile("placeholder", "x")},
      {"ustar name field", RegularFile(evil_path, "x")},
      {"gnu long name", UstarHeader("././@LongLink", 'L', evil_path.size() + 1) +
                            Padded(evil_path + std::string(1, '\0')) +
                            RegularFile("placeholder", "x")},
      {"pax linkpath", PaxHeader("linkpath", std::string("t\0/../../evil", 13)) +
                           UstarHeader("a", '2', 0, "placeholder")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string tar = tmp_ / "nul.tar";
    WriteFile(tar, c.archive + EndOfArchive());
    auto result = IngestTar(blobs_, dirs_, tar);
    if (!result.ok()) {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
      continue;
    }
    // Accepted: then as the one entry `a`, cut at the NUL, and nothing else.
    auto dir = dirs_.Get(std::get<DirectoryNode>(result->node).digest);
    ASSERT_TRUE(dir.ok() && dir->has_value());
    ASSERT_EQ((*dir)->entries().size(), 1u);
    EXPECT_EQ((*dir)->entries()[0].name.str(), "a");
    if (const auto* link = std::get_if<SymlinkNode>(&(*dir)->entries()[0].node)) {
      EXPECT_EQ(link->target.str(), "t");
    }
  }
}

TEST_F(TarImportTest, RejectsNamesDeeperThanAPathMaxPath) {
  std::string tar = tmp_ / "deep.tar";
  std::string ok_name, deep_name;
  for (int i = 0; i < 2047; ++i) ok_name += "d/";
  for (int i = 0; i < 40000; ++i) deep_name += "d/";
  WriteTar(tar, {{ok_name + "f", AE_IFREG, "x"}});
  auto ok = IngestTar(blobs_, dirs_, tar);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->stats.directories, 2048u);
  // Used to overflow the stack while building the tree.
  WriteTar(tar, {{deep_name + "f", AE_IFREG, "x"}});
  auto deep = IngestTar(blobs_, dirs_, tar);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deep.status().message().find("levels deep"), absl::string_view::npos) << deep.status();
}

TEST_F(TarImportTest, RejectsHardLinkOutsideTheArchive) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"b", 0, "../../etc/passwd"}});
  EXPECT_FALSE(IngestTar(blobs_, dirs_, tar).ok());
  WriteTar(tar, {{"b", 0, "missing"}});
  EXPECT_FALSE(IngestTar(blobs_, dirs_, tar).ok());
}

TEST_F(TarImportTest, RejectsSpecialFiles) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"fifo", AE_IFIFO}});
  auto result = IngestTar(blobs_, dirs_, tar);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("fifo"), absl::string_view::npos) << result.status();
}

TEST_F(TarImportTest, GarbageAndMissingFilesFailCleanly) {
  WriteFile(tmp_ / "garbage", std::string(10000, 'g'));
  EXPECT_FALSE(IngestTar(blobs_, dirs_, tmp_ / "garbage").ok());
  auto missing = IngestTar(blobs_, dirs_, tmp_ / "missing.tar");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.tar"), absl::string_view::npos);
  // Truncated in the middle of a file's data.
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"big", AE_IFREG, std::string(100000, 'b')}});
  ASSERT_EQ(truncate(tar.c_str(), 20000), 0);
  EXPECT_FALSE(IngestTar(blobs_, dirs_, tar).ok());
}

}  // namespace
}  // namespace castor::castore
