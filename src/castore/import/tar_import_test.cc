#include "castore/import/tar_import.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/import.h"
#include "castore/import/test_tar.h"
#include "castore/import/test_util.h"
#include "castore/testing/subprocess.h"
#include "gtest/gtest.h"

namespace castor::castore {
namespace {

using testing::MakeDir;
using testing::TarEntry;
using testing::TempDir;
using testing::WriteFile;
using testing::WriteTar;

void SetChecksum(std::string& header) {
  std::memset(header.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : header) sum += c;
  std::snprintf(header.data() + 148, 8, "%06o", sum);
  header[155] = ' ';
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
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);
  SetChecksum(h);
  return h;
}

std::string Padded(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

// A pax extended header block with the given records (values may hold NULs).
std::string PaxHeader(const std::vector<std::pair<std::string, std::string>>& records) {
  std::string data;
  for (const auto& [key, value] : records) {
    std::string body = " " + key + "=" + value + "\n";
    size_t len = body.size() + 1;
    while (std::to_string(len).size() + body.size() != len) ++len;
    data += std::to_string(len) + body;
  }
  return UstarHeader("PaxHeader/x", 'x', data.size()) + Padded(data);
}

std::string PaxHeader(const std::string& key, const std::string& value) {
  return PaxHeader({{key, value}});
}

// An old-GNU sparse ('S') header: `map` (at most four offset, length pairs,
// the data of which follows the header back to back) of a file of
// `realsize` bytes.
std::string GnuSparseHeader(std::string_view name, uint64_t realsize,
                            const std::vector<std::pair<uint64_t, uint64_t>>& map) {
  uint64_t stored = 0;
  for (const auto& [offset, length] : map) stored += length;
  std::string h = UstarHeader(name, 'S', stored);
  std::memcpy(h.data() + 257, "ustar  \0", 8);
  for (size_t i = 0; i < map.size() && i < 4; ++i) {
    std::snprintf(h.data() + 386 + 24 * i, 12, "%011llo",
                  static_cast<unsigned long long>(map[i].first));
    std::snprintf(h.data() + 398 + 24 * i, 12, "%011llo",
                  static_cast<unsigned long long>(map[i].second));
  }
  std::snprintf(h.data() + 483, 12, "%011llo", static_cast<unsigned long long>(realsize));
  SetChecksum(h);
  return h;
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
  auto tree = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(tree.ok()) << tree.status();
  for (std::string filter : {"none", "gzip", "xz", "zstd"}) {
    std::string tar = tmp_ / ("t." + filter);
    WriteTar(tar,
             {{"./", AE_IFDIR},
              {"./a", AE_IFREG, "alpha"},
              {"./x", AE_IFREG, std::string(3 << 20, 'x'), 0755},
              {"d/b", AE_IFREG, ""},  // parent created implicitly
              {"d/empty/", AE_IFDIR},
              {"d//l", AE_IFLNK, "../a"}},
             filter);
    auto result = ImportTar(blobs_, dirs_, tar);
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
  auto from_file = ImportTar(blobs_, dirs_, tar);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  std::string bytes = testing::ReadFile(tar);
  std::span<const uint8_t> span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  auto from_memory = ImportTarBytes(blobs_, dirs_, span, "in-memory");
  ASSERT_TRUE(from_memory.ok()) << from_memory.status();
  EXPECT_EQ(from_memory->node, from_file->node);
  EXPECT_EQ(from_memory->stats.files, 1u);
  auto garbage = ImportTarBytes(blobs_, dirs_, span.subspan(0, 100), "cut-short");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("cut-short"), absl::string_view::npos)
      << garbage.status();
}

TEST_F(TarImportTest, HardLinkTakesTheTargetsContent) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"a", AE_IFREG, "content"}, {"b", 0, "a"}});
  auto result = ImportTar(blobs_, dirs_, tar);
  ASSERT_TRUE(result.ok()) << result.status();
  auto dir = dirs_.Get(std::get<DirectoryNode>(result->node).digest);
  ASSERT_TRUE(dir.ok() && dir->has_value());
  EXPECT_EQ((*dir)->Find("a")->node, (*dir)->Find("b")->node);
}

// Small entries are stored by workers after the reading thread has moved
// on; a later entry of the same name must not change what a hard link to
// the earlier one holds (tar extracts the link with the content then).
TEST_F(TarImportTest, HardLinkKeepsTheContentItsTargetHadThen) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(
      tar,
      {{"a", AE_IFREG, "old content"}, {"link", 0, "a"}, {"a", AE_IFREG, "new content", 0755}});
  for (unsigned threads : {1u, 8u}) {
    auto result = ImportTar(blobs_, dirs_, tar, ImportOptions{.threads = threads});
    ASSERT_TRUE(result.ok()) << result.status();
    auto dir = dirs_.Get(std::get<DirectoryNode>(result->node).digest);
    ASSERT_TRUE(dir.ok() && dir->has_value());
    const auto& link = std::get<FileNode>((*dir)->Find("link")->node);
    const auto& a = std::get<FileNode>((*dir)->Find("a")->node);
    EXPECT_EQ(link.digest, B3Digest::Of("old content"));
    EXPECT_FALSE(link.executable);
    EXPECT_EQ(a.digest, B3Digest::Of("new content"));
    EXPECT_TRUE(a.executable);
    EXPECT_EQ(result->stats.files, 2u);
  }
}

// Many small entries (stored by the workers) between big ones (streamed on
// the reading thread), in several directories: the node equals the
// directory import's whatever the number of workers, and importing the
// archive again writes nothing.
TEST_F(TarImportTest, ManySmallAndBigEntriesGiveTheSameDigestAsTheTree) {
  std::string src = tmp_ / "src";
  MakeDir(src);
  std::vector<TarEntry> entries;
  std::mt19937 rng(7);
  for (int d = 0; d < 4; ++d) {
    std::string dir = absl::StrCat("d", d);
    MakeDir(src + "/" + dir);
    entries.push_back({dir + "/", AE_IFDIR});
    for (int f = 0; f < 150; ++f) {
      // Sizes around the small/big boundary too.
      size_t size = f % 50 == 49 ? (1 << 20) + (f % 3) - 1 : 1 + rng() % 5000;
      std::string data(size, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      std::string name = absl::StrCat(dir, "/f", f);
      WriteFile(src + "/" + name, data);
      entries.push_back({name, AE_IFREG, std::move(data)});
    }
  }
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, entries);
  auto tree = ImportPath(blobs_, dirs_, src);
  ASSERT_TRUE(tree.ok()) << tree.status();
  for (unsigned threads : {1u, 8u}) {
    MemoryBlobService blobs;
    MemoryDirectoryService dirs;
    auto first = ImportTar(blobs, dirs, tar, ImportOptions{.threads = threads});
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->node, tree->node) << threads << " threads";
    EXPECT_EQ(first->stats.files, 600u);
    EXPECT_EQ(first->stats.blobs_new, 600u);
    EXPECT_EQ(first->stats.bytes_new, tree->stats.bytes);
    auto again = ImportTar(blobs, dirs, tar, ImportOptions{.threads = threads});
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->node, tree->node);
    EXPECT_EQ(again->stats.bytes_new, 0u);
    EXPECT_EQ(again->stats.blobs_new, 0u);
  }
}

TEST_F(TarImportTest, RejectsTraversalAndAbsoluteNames) {
  for (std::string bad : {"../evil", "a/../../evil", "/etc/passwd", "ok/.."}) {
    std::string tar = tmp_ / "bad.tar";
    WriteTar(tar, {{"fine", AE_IFREG, "x"}, {bad, AE_IFREG, "evil"}});
    auto result = ImportTar(blobs_, dirs_, tar);
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
    auto result = ImportTar(blobs_, dirs_, tar);
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
  auto ok = ImportTar(blobs_, dirs_, tar);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->stats.directories, 2048u);
  // Used to overflow the stack while building the tree.
  WriteTar(tar, {{deep_name + "f", AE_IFREG, "x"}});
  auto deep = ImportTar(blobs_, dirs_, tar);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deep.status().message().find("levels deep"), absl::string_view::npos) << deep.status();
}

TEST_F(TarImportTest, RejectsHardLinkOutsideTheArchive) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"b", 0, "../../etc/passwd"}});
  EXPECT_FALSE(ImportTar(blobs_, dirs_, tar).ok());
  WriteTar(tar, {{"b", 0, "missing"}});
  EXPECT_FALSE(ImportTar(blobs_, dirs_, tar).ok());
}

TEST_F(TarImportTest, RejectsSpecialFiles) {
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"fifo", AE_IFIFO}});
  auto result = ImportTar(blobs_, dirs_, tar);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("fifo"), absl::string_view::npos) << result.status();
}

TEST_F(TarImportTest, GarbageAndMissingFilesFailCleanly) {
  WriteFile(tmp_ / "garbage", std::string(10000, 'g'));
  EXPECT_FALSE(ImportTar(blobs_, dirs_, tmp_ / "garbage").ok());
  auto missing = ImportTar(blobs_, dirs_, tmp_ / "missing.tar");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.tar"), absl::string_view::npos);
  // Truncated in the middle of a file's data.
  std::string tar = tmp_ / "t.tar";
  WriteTar(tar, {{"big", AE_IFREG, std::string(100000, 'b')}});
  ASSERT_EQ(truncate(tar.c_str(), 20000), 0);
  EXPECT_FALSE(ImportTar(blobs_, dirs_, tar).ok());
}

TEST_F(TarImportTest, RefusesSparseMapsOutOfOrderOverlappingOrPastTheSize) {
  struct Case {
    const char* name;
    std::string archive;
  };
  // GNU pax 0.1 maps: GNU.sparse.size is the file's size, GNU.sparse.map
  // its data blocks (offset,length,...), stored back to back as the entry's data.
  auto pax01 = [](const std::string& name, uint64_t size, const std::string& map, size_t stored) {
    return PaxHeader({{"GNU.sparse.size", std::to_string(size)},
                      {"GNU.sparse.map", map},
                      {"path", name}}) +
           RegularFile(name, std::string(stored, 'd'));
  };
  std::vector<Case> cases = {
      {"out_of_order", pax01("out_of_order", 16384, "8192,512,0,512", 1024)},
      {"overlapping", pax01("overlapping", 16384, "0,1024,512,512", 1536)},
      {"past_the_size", pax01("past_the_size", 4096, "0,512,8192,512", 1024)},
      {"straddles_the_size", pax01("straddles_the_size", 4096, "0,512,3584,1024", 1536)},
      {"gnu_old_past_the_size",
       GnuSparseHeader("gnu_old_past_the_size", 1024, {{0, 512}, {4096, 512}}) +
           Padded(std::string(1024, 'd'))},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string tar = tmp_ / "bad_sparse.tar";
    WriteFile(tar, RegularFile("fine", "ok") + c.archive + EndOfArchive());
    auto result = ImportTar(blobs_, dirs_, tar);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_NE(result.status().message().find(absl::StrCat("'", c.name, "'")),
              absl::string_view::npos)
        << result.status();
    EXPECT_NE(result.status().message().find("sparse"), absl::string_view::npos) << result.status();
  }
}

// A file of `size` bytes with pseudorandom data at `extents` (offset,
// length) and holes everywhere else.
struct SparseShape {
  std::string name;
  uint64_t size;
  std::vector<std::pair<uint64_t, uint64_t>> extents;
};

constexpr uint64_t kMiB = 1 << 20;

std::vector<SparseShape> SparseShapes() {
  return {
      {"hole_at_end", 2 * kMiB, {{0, 4096}}},
      {"hole_at_start", 3 * kMiB + 123, {{3 * kMiB, 123}}},
      {"holes_in_the_middle", 2 * kMiB + 777, {{0, 8192}, {kMiB, 4096}, {2 * kMiB, 777}}},
      {"all_hole", 5 * kMiB, {}},
      {"block_multiple", kMiB, {{4096, 4096}, {kMiB - 4096, 4096}}},
      // Zero-filled in pieces: a blob bigger than BlobSink's buffer.
      {"large_mostly_hole", 64 * kMiB, {{0, 4096}, {32 * kMiB, 65536}}},
  };
}

void MakeSparseFile(const std::string& path, const SparseShape& shape) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(ftruncate(fd, static_cast<off_t>(shape.size)), 0) << path;
  std::mt19937_64 rng(shape.size);
  for (const auto& [offset, length] : shape.extents) {
    std::string data(length, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    ASSERT_EQ(pwrite(fd, data.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
  }
  ASSERT_EQ(close(fd), 0);
}

// The names of the archive's entries that libarchive reads as sparse.
std::set<std::string> SparseEntries(const std::string& tar) {
  std::set<std::string> names;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  if (archive_read_open_filename(a, tar.c_str(), 1 << 16) == ARCHIVE_OK) {
    archive_entry* entry;
    while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
      if (archive_entry_sparse_count(entry) > 0) names.insert(archive_entry_pathname(entry));
    }
  }
  archive_read_free(a);
  return names;
}

// Expects `node` to hold exactly the bytes of the file at `path`: its digest
// is the file's BLAKE3, its size the file's, and the stored blob reads back
// byte for byte.
void ExpectStoredAs(BlobService& blobs, const FileNode& node, const std::string& path) {
  auto reader = blobs.OpenRead(node.digest);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_NE(*reader, nullptr) << "blob not stored";
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path;
  Blake3Hasher hasher;
  uint64_t size = 0;
  std::string want(kMiB, '\0'), got(kMiB, '\0');
  bool same = true;
  while (true) {
    ssize_t n = read(fd, want.data(), want.size());
    ASSERT_GE(n, 0) << path;
    if (n == 0) break;
    hasher.Update(std::string_view(want.data(), n));
    auto m = (*reader)->ReadAt(size, std::span<uint8_t>(reinterpret_cast<uint8_t*>(got.data()), n));
    ASSERT_TRUE(m.ok()) << m.status();
    if (same && (*m != static_cast<size_t>(n) || std::memcmp(want.data(), got.data(), n) != 0)) {
      ADD_FAILURE() << "stored bytes differ from the file in [" << size << ", " << size + n << ")";
      same = false;
    }
    size += n;
  }
  close(fd);
  EXPECT_EQ(node.size, size);
  EXPECT_EQ((*reader)->size(), size);
  EXPECT_EQ(node.digest, hasher.Finalize());
}

struct SparseTool {
  std::string name;
  std::vector<std::string> argv;  // before "-c -f ARCHIVE -C DIR NAMES..."
};

void PrintTo(const SparseTool& tool, std::ostream* os) { *os << tool.name; }

class SparseTarImportTest : public TarImportTest,
                            public ::testing::WithParamInterface<SparseTool> {};

// Sparse files archived by the real tools (GNU tar in each of its sparse
// formats, bsdtar) import to exactly the bytes of the file: holes at the
// start, in the middle and at the end read as zeros, and the size is the
// file's.
TEST_P(SparseTarImportTest, StoresEverySparseFileByteForByte) {
  std::string src = tmp_ / "src";
  std::string tar = tmp_ / "sparse.tar";
  MakeDir(src);
  std::vector<std::string> argv = GetParam().argv;
  argv.insert(argv.end(), {"-c", "-f", tar, "-C", src});
  uint64_t total = 0;
  for (const SparseShape& shape : SparseShapes()) {
    MakeSparseFile(src + "/" + shape.name, shape);
    argv.push_back(shape.name);
    total += shape.size;
  }
  auto run = testing::Run(argv, tmp_ / "tool");
  ASSERT_EQ(run.code, 0) << argv[0] << " (scripts/setup.sh installs it): " << run.err;
  // Each entry really is sparse in the archive, else this tests nothing.
  std::set<std::string> sparse = SparseEntries(tar);
  for (const SparseShape& shape : SparseShapes()) {
    EXPECT_TRUE(sparse.contains(shape.name)) << shape.name << " is not sparse in the archive";
  }

  auto result = ImportTar(blobs_, dirs_, tar);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.files, SparseShapes().size());
  EXPECT_EQ(result->stats.bytes, total);
  auto dir = dirs_.Get(std::get<DirectoryNode>(result->node).digest);
  ASSERT_TRUE(dir.ok() && dir->has_value());
  for (const SparseShape& shape : SparseShapes()) {
    SCOPED_TRACE(shape.name);
    const Entry* entry = (*dir)->Find(shape.name);
    ASSERT_NE(entry, nullptr);
    const auto* file = std::get_if<FileNode>(&entry->node);
    ASSERT_NE(file, nullptr);
    EXPECT_EQ(file->size, shape.size);
    ExpectStoredAs(blobs_, *file, src + "/" + shape.name);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tools, SparseTarImportTest,
    ::testing::Values(
        SparseTool{"GnuTarOldGnu", {"tar", "--format=gnu", "--sparse"}},
        SparseTool{"GnuTarPax0_0", {"tar", "--format=pax", "--sparse", "--sparse-version=0.0"}},
        SparseTool{"GnuTarPax0_1", {"tar", "--format=pax", "--sparse", "--sparse-version=0.1"}},
        SparseTool{"GnuTarPax1_0", {"tar", "--format=pax", "--sparse", "--sparse-version=1.0"}},
        SparseTool{"Bsdtar", {"bsdtar"}}),
    [](const ::testing::TestParamInfo<SparseTool>& info) { return info.param.name; });

}  // namespace
}  // namespace castor::castore
