#include "castore/maintenance/closure_check.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/directory/closure.h"

namespace castor::castore {
namespace {

class ClosureChecker {
 public:
  ClosureChecker(BlobService& blobs, DirectoryService& directories, const Entry& root)
      : blobs_(blobs), directories_(directories), root_(root) {}

  absl::Status Run() {
    if (const auto* f = std::get_if<FileNode>(&root_.node)) {
      return CheckBlob(*f, [&] { return root_.name.str(); });
    }
    const auto* d = std::get_if<DirectoryNode>(&root_.node);
    if (d == nullptr) return absl::OkStatus();  // a symlink refers to nothing stored
    root_digest_ = d->digest;
    std::optional<B3Digest> missing;
    auto get = [&](const B3Digest& digest) -> absl::StatusOr<std::optional<Directory>> {
      ASSIGN_OR_RETURN(std::optional<Directory> dir, directories_.Get(digest));
      if (!dir.has_value()) missing = digest;
      return dir;
    };
    bool first = true;
    absl::Status s = WalkClosure(get, d->digest, [&](const Directory& dir) -> absl::Status {
      if (first && dir.size() != d->size) {
        return absl::InvalidArgumentError(absl::StrCat(Root(), " has size ", d->size,
                                                       " but directory ", d->digest.ToB3(),
                                                       " has size ", dir.size()));
      }
      first = false;
      return CheckEntries(dir);
    });
    if (missing.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(Root(), ": directory ", missing->ToB3(),
                                                        " at ", QuoteName(PathOf(*missing, "")),
                                                        " is not stored"));
    }
    return s;
  }

 private:
  std::string Root() const { return absl::StrCat("root ", QuoteName(root_.name.str())); }

  absl::Status CheckEntries(const Directory& dir) {
    for (const Entry& e : dir.entries()) {
      if (const auto* f = std::get_if<FileNode>(&e.node)) {
        if (!checked_blobs_.insert(f->digest).second) continue;
        RETURN_IF_ERROR(CheckBlob(*f, [&] { return PathOf(dir.digest(), e.name.str()); }));
      } else if (const auto* sub = std::get_if<DirectoryNode>(&e.node)) {
        // Where a Directory was first seen, to name its path should it be
        // missing (the walk reads it once, from its first parent).
        parents_.try_emplace(sub->digest, dir.digest(), e.name.str());
      }
    }
    return absl::OkStatus();
  }

  // `path` names the file, for messages only (built when needed).
  template <typename PathFn>
  absl::Status CheckBlob(const FileNode& f, const PathFn& path) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> size, blobs_.StoredSize(f.digest));
    if (!size.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(Root(), ": blob ", f.digest.ToB3(), " at ",
                                                        QuoteName(path()), " is not stored"));
    }
    if (*size != f.size) {
      return absl::InvalidArgumentError(absl::StrCat(Root(), ": blob ", f.digest.ToB3(), " at ",
                                                     QuoteName(path()), " has ", *size,
                                                     " bytes, its node says ", f.size));
    }
    return absl::OkStatus();
  }

  // "root/a/b/name" for `name` in the Directory `digest` (the Directory
  // itself when `name` is empty), through the parents recorded on the way
  // down; at most kMaxTreeDepth components, the top elided beyond that.
  std::string PathOf(B3Digest digest, const std::string& name) const {
    std::vector<const std::string*> parts;
    if (!name.empty()) parts.push_back(&name);
    while (digest != root_digest_ && parts.size() < kMaxTreeDepth) {
      auto it = parents_.find(digest);
      if (it == parents_.end()) break;
      parts.push_back(&it->second.second);
      digest = it->second.first;
    }
    std::string path = digest == root_digest_ ? root_.name.str() : "...";
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) absl::StrAppend(&path, "/", **it);
    return path;
  }

  BlobService& blobs_;
  DirectoryService& directories_;
  const Entry& root_;
  B3Digest root_digest_;
  absl::flat_hash_set<B3Digest> checked_blobs_;
  absl::flat_hash_map<B3Digest, std::pair<B3Digest, std::string>> parents_;
};

}  // namespace

absl::Status CheckClosureStored(BlobService& blobs, DirectoryService& directories,
                                const Entry& root) {
  return ClosureChecker(blobs, directories, root).Run();
}

}  // namespace castor::castore
