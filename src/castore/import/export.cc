#include "castore/import/export.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/posix_io.h"
#include "base/status.h"

namespace castor::castore {
namespace {

constexpr size_t kCopyChunk = 1 << 20;

class Exporter {
 public:
  Exporter(BlobService& blobs, DirectoryService& directories)
      : blobs_(blobs), directories_(directories), buf_(kCopyChunk) {}

  // `depth`: levels below the top of the export.
  absl::Status Write(int dirfd, const char* name, const Node& node, const std::string& path,
                     size_t depth) {
    if (const auto* d = std::get_if<DirectoryNode>(&node)) {
      return WriteDir(dirfd, name, *d, path, depth);
    }
    if (const auto* f = std::get_if<FileNode>(&node)) return WriteFile(dirfd, name, *f, path);
    const auto& s = std::get<SymlinkNode>(node);
    if (symlinkat(s.target.str().c_str(), dirfd, name) != 0) {
      return ErrnoStatus(errno, absl::StrCat("symlink ", path));
    }
    ++stats_.symlinks;
    return absl::OkStatus();
  }

  ExportStats stats_;

 private:
  absl::Status WriteDir(int dirfd, const char* name, const DirectoryNode& node,
                        const std::string& path, size_t depth) {
    ASSIGN_OR_RETURN(std::optional<Directory> dir, directories_.Get(node.digest));
    if (!dir) {
      return absl::NotFoundError(
          absl::StrCat(path, ": directory ", node.digest.ToB3(), " is not in the store"));
    }
    if (mkdirat(dirfd, name, 0700) != 0) return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
    UniqueFd fd(openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
    ++stats_.directories;
    for (const Entry& e : dir->entries()) {
      std::string child = absl::StrCat(path, "/", e.name.str());
      if (depth == kMaxTreeDepth) return TooDeepError("", child);
      RETURN_IF_ERROR(Write(fd.get(), e.name.str().c_str(), e.node, child, depth + 1));
    }
    if (fchmod(fd.get(), 0755) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", path));
    return absl::OkStatus();
  }

  absl::Status WriteFile(int dirfd, const char* name, const FileNode& node,
                         const std::string& path) {
    ASSIGN_OR_RETURN(auto reader, blobs_.OpenReadSized(node.digest, node.size));
    if (reader == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(path, ": blob ", node.digest.ToB3(), " is not in the store"));
    }
    if (reader->size() != node.size) {
      return absl::DataLossError(absl::StrCat(path, ": blob ", node.digest.ToB3(), " has ",
                                              reader->size(), " bytes, expected ", node.size));
    }
    UniqueFd fd(openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("create ", path));
    absl::Status copied = Copy(*reader, node, fd.get(), path);
    if (!copied.ok()) {
      // What was written is not the file: nothing of it stays.
      std::string removed =
          unlinkat(dirfd, name, 0) == 0
              ? std::string(" (the partly written file was removed)")
              : absl::StrCat(" (removing the partly written file: ", strerror(errno), ")");
      return absl::Status(copied.code(), absl::StrCat(copied.message(), removed));
    }
    if (fchmod(fd.get(), node.executable ? 0755 : 0644) != 0) {
      return ErrnoStatus(errno, absl::StrCat("chmod ", path));
    }
    ++stats_.files;
    stats_.bytes += node.size;
    return absl::OkStatus();
  }

  // Writes the blob `reader` holds to `fd`. Only checked bytes are written:
  // a Verified() reader checks each piece it reads, any other is hashed
  // whole first.
  absl::Status Copy(const BlobReader& reader, const FileNode& node, int fd,
                    const std::string& path) {
    const std::string what = absl::StrCat(path, ": blob ", node.digest.ToB3());
    if (!reader.Verified()) RETURN_IF_ERROR(Annotate(VerifyReader(reader, node.digest), path));
    uint64_t offset = 0;
    while (offset < node.size) {
      auto n = reader.ReadAt(offset, buf_);
      if (!n.ok()) return Annotate(n.status(), what);
      if (*n == 0) break;
      RETURN_IF_ERROR(WriteAll(fd, std::span(buf_.data(), *n), absl::StrCat("write ", path)));
      offset += *n;
    }
    if (offset != node.size) {
      return absl::DataLossError(absl::StrCat(what, " ends at byte ", offset, " of ", node.size,
                                              " (corrupt in the store)"));
    }
    return absl::OkStatus();
  }

  BlobService& blobs_;
  DirectoryService& directories_;
  std::vector<uint8_t> buf_;
};

}  // namespace

absl::StatusOr<ExportStats> ExportNode(BlobService& blobs, DirectoryService& directories,
                                       const Node& node, const std::string& dest,
                                       const ExportOptions& options) {
  std::string trimmed = dest;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  size_t slash = trimmed.rfind('/');
  std::string parent = slash == std::string::npos ? "."
                       : slash == 0               ? "/"
                                                  : trimmed.substr(0, slash);
  std::string name = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("export destination ", QuoteName(dest), " must name a new entry"));
  }
  UniqueFd parent_fd(open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (parent_fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("open ", parent));
  struct stat st;
  if (fstatat(parent_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!options.force) {
      return absl::AlreadyExistsError(
          absl::StrCat(trimmed, " already exists (use --force to replace it)"));
    }
    RETURN_IF_ERROR(RemoveTreeAt(parent_fd.get(), name.c_str(), trimmed, kMaxTreeDepth));
  } else if (errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("lstat ", trimmed));
  }
  Exporter exporter(blobs, directories);
  RETURN_IF_ERROR(exporter.Write(parent_fd.get(), name.c_str(), node, trimmed, 0));
  return exporter.stats_;
}

}  // namespace castor::castore
