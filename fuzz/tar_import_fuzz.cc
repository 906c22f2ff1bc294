// libFuzzer target: tar archive bytes through castore::IngestTarBytes
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
// size its FileNode claims.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  LimitedBlobService blobs;
  castor::castore::MemoryDirectoryService directories;
  castor::castore::ImportOptions options;
  options.threads = 1;
  auto result = castor::castore::IngestTarBytes(blobs, directories,
                                                std::span<const uint8_t>(data, size), "fuzz.tar", options);
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
  return 0;
}
