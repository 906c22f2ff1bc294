// libFuzzer target: tar archive bytes through castore::ImportTarBytes
// (libarchive parses from memory; we fuzz what the import does with the
// entries: traversal, absolute names, odd types, hard links, duplicates,
// long names, deep trees) into memory:// services.
//
// Either the import fails with InvalidArgument and a message (or with the
// harness's own blob byte limit, which bounds what a small sparse or
// compressed archive can expand to), or it returns a directory node whose
// closure is complete: every Directory re-validates (decoding its canonical
// bytes accepts them), every name is a valid PathComponent, every symlink
// target a valid SymlinkTarget, and every file's blob is stored with the
// size its FileNode claims. And the bytes are right: the archive is read a
// second time with libarchive's own archive_read_data (which fills sparse
// holes with zeros itself), and every regular entry that is still in the
// tree at its path was stored as exactly those bytes, at the entry's size.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "castore/blob/memory_blob_service.h"
#include "castore/directory.h"
#include "castore/directory/closure.h"
#include "castore/directory/memory_directory_service.h"
#include "castore/import/tar_import.h"
#include "fuzz/fuzz_check.h"

namespace {

using castor::castore::B3Digest;
using castor::castore::BlobReader;
using castor::castore::BlobService;
using castor::castore::BlobWriter;
using castor::castore::ChunkMeta;

constexpr uint64_t kMaxBlobBytes = 2 << 20;
constexpr char kLimitMessage[] = "fuzz harness: blob byte limit reached";

// Fails every write once the blobs of one import exceed kMaxBlobBytes.
class LimitedBlobService : public BlobService {
 public:
  class Writer : public BlobWriter {
   public:
    Writer(std::unique_ptr<BlobWriter> inner, LimitedBlobService& owner)
        : inner_(std::move(inner)), owner_(owner) {}
    absl::Status Write(std::span<const uint8_t> data) override {
      owner_.written_ += data.size();
      if (owner_.written_ > kMaxBlobBytes) {
        owner_.limit_hit_ = true;
        return absl::ResourceExhaustedError(kLimitMessage);
      }
      return inner_->Write(data);
    }
    absl::StatusOr<B3Digest> Close() override { return inner_->Close(); }
    uint64_t bytes_written() const override { return inner_->bytes_written(); }

   private:
    std::unique_ptr<BlobWriter> inner_;
    LimitedBlobService& owner_;
  };

  absl::StatusOr<bool> Has(const B3Digest& d) override { return inner_.Has(d); }
  absl::StatusOr<std::unique_ptr<BlobReader>> OpenRead(const B3Digest& d) override {
    return inner_.OpenRead(d);
  }
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenWrite() override {
    auto w = inner_.OpenWrite();
    if (!w.ok()) return w.status();
    return std::unique_ptr<BlobWriter>(new Writer(*std::move(w), *this));
  }
  absl::StatusOr<std::optional<std::vector<ChunkMeta>>> Chunks(const B3Digest& d) override {
    return inner_.Chunks(d);
  }
  absl::Status Sync() override { return inner_.Sync(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    return inner_.ForEach(fn);
  }
  absl::Status Delete(const B3Digest& d) override { return inner_.Delete(d); }

  bool limit_hit() const { return limit_hit_; }

 private:
  castor::castore::MemoryBlobService inner_;
  uint64_t written_ = 0;
  bool limit_hit_ = false;
};

struct Expected {
  B3Digest digest;
  uint64_t size = 0;
};

// An entry name as the import places it: without empty and `.` components
// (the import succeeded, so there are no `..` or absolute names).
std::string Normalize(const char* name) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(name == nullptr ? "" : name, '/')) {
    if (!part.empty() && part != ".") parts.emplace_back(part);
  }
  return absl::StrJoin(parts, "/");
}

// What each regular entry holds by libarchive's own reading, keyed by the
// path it lands on; later entries replace earlier ones (and a non-directory
// replaces everything below its path), as in the import.
std::map<std::string, Expected> ReadWithLibarchive(const uint8_t* data, size_t size) {
  std::map<std::string, Expected> expected;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  FUZZ_CHECK(a != nullptr);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  FUZZ_CHECK(archive_read_open_memory(a.get(), data, size) == ARCHIVE_OK);
  std::vector<char> buf(1 << 16);
  while (true) {
    archive_entry* entry;
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    // The import read the same bytes to the end.
    FUZZ_CHECK(r == ARCHIVE_OK || r == ARCHIVE_WARN);
    std::string path = Normalize(archive_entry_pathname(entry));
    bool link = archive_entry_hardlink(entry) != nullptr && archive_entry_size(entry) <= 0;
    mode_t type = archive_entry_filetype(entry);
    // A directory keeps what an earlier directory there held; anything else
    // replaces the path and what was below it.
    expected.erase(path);
    if (!link && type == AE_IFDIR) continue;
    const std::string below = path + "/";
    for (auto it = expected.lower_bound(below);
         it != expected.end() && it->first.compare(0, below.size(), below) == 0;) {
      it = expected.erase(it);
    }
    if (link || type != AE_IFREG) continue;
    castor::castore::Blake3Hasher hasher;
    uint64_t n = 0;
    while (true) {
      la_ssize_t got = archive_read_data(a.get(), buf.data(), buf.size());
      FUZZ_CHECK(got >= 0);
      if (got == 0) break;
      hasher.Update(std::string_view(buf.data(), static_cast<size_t>(got)));
      n += static_cast<uint64_t>(got);
    }
    // The file is the entry's size: libarchive before 3.8 stops short of a
    // hole at the end when a read ends exactly where the last data does (an
    // all-hole file reads as nothing), so the rest is zeros.
    FUZZ_CHECK(archive_entry_size_is_set(entry));
    uint64_t entry_size = static_cast<uint64_t>(archive_entry_size(entry));
    FUZZ_CHECK(n <= entry_size);
    std::fill(buf.begin(), buf.end(), 0);
    while (n < entry_size) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(buf.size(), entry_size - n));
      hasher.Update(std::string_view(buf.data(), k));
      n += k;
    }
    expected[path] = Expected{hasher.Finalize(), entry_size};
  }
  return expected;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  LimitedBlobService blobs;
  castor::castore::MemoryDirectoryService directories;
  castor::castore::ImportOptions options;
  options.threads = 1;
  auto result = castor::castore::ImportTarBytes(
      blobs, directories, std::span<const uint8_t>(data, size), "fuzz.tar", options);
  if (!result.ok()) {
    FUZZ_CHECK(!result.status().message().empty());
    if (result.status().code() == absl::StatusCode::kResourceExhausted) {
      FUZZ_CHECK(blobs.limit_hit());
    } else {
      FUZZ_CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    }
    return 0;
  }
  const auto* root = std::get_if<castor::castore::DirectoryNode>(&result->node);
  FUZZ_CHECK(root != nullptr);
  uint64_t files = 0, symlinks = 0;
  absl::Status walk = castor::castore::WalkClosure(
      directories, root->digest, [&](const castor::castore::Directory& dir) -> absl::Status {
        auto again = castor::castore::Directory::Decode(dir.Encode());
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->digest() == dir.digest());
        for (const auto& e : dir.entries()) {
          FUZZ_CHECK(castor::castore::PathComponent::Create(e.name.str()).ok());
          if (const auto* f = std::get_if<castor::castore::FileNode>(&e.node)) {
            auto reader = blobs.OpenRead(f->digest);
            FUZZ_CHECK(reader.ok() && *reader != nullptr);
            FUZZ_CHECK((*reader)->size() == f->size);
            ++files;
          } else if (const auto* s = std::get_if<castor::castore::SymlinkNode>(&e.node)) {
            FUZZ_CHECK(castor::castore::SymlinkTarget::Create(s->target.str()).ok());
            ++symlinks;
          }
        }
        return absl::OkStatus();
      });
  FUZZ_CHECK(walk.ok());
  // The walk sees each distinct Directory once, the import counts every
  // occurrence: it can only find fewer entries.
  FUZZ_CHECK(files <= result->stats.files);
  FUZZ_CHECK(symlinks <= result->stats.symlinks);

  for (const auto& [path, want] : ReadWithLibarchive(data, size)) {
    castor::castore::Node node = result->node;
    for (absl::string_view part : absl::StrSplit(path, '/')) {
      const auto* dir = std::get_if<castor::castore::DirectoryNode>(&node);
      FUZZ_CHECK(dir != nullptr);
      auto got = directories.Get(dir->digest);
      FUZZ_CHECK(got.ok() && got->has_value());
      const castor::castore::Entry* e = (*got)->Find(std::string_view(part.data(), part.size()));
      FUZZ_CHECK(e != nullptr);
      node = e->node;
    }
    const auto* file = std::get_if<castor::castore::FileNode>(&node);
    FUZZ_CHECK(file != nullptr);
    FUZZ_CHECK(file->size == want.size);
    FUZZ_CHECK(file->digest == want.digest);
    // The import hashes what it writes (a prehashed writer): hash what the
    // blob holds.
    auto reader = blobs.OpenRead(file->digest);
    FUZZ_CHECK(reader.ok() && *reader != nullptr);
    castor::castore::Blake3Hasher stored;
    std::vector<uint8_t> buf(1 << 16);
    uint64_t at = 0;
    while (true) {
      auto n = (*reader)->ReadAt(at, buf);
      FUZZ_CHECK(n.ok());
      if (*n == 0) break;
      stored.Update(std::span<const uint8_t>(buf.data(), *n));
      at += *n;
    }
    FUZZ_CHECK(at == want.size);
    FUZZ_CHECK(stored.Finalize() == want.digest);
  }
  return 0;
}
