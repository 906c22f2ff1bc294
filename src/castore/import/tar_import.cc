#include "castore/import/tar_import.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "castore/directory.h"
#include "castore/import/blob_sink.h"
#include "castore/import/job_pool.h"
#include "castore/import/tree_builder.h"
#include "castore/store_metrics.h"

namespace castor::castore {
namespace {

// Entries whose data is read whole on the reading thread and stored by a
// worker; bigger ones stream through a BlobSink on the reading thread.
constexpr uint64_t kStoredByWorker = BlobSink::kBuffered;
// Entries read but not yet stored at most (bounds memory: 1 MiB each).
constexpr size_t kMaxQueued = 32;

// One file entry's content: filled in on the reading thread (streamed
// entries) or by a worker (small ones), read once the workers are done.
struct FileContent {
  B3Digest digest;
  uint64_t size = 0;
};

struct TarNode {
  enum Kind { kDir, kFile, kSymlink } kind = kDir;
  std::map<std::string, std::unique_ptr<TarNode>> children;  // kDir
  // kFile: shared by the hard links to this entry, and kept when a later
  // entry of the same name replaces it.
  const FileContent* content = nullptr;
  bool executable = false;              // kFile
  std::optional<SymlinkTarget> target;  // kSymlink
};

absl::Status ArchiveError(archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", msg ? msg : "unknown libarchive error"));
}

// Splits an entry name into validated components.
absl::StatusOr<std::vector<std::string>> SplitEntryName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("tar entry with an empty name");
  if (name.front() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("tar entry ", QuoteName(name), ": absolute names are not allowed"));
  }
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(ToAbslView(name), '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("tar entry ", QuoteName(name), ": '..' components are not allowed"));
    }
    auto pc = PathComponent::Create(ToStdView(part));
    if (!pc.ok()) return Annotate(pc.status(), absl::StrCat("tar entry ", QuoteName(name)));
    // A pax path= record can be any length; the tree is built recursively.
    if (parts.size() == kMaxTreeDepth) return TooDeepError("tar entry", name);
    parts.emplace_back(part);
  }
  return parts;
}

class TarImporter {
 public:
  TarImporter(BlobService& blobs, DirectoryService& directories, const ImportOptions& opts)
      : blobs_(blobs),
        directories_(directories),
        opts_(opts),
        pool_(opts.threads ? opts.threads : DefaultImportThreads(), kMaxQueued) {}

  // Reads the archive `open` opens on a fresh libarchive reader; `path`
  // names it in errors.
  absl::StatusOr<ImportResult> Run(const std::string& path,
                                   const std::function<absl::Status(archive*)>& open) {
    auto start = std::chrono::steady_clock::now();
    path_ = path;
    std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
    if (!a) return absl::ResourceExhaustedError("archive_read_new failed");
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    RETURN_IF_ERROR(open(a.get()));
    if (absl::Status read = ReadEntries(a.get(), path); !read.ok()) {
      // A worker's error came first when the pool holds one.
      pool_.Fail(read);
      return pool_.Finish();
    }
    if (opts_.progress) opts_.progress->scan_done = true;
    RETURN_IF_ERROR(pool_.Finish());
    RETURN_IF_ERROR(CheckCancelled());

    ASSIGN_OR_RETURN(auto putter, directories_.OpenPutter());
    TreeBuilder tree(*putter);
    RETURN_IF_ERROR(tree.OpenRoot(path));
    RETURN_IF_ERROR(PutTree(root_, tree, path));
    ASSIGN_OR_RETURN(DirectoryNode node, tree.CloseDirectory());
    ASSIGN_OR_RETURN(B3Digest stored, putter->Close());
    CASTOR_CHECK(stored == node.digest);
    ImportResult result;
    result.node = node;
    CountTree(root_, result.stats);
    result.stats.directories += 1;
    result.stats.bytes_new = bytes_new_.load();
    result.stats.blobs_new = blobs_new_.load();
    result.stats.elapsed = std::chrono::steady_clock::now() - start;
    store_metrics::Imported(result.stats.files, result.stats.bytes, result.stats.bytes_new);
    return result;
  }

 private:
  absl::Status ReadEntries(archive* a, const std::string& path) {
    while (!pool_.failed()) {
      RETURN_IF_ERROR(CheckCancelled());
      archive_entry* entry;
      int r = archive_read_next_header(a, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_WARN) {
        // e.g. an unknown pax header: the entry itself is usable.
      } else if (r != ARCHIVE_OK) {
        return ArchiveError(a, path);
      }
      RETURN_IF_ERROR(Annotate(AddEntry(a, entry), path));
    }
    return absl::OkStatus();
  }

  // The directory holding `parts[0..n-1]`, created as needed.
  absl::StatusOr<TarNode*> Parent(const std::vector<std::string>& parts, std::string_view name) {
    TarNode* dir = &root_;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto& slot = dir->children[parts[i]];
      if (!slot) {
        slot = std::make_unique<TarNode>();
      } else if (slot->kind != TarNode::kDir) {
        return absl::InvalidArgumentError(absl::StrCat("tar entry ", QuoteName(name), ": ",
                                                       QuoteName(parts[i]), " is not a directory"));
      }
      dir = slot.get();
    }
    return dir;
  }

  absl::Status AddEntry(archive* a, archive_entry* entry) {
    const char* raw_name = archive_entry_pathname(entry);
    std::string name = raw_name ? raw_name : "";
    ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitEntryName(name));
    mode_t type = archive_entry_filetype(entry);
    const char* hardlink = archive_entry_hardlink(entry);
    if (parts.empty()) {
      if (type == AE_IFDIR) return absl::OkStatus();  // "./"
      return absl::InvalidArgumentError(
          absl::StrCat("tar entry ", QuoteName(name), ": names the archive's top level"));
    }
    ASSIGN_OR_RETURN(TarNode * parent, Parent(parts, name));
    auto& slot = parent->children[parts.back()];

    if (hardlink != nullptr && archive_entry_size(entry) <= 0) {
      ASSIGN_OR_RETURN(std::vector<std::string> target_parts, SplitEntryName(hardlink));
      const TarNode* target = &root_;
      for (const std::string& p : target_parts) {
        if (target->kind != TarNode::kDir) {
          target = nullptr;
          break;
        }
        auto it = target->children.find(p);
        target = it == target->children.end() ? nullptr : it->second.get();
        if (target == nullptr) break;
      }
      if (target == nullptr || target->kind != TarNode::kFile) {
        return absl::InvalidArgumentError(absl::StrCat("tar entry ", QuoteName(name),
                                                       ": hard link to ", QuoteName(hardlink),
                                                       ", which is not an earlier regular file"));
      }
      auto node = std::make_unique<TarNode>();
      node->kind = TarNode::kFile;
      node->content = target->content;
      node->executable = target->executable;
      Replace(slot, std::move(node));
      return absl::OkStatus();
    }

    switch (type) {
      case AE_IFDIR:
        if (!slot || slot->kind != TarNode::kDir) Replace(slot, std::make_unique<TarNode>());
        return absl::OkStatus();
      case AE_IFLNK: {
        const char* t = archive_entry_symlink(entry);
        auto target = SymlinkTarget::Create(t ? t : "");
        if (!target.ok())
          return Annotate(target.status(), absl::StrCat("tar entry ", QuoteName(name)));
        auto node = std::make_unique<TarNode>();
        node->kind = TarNode::kSymlink;
        node->target = *std::move(target);
        Replace(slot, std::move(node));
        return absl::OkStatus();
      }
      case AE_IFREG: {
        auto node = std::make_unique<TarNode>();
        node->kind = TarNode::kFile;
        node->executable = (archive_entry_mode(entry) & S_IXUSR) != 0;
        ASSIGN_OR_RETURN(node->content, ReadData(a, entry, name));
        Replace(slot, std::move(node));
        return absl::OkStatus();
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "tar entry ", QuoteName(name),
            ": is a device, FIFO or socket; only regular files, directories and symlinks "
            "can be imported"));
    }
  }

  absl::Status CheckCancelled() const {
    if (opts_.cancel != nullptr && opts_.cancel->load()) {
      return absl::CancelledError("import interrupted");
    }
    return absl::OkStatus();
  }

  // Stores one regular entry's data: an entry of known size up to
  // kStoredByWorker is read into memory here and stored by a worker (the
  // returned content is filled in once the workers are done); a bigger one
  // streams through a BlobSink on this thread.
  absl::StatusOr<const FileContent*> ReadData(archive* a, archive_entry* entry,
                                              const std::string& name) {
    std::string what = absl::StrCat("tar entry ", QuoteName(name));
    std::optional<uint64_t> size;
    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) >= 0) {
      size = static_cast<uint64_t>(archive_entry_size(entry));
    }
    FileContent& content = contents_.emplace_back();
    if (size && *size <= kStoredByWorker) {
      auto data = std::make_shared<std::string>();
      data->reserve(*size);
      RETURN_IF_ERROR(ReadBlocks(a, *size, what, [&](std::span<const uint8_t> piece) {
                        data->append(reinterpret_cast<const char*>(piece.data()), piece.size());
                        return absl::OkStatus();
                      }).status());
      pool_.Submit([this, data, &content, what = std::move(what)](bool skip) -> absl::Status {
        if (skip) return absl::OkStatus();
        RETURN_IF_ERROR(CheckCancelled());
        auto bytes = std::span(reinterpret_cast<const uint8_t*>(data->data()), data->size());
        // Named as the reading thread names its errors: archive, then entry.
        ASSIGN_OR_RETURN(BlobSink::Result res, AnnotateOr(BlobSink::PutWhole(blobs_, bytes),
                                                          absl::StrCat(path_, ": ", what)));
        Stored(content, res);
        return absl::OkStatus();
      });
      return &content;
    }
    BlobSink sink(blobs_, size.value_or(0));
    ASSIGN_OR_RETURN(uint64_t stored_size,
                     ReadBlocks(a, size, what, [&sink](std::span<const uint8_t> piece) {
                       return sink.Append(piece);
                     }));
    ASSIGN_OR_RETURN(BlobSink::Result res, AnnotateOr(sink.Finish(), what));
    CASTOR_CHECK(res.size == stored_size);
    Stored(content, res);
    return &content;
  }

  void Stored(FileContent& content, const BlobSink::Result& res) {
    content.digest = res.digest;
    content.size = res.size;
    if (res.is_new) {
      bytes_new_.fetch_add(res.size, std::memory_order_relaxed);
      blobs_new_.fetch_add(1, std::memory_order_relaxed);
    }
    if (opts_.progress) opts_.progress->files_done.fetch_add(1, std::memory_order_relaxed);
  }

  // Reads one regular entry's data blocks and passes them to `append`, at
  // the entry's `size` when the header gives one. A sparse entry comes as
  // data blocks with their offsets; the holes between them and after the
  // last one (ARCHIVE_EOF reports where the entry ends as its offset) are
  // passed on as zeros, in pieces. libarchive passes a sparse map on as the
  // archive has it, so blocks out of order, overlapping or past the entry's
  // size are refused here; the data always comes out at the entry's size,
  // which is returned.
  absl::StatusOr<uint64_t> ReadBlocks(
      archive* a, std::optional<uint64_t> size, const std::string& what,
      const std::function<absl::Status(std::span<const uint8_t>)>& append) {
    uint64_t pos = 0;  // bytes appended so far
    la_int64_t end = -1;
    while (true) {
      RETURN_IF_ERROR(CheckCancelled());
      const void* buf = nullptr;
      size_t n = 0;
      la_int64_t offset = -1;
      int r = archive_read_data_block(a, &buf, &n, &offset);
      if (r == ARCHIVE_EOF) {
        end = offset;
        break;
      }
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return ArchiveError(a, what);
      if (offset < 0 || static_cast<uint64_t>(offset) < pos) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": sparse data block at offset ", offset,
            " is out of order or overlaps the data before it (which ends at ", pos, ")"));
      }
      const uint64_t start = static_cast<uint64_t>(offset);
      if (size && (start > *size || n > *size - start)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": sparse data block [", start, ", ",
                                                       start + n, ") ends past the file's size of ",
                                                       *size, " bytes"));
      }
      RETURN_IF_ERROR(AppendZeros(append, start - pos));
      RETURN_IF_ERROR(append(std::span<const uint8_t>(static_cast<const uint8_t*>(buf), n)));
      pos = start + n;
      if (opts_.progress) opts_.progress->bytes_done.fetch_add(n, std::memory_order_relaxed);
    }
    if (!size && end >= 0 && static_cast<uint64_t>(end) >= pos) size = static_cast<uint64_t>(end);
    if (!size || (end >= 0 && static_cast<uint64_t>(end) != *size)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": its data ends at ", end, ", not at the file's size",
                       size ? absl::StrCat(" of ", *size, " bytes") : " (none given)"));
    }
    RETURN_IF_ERROR(AppendZeros(append, *size - pos));
    return *size;
  }

  // Passes `n` zero bytes (a hole) to `append` in bounded pieces.
  absl::Status AppendZeros(const std::function<absl::Status(std::span<const uint8_t>)>& append,
                           uint64_t n) {
    static constexpr std::array<uint8_t, 1 << 16> kZeros{};
    while (n > 0) {
      RETURN_IF_ERROR(CheckCancelled());
      size_t k = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), n));
      RETURN_IF_ERROR(append(std::span<const uint8_t>(kZeros.data(), k)));
      n -= k;
      if (opts_.progress) opts_.progress->bytes_done.fetch_add(k, std::memory_order_relaxed);
    }
    return absl::OkStatus();
  }

  // Puts `node` in `slot`. What the slot held stays alive until the import
  // ends: a worker may still be storing its content.
  void Replace(std::unique_ptr<TarNode>& slot, std::unique_ptr<TarNode> node) {
    if (slot) replaced_.push_back(std::move(slot));
    slot = std::move(node);
  }

  // Feeds `dir`'s entries (the open directory of `tree`, at `path`) to
  // `tree`, subdirectories depth first.
  absl::Status PutTree(const TarNode& dir, TreeBuilder& tree, const std::string& path) {
    for (const auto& [name, child] : dir.children) {
      auto pc = PathComponent::Create(name);
      CASTOR_CHECK(pc.ok());  // validated when the entry was added
      std::string child_path = absl::StrCat(path, "/", name);
      switch (child->kind) {
        case TarNode::kDir:
          RETURN_IF_ERROR(tree.OpenDirectory(*std::move(pc), child_path));
          RETURN_IF_ERROR(PutTree(*child, tree, child_path));
          RETURN_IF_ERROR(tree.CloseDirectory().status());
          break;
        case TarNode::kFile:
          RETURN_IF_ERROR(
              tree.Add(*std::move(pc),
                       FileNode{child->content->digest, child->content->size, child->executable},
                       child_path));
          break;
        case TarNode::kSymlink:
          RETURN_IF_ERROR(tree.Add(*std::move(pc), SymlinkNode{*child->target}, child_path));
          break;
      }
    }
    return absl::OkStatus();
  }

  static void CountTree(const TarNode& dir, ImportStats& stats) {
    for (const auto& [name, child] : dir.children) {
      switch (child->kind) {
        case TarNode::kDir:
          ++stats.directories;
          CountTree(*child, stats);
          break;
        case TarNode::kFile:
          ++stats.files;
          stats.bytes += child->content->size;
          break;
        case TarNode::kSymlink:
          ++stats.symlinks;
          break;
      }
    }
  }

  BlobService& blobs_;
  DirectoryService& directories_;
  const ImportOptions& opts_;
  std::string path_;  // the archive, in errors
  TarNode root_;
  std::vector<std::unique_ptr<TarNode>> replaced_;
  // Stable addresses: workers fill in elements while more are added.
  std::deque<FileContent> contents_;
  std::atomic<uint64_t> bytes_new_{0};
  std::atomic<uint64_t> blobs_new_{0};
  JobPool pool_;  // last: its threads stop before the members they use go away
};

}  // namespace

absl::StatusOr<ImportResult> ImportTar(BlobService& blobs, DirectoryService& directories,
                                       const std::string& path, const ImportOptions& options) {
  TarImporter importer(blobs, directories, options);
  return importer.Run(path, [&path](archive* a) -> absl::Status {
    int r = path == "-" ? archive_read_open_fd(a, STDIN_FILENO, 1 << 16)
                        : archive_read_open_filename(a, path.c_str(), 1 << 16);
    if (r == ARCHIVE_OK) return absl::OkStatus();
    if (path != "-" && access(path.c_str(), R_OK) != 0) {
      return ErrnoStatus(errno, absl::StrCat("open ", path));
    }
    return ArchiveError(a, path);
  });
}

absl::StatusOr<ImportResult> ImportTarBytes(BlobService& blobs, DirectoryService& directories,
                                            std::span<const uint8_t> bytes, const std::string& what,
                                            const ImportOptions& options) {
  TarImporter importer(blobs, directories, options);
  return importer.Run(what, [&](archive* a) -> absl::Status {
    if (archive_read_open_memory(a, bytes.data(), bytes.size()) == ARCHIVE_OK)
      return absl::OkStatus();
    return ArchiveError(a, what);
  });
}

}  // namespace castor::castore
