#include "castore/maintenance/gc.h"

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/directory/closure.h"

namespace castor::castore {

absl::StatusOr<GcStats> CollectGarbage(BlobService& blobs, DirectoryService& directories,
                                       RootService& roots, bool dry_run) {
  GcStats stats;
  absl::flat_hash_set<B3Digest> live_blobs, live_dirs;
  auto mark_entries = [&](const Directory& d) -> absl::Status {
    live_dirs.insert(d.digest());
    for (const Entry& e : d.entries()) {
      if (const auto* f = std::get_if<FileNode>(&e.node)) live_blobs.insert(f->digest);
    }
    return absl::OkStatus();
  };
  std::vector<Entry> all_roots;
  RETURN_IF_ERROR(roots.List([&](const Entry& e) {
    all_roots.push_back(e);
    return absl::OkStatus();
  }));
  for (const Entry& root : all_roots) {
    ++stats.roots;
    if (const auto* f = std::get_if<FileNode>(&root.node)) {
      live_blobs.insert(f->digest);
    } else if (const auto* d = std::get_if<DirectoryNode>(&root.node)) {
      if (live_dirs.contains(d->digest)) continue;
      absl::Status s = WalkClosure(directories, d->digest, mark_entries);
      if (!s.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("root ", QuoteName(root.name.str()), ": cannot read its closure (",
                         s.message(), "); nothing deleted, run `castor verify`"));
      }
    }
  }

  std::vector<B3Digest> dead_dirs;
  RETURN_IF_ERROR(directories.ForEach([&](const B3Digest& d) {
    if (live_dirs.contains(d)) {
      ++stats.directories_kept;
    } else {
      dead_dirs.push_back(d);
    }
    return absl::OkStatus();
  }));
  stats.directories_deleted = dead_dirs.size();

  std::vector<std::pair<B3Digest, uint64_t>> dead_blobs;
  RETURN_IF_ERROR(blobs.ForEach([&](const B3Digest& d, uint64_t size) {
    if (live_blobs.contains(d)) {
      ++stats.blobs_kept;
      stats.bytes_kept += size;
    } else {
      dead_blobs.emplace_back(d, size);
    }
    return absl::OkStatus();
  }));
  if (dry_run) {
    for (const auto& [d, size] : dead_blobs) {
      ++stats.blobs_deleted;
      stats.bytes_freed += size;
    }
    return stats;
  }
  // Directories first: should gc die half-way, no stored Directory is left
  // pointing at a deleted blob (verify would not notice, but it is tidier).
  RETURN_IF_ERROR(directories.Delete(dead_dirs));
  for (const auto& [d, size] : dead_blobs) {
    RETURN_IF_ERROR(Annotate(blobs.Delete(d), absl::StrCat("deleting blob ", d.ToB3())));
    ++stats.blobs_deleted;
    stats.bytes_freed += size;
  }
  return stats;
}

}  // namespace castor::castore
