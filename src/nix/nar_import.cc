#include "nix/nar_import.h"

#include <chrono>
#include <span>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/directory.h"
#include "nix/hash.h"
#include "nix/nar_reader.h"

namespace castor::nix {

std::string NarTreeBuilder::PendingPath() const {
  if (paths_.empty()) return "/";
  return absl::StrCat(paths_.back() == "/" ? "" : paths_.back(), "/", pending_name_);
}

absl::Status NarTreeBuilder::Place(castore::Node node) {
  if (paths_.empty()) {
    top_ = std::move(node);
    return absl::OkStatus();
  }
  const std::string path = PendingPath();
  auto name = castore::PathComponent::Create(pending_name_);
  if (!name.ok()) return Annotate(name.status(), absl::StrCat("NAR path ", path));
  return tree_.Add(*std::move(name), std::move(node),
                   absl::StrCat("NAR path ", castore::QuoteName(path)));
}

absl::Status NarTreeBuilder::StartDirectory() {
  std::string path = PendingPath();
  std::string what = absl::StrCat("NAR path ", castore::QuoteName(path));
  if (paths_.empty()) {
    RETURN_IF_ERROR(tree_.OpenRoot(std::move(what)));
  } else {
    auto name = castore::PathComponent::Create(pending_name_);
    if (!name.ok()) return Annotate(name.status(), absl::StrCat("NAR path ", path));
    RETURN_IF_ERROR(tree_.OpenDirectory(*std::move(name), std::move(what)));
  }
  paths_.push_back(std::move(path));
  return absl::OkStatus();
}

absl::Status NarTreeBuilder::EntryName(std::string_view name) {
  pending_name_.assign(name);
  return absl::OkStatus();
}

absl::Status NarTreeBuilder::EndDirectory() {
  // The NAR lists entries sorted (the reader checks), which is castore's
  // order; the tree builder adds the node to the parent.
  ASSIGN_OR_RETURN(castore::DirectoryNode node, tree_.CloseDirectory());
  paths_.pop_back();
  ++stats_.directories;
  if (paths_.empty()) top_ = node;
  return absl::OkStatus();
}

absl::Status NarTreeBuilder::StartFile(uint64_t size, bool executable) {
  file_ = std::make_unique<castore::BlobSink>(blobs_, size);
  executable_ = executable;
  return absl::OkStatus();
}

absl::Status NarTreeBuilder::FileData(std::string_view data) {
  return file_->Append(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

absl::Status NarTreeBuilder::EndFile() {
  auto stored = file_->Finish();
  file_.reset();
  if (!stored.ok()) {
    return Annotate(stored.status(), absl::StrCat("NAR path ", castore::QuoteName(PendingPath())));
  }
  ++stats_.files;
  stats_.bytes += stored->size;
  if (stored->is_new) {
    ++stats_.blobs_new;
    stats_.bytes_new += stored->size;
  }
  return Place(castore::FileNode{stored->digest, stored->size, executable_});
}

absl::Status NarTreeBuilder::Symlink(std::string_view target) {
  auto t = castore::SymlinkTarget::Create(target);
  if (!t.ok()) return Annotate(t.status(), absl::StrCat("NAR path ", PendingPath()));
  ++stats_.symlinks;
  return Place(castore::SymlinkNode{*std::move(t)});
}

absl::StatusOr<NarImport> ImportNar(castore::BlobService& blobs,
                                    castore::DirectoryService& directories, ByteSource& nar,
                                    NarLimits limits) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<castore::DirectoryPutter> putter, directories.OpenPutter());
  NarTreeBuilder builder(blobs, *putter, limits.max_depth);
  HashingSource hashing(HashAlgo::kSha256, nar);
  RETURN_IF_ERROR(ParseNar(hashing, builder, limits));
  CASTOR_CHECK(builder.top().has_value());  // the reader saw a whole NAR
  if (builder.put_directories()) {
    ASSIGN_OR_RETURN(castore::B3Digest root, putter->Close());
    CASTOR_CHECK(std::get<castore::DirectoryNode>(*builder.top()).digest == root);
  }
  NarImport out{*builder.top(), NarSummary{hashing.bytes(), hashing.Finish()}, builder.stats()};
  out.stats.elapsed = std::chrono::steady_clock::now() - start;
  return out;
}

}  // namespace castor::nix
