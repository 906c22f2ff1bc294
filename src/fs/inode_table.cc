#include "fs/inode_table.h"

#include <cstring>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "base/metrics.h"

namespace castor::fs {
namespace {

// Live inodes of every table in the process (a virtiofs server has one per
// connection): each table adds what it creates and takes back what it drops.
metrics::Gauge& LiveInodes() {
  static metrics::Gauge& g = metrics::Registry::Default().AddGauge(
      "castor_fs_inodes", "Inodes the kernel holds references to (the root included).");
  return g;
}

}  // namespace

using castore::DirectoryNode;
using castore::FileNode;
using castore::SymlinkNode;

InodeTable::InodeTable(uint64_t kept_directory_entries)
    : kept_directory_entries_(kept_directory_entries) {
  castor::MutexLock lock(&mu_);
  inodes_.emplace(kTopIno, Inode{});
  LiveInodes().Add(1);
}

InodeTable::~InodeTable() {
  castor::MutexLock lock(&mu_);
  LiveInodes().Add(-static_cast<int64_t>(inodes_.size()));
}

InodeTable::DigestMap InodeTable::*InodeTable::MapFor(const castore::Node& node,
                                                      castore::B3Digest* key) {
  if (const auto* d = std::get_if<DirectoryNode>(&node)) {
    *key = d->digest;
    return &InodeTable::dirs_;
  }
  if (const auto* f = std::get_if<FileNode>(&node)) {
    *key = f->digest;
    // The mode depends on the executable bit, so it is part of the identity.
    return f->executable ? &InodeTable::exec_files_ : &InodeTable::files_;
  }
  *key = castore::B3Digest::Of(std::get<SymlinkNode>(node).target.str());
  return &InodeTable::symlinks_;
}

uint64_t InodeTable::Acquire(const castore::Node& node, Inode* inode) {
  castor::MutexLock lock(&mu_);
  castore::B3Digest key;
  DigestMap& map = this->*MapFor(node, &key);
  auto [slot, fresh] = map.try_emplace(key, 0);
  if (fresh) {
    uint64_t ino = next_ino_++;
    slot->second = ino;
    Inode created;
    created.digest = key;
    if (const auto* d = std::get_if<DirectoryNode>(&node)) {
      created.kind = InodeKind::kDirectory;
      created.size = d->size;
    } else if (const auto* f = std::get_if<FileNode>(&node)) {
      created.kind = InodeKind::kFile;
      created.size = f->size;
      created.executable = f->executable;
    } else {
      const std::string& target = std::get<SymlinkNode>(node).target.str();
      created.kind = InodeKind::kSymlink;
      created.size = target.size();
      targets_.emplace(ino, target);
    }
    inodes_.emplace(ino, created);
    LiveInodes().Add(1);
  }
  uint64_t ino = slot->second;
  Inode& held = inodes_.at(ino);
  ++held.nlookup;
  *inode = held;
  return ino;
}

uint64_t InodeTable::Peek(const castore::Node& node) const {
  castor::MutexLock lock(&mu_);
  castore::B3Digest key;
  DigestMap InodeTable::*which = MapFor(node, &key);
  const DigestMap& map = this->*which;
  auto it = map.find(key);
  if (it != map.end()) return it->second;
  uint64_t h;
  std::memcpy(&h, key.bytes().data(), sizeof(h));
  return kSyntheticInoBit | (which == &InodeTable::exec_files_ ? ~h : h);
}

std::shared_ptr<const castore::Directory> InodeTable::EraseLocked(uint64_t ino,
                                                                  const Inode& inode) {
  std::shared_ptr<const castore::Directory> kept;
  switch (inode.kind) {
    case InodeKind::kDirectory:
      dirs_.erase(inode.digest);
      if (auto k = kept_.find(ino); k != kept_.end()) {
        kept = std::move(k->second);
        kept_entries_ -= kept->entries().size();
        kept_.erase(k);
      }
      break;
    case InodeKind::kFile:
      (inode.executable ? exec_files_ : files_).erase(inode.digest);
      readers_.erase(ino);
      break;
    case InodeKind::kSymlink:
      symlinks_.erase(inode.digest);
      targets_.erase(ino);
      break;
    case InodeKind::kTop:
      return nullptr;
  }
  if (inodes_.erase(ino) > 0) LiveInodes().Add(-1);
  return kept;
}

void InodeTable::Forget(uint64_t ino, uint64_t nlookup) {
  if (ino == kTopIno) return;
  // Declared before the lock: destroyed after it is released.
  std::shared_ptr<const castore::Directory> released;
  castor::MutexLock lock(&mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return;
  Inode& inode = it->second;
  inode.nlookup -= nlookup < inode.nlookup ? nlookup : inode.nlookup;
  if (inode.nlookup == 0) released = EraseLocked(ino, inode);
}

void InodeTable::Clear() {
  // Declared before the lock: destroyed after it is released.
  absl::flat_hash_map<uint64_t, std::shared_ptr<const castore::Directory>> kept;
  castor::MutexLock lock(&mu_);
  kept.swap(kept_);
  kept_entries_ = 0;
  LiveInodes().Add(1 - static_cast<int64_t>(inodes_.size()));
  inodes_.clear();
  dirs_.clear();
  files_.clear();
  exec_files_.clear();
  symlinks_.clear();
  targets_.clear();
  readers_.clear();
  inodes_.emplace(kTopIno, Inode{});
}

std::vector<SavedInode> InodeTable::Save(uint64_t* next_ino) const {
  castor::MutexLock lock(&mu_);
  std::vector<SavedInode> saved;
  saved.reserve(inodes_.size());
  for (const auto& [ino, inode] : inodes_) {
    if (ino == kTopIno) continue;
    SavedInode s{ino, inode, {}};
    if (inode.kind == InodeKind::kSymlink) s.symlink_target = targets_.at(ino);
    saved.push_back(std::move(s));
  }
  *next_ino = next_ino_;
  return saved;
}

absl::Status InodeTable::Restore(const std::vector<SavedInode>& saved, uint64_t next_ino) {
  castor::MutexLock lock(&mu_);
  if (inodes_.size() != 1) {
    return absl::FailedPreconditionError("restoring inodes into a table that is in use");
  }
  absl::flat_hash_map<uint64_t, Inode> inodes;
  DigestMap dirs, files, exec_files, symlinks;
  absl::flat_hash_map<uint64_t, std::string> targets;
  inodes.emplace(kTopIno, Inode{});
  for (const SavedInode& s : saved) {
    const Inode& i = s.inode;
    if (s.ino <= kTopIno || s.ino >= next_ino || i.nlookup == 0 || i.kind == InodeKind::kTop) {
      return absl::InvalidArgumentError(absl::StrCat("saved inode ", s.ino, " is not restorable"));
    }
    DigestMap* map = nullptr;
    switch (i.kind) {
      case InodeKind::kDirectory:
        map = &dirs;
        break;
      case InodeKind::kFile:
        map = i.executable ? &exec_files : &files;
        break;
      case InodeKind::kSymlink:
        map = &symlinks;
        targets.emplace(s.ino, s.symlink_target);
        break;
      case InodeKind::kTop:
        break;
    }
    if (!map->emplace(i.digest, s.ino).second || !inodes.emplace(s.ino, i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("saved inode ", s.ino, " duplicates another inode"));
    }
  }
  LiveInodes().Add(static_cast<int64_t>(inodes.size()) - static_cast<int64_t>(inodes_.size()));
  inodes_ = std::move(inodes);
  dirs_ = std::move(dirs);
  files_ = std::move(files);
  exec_files_ = std::move(exec_files);
  symlinks_ = std::move(symlinks);
  targets_ = std::move(targets);
  next_ino_ = next_ino;
  return absl::OkStatus();
}

std::optional<Inode> InodeTable::Get(uint64_t ino) const {
  castor::MutexLock lock(&mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> InodeTable::SymlinkTarget(uint64_t ino) const {
  castor::MutexLock lock(&mu_);
  auto it = targets_.find(ino);
  if (it == targets_.end()) return std::nullopt;
  return it->second;
}

size_t InodeTable::size() const {
  castor::MutexLock lock(&mu_);
  return inodes_.size();
}

std::shared_ptr<const castore::Directory> InodeTable::KeptDirectory(uint64_t ino) const {
  castor::MutexLock lock(&mu_);
  auto it = kept_.find(ino);
  return it == kept_.end() ? nullptr : it->second;
}

void InodeTable::KeepDirectory(uint64_t ino, std::shared_ptr<const castore::Directory> dir) {
  castor::MutexLock lock(&mu_);
  auto it = inodes_.find(ino);
  // The inode may have been forgotten (and its number is never reused)
  // while the caller fetched the Directory.
  if (it == inodes_.end() || it->second.kind != InodeKind::kDirectory ||
      it->second.digest != dir->digest() || kept_.contains(ino)) {
    return;
  }
  uint64_t n = dir->entries().size();
  if (kept_entries_ + n > kept_directory_entries_) return;
  kept_.emplace(ino, std::move(dir));
  kept_entries_ += n;
}

uint64_t InodeTable::kept_entries() const {
  castor::MutexLock lock(&mu_);
  return kept_entries_;
}

std::shared_ptr<castore::BlobReader> InodeTable::SharedReader(uint64_t ino) const {
  castor::MutexLock lock(&mu_);
  auto it = readers_.find(ino);
  return it == readers_.end() ? nullptr : it->second.lock();
}

std::shared_ptr<castore::BlobReader> InodeTable::ShareReader(
    uint64_t ino, std::shared_ptr<castore::BlobReader> reader) {
  castor::MutexLock lock(&mu_);
  if (!inodes_.contains(ino)) return reader;
  std::weak_ptr<castore::BlobReader>& shared = readers_[ino];
  if (auto existing = shared.lock()) return existing;
  shared = reader;
  return reader;
}

void InodeTable::ReleaseReader(uint64_t ino) {
  castor::MutexLock lock(&mu_);
  if (auto it = readers_.find(ino); it != readers_.end() && it->second.expired()) {
    readers_.erase(it);
  }
}

}  // namespace castor::fs
