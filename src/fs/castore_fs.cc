#include "fs/castore_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/posix_io.h"
#include "base/status.h"
#include "castore/store_metrics.h"
#include "spdlog/spdlog.h"

namespace castor::fs {
namespace {

using castore::DirectoryNode;
using castore::FileNode;
using castore::SymlinkNode;

static_assert(InodeTable::kTopIno == FUSE_ROOT_ID);

// Hashes the whole file `fd` (which must hold exactly `size` bytes) and
// checks it against `digest`: DataLoss naming both on a mismatch.
absl::Status VerifyBackingFile(int fd, const castore::B3Digest& digest, uint64_t size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("stat of the file of blob ", digest.ToB3()));
  }
  if (static_cast<uint64_t>(st.st_size) != size) {
    return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": its file has ", st.st_size,
                                            " bytes, expected ", size));
  }
  castore::Blake3Hasher hasher;
  const size_t buf_size = static_cast<size_t>(std::min<uint64_t>(size + 1, 1 << 20));
  auto buf_data = std::make_unique_for_overwrite<uint8_t[]>(buf_size);
  std::span<uint8_t> buf(buf_data.get(), buf_size);
  uint64_t total = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, PreadFull(fd, buf, total,
                                         absl::StrCat("read of the file of blob ", digest.ToB3())));
    if (n == 0) break;
    hasher.Update(std::span<const uint8_t>(buf.data(), n));
    total += n;
    if (n < buf.size()) break;
  }
  if (total != size) {
    return absl::DataLossError(
        absl::StrCat("blob ", digest.ToB3(), ": its file has ", total, " bytes, expected ", size));
  }
  castore::B3Digest actual = hasher.Finalize();
  if (actual != digest) {
    castore::store_metrics::VerificationFailure(castore::store_metrics::Verified::kBlob);
    return absl::DataLossError(
        absl::StrCat("blob ", digest.ToB3(), ": its file hashes to ", actual.ToB3()));
  }
  return absl::OkStatus();
}

uint32_t DirentType(const castore::Node& node) {
  if (std::holds_alternative<DirectoryNode>(node)) return DT_DIR;
  if (std::holds_alternative<FileNode>(node)) return DT_REG;
  return DT_LNK;
}

}  // namespace

metrics::Gauge& CastoreFs::OpenHandles(std::string_view kind) {
  static metrics::GaugeFamily& family = metrics::Registry::Default().AddGaugeFamily(
      "castor_fs_open_handles", "Open file and directory handles, by kind (file, directory).",
      {"kind"});
  return family.WithLabels({kind});
}

metrics::Gauge& CastoreFs::BackingGauge() {
  static metrics::Gauge& gauge = metrics::Registry::Default().AddGauge(
      "castor_fuse_passthrough_backing_files",
      "Blob files registered with the kernel for FUSE passthrough (one per inode with open "
      "files).");
  return gauge;
}

CastoreFs::CastoreFs(castore::Services services, FsOptions options)
    : services_(std::move(services)),
      options_(options),
      directories_(options.directory_cache_entries),
      inodes_(options.kept_directory_entries) {}

CastoreFs::~CastoreFs() = default;

void CastoreFs::Initialized(uint64_t flags) {
  if (options_.backing_files == nullptr) return;
  if ((flags & fuse::kInitPassthrough) == 0) {
    spdlog::warn(
        "FUSE passthrough: the kernel did not agree to it (Linux 6.9 or later built with "
        "CONFIG_FUSE_PASSTHROUGH is needed); reads are served by castor");
    return;
  }
  passthrough_.store(true, std::memory_order_release);
}

int CastoreFs::FailOnce(const std::string& key, const std::string& message) {
  bool first = false;
  {
    castor::MutexLock lock(&log_mu_);
    if (!logged_.contains(key)) {
      // Forgetting them all at the bound keeps memory bounded under ever
      // new problems; each is then logged at most once more.
      if (logged_.size() >= kMaxLoggedProblems) logged_.clear();
      logged_.insert(key);
      first = true;
    }
  }
  if (first) spdlog::error("{} (EIO; reported once)", message);
  return EIO;
}

void CastoreFs::FillAttr(uint64_t ino, const Inode& inode, fuse_attr* attr) const {
  std::memset(attr, 0, sizeof(*attr));
  attr->ino = ino;
  attr->uid = options_.uid;
  attr->gid = options_.gid;
  attr->blksize = 4096;
  switch (inode.kind) {
    case InodeKind::kTop:
      attr->mode = S_IFDIR | 0555;
      attr->nlink = 2;
      break;
    case InodeKind::kDirectory:
      attr->mode = S_IFDIR | 0555;
      attr->nlink = 2;
      attr->size = inode.size;
      break;
    case InodeKind::kFile:
      attr->mode = S_IFREG | (inode.executable ? 0555 : 0444);
      attr->nlink = 1;
      attr->size = inode.size;
      attr->blocks = (inode.size + 511) / 512;
      break;
    case InodeKind::kSymlink:
      attr->mode = S_IFLNK | 0444;
      attr->nlink = 1;
      attr->size = inode.size;
      break;
  }
}

void CastoreFs::Acquire(const castore::Node& node, uint32_t entry_timeout_s, fuse_entry_out* out) {
  changes_.fetch_add(1, std::memory_order_relaxed);
  Inode inode;
  uint64_t ino = inodes_.Acquire(node, &inode);
  std::memset(out, 0, sizeof(*out));
  out->nodeid = ino;
  out->generation = 0;
  out->entry_valid = entry_timeout_s == 0 ? fuse::kForever : entry_timeout_s;
  out->attr_valid = fuse::kForever;
  FillAttr(ino, inode, &out->attr);
}

int CastoreFs::GetDirectoryByDigest(const castore::B3Digest& digest, uint64_t size,
                                    std::shared_ptr<const castore::Directory>* out) {
  if (auto cached = directories_.Get(digest); cached && cached->size() == size) {
    *out = std::move(cached);
    return 0;
  }
  absl::StatusOr<std::optional<castore::Directory>> got = services_.directories->Get(digest);
  if (!got.ok()) {
    return FailOnce(digest.ToB3(),
                    absl::StrCat("directory ", digest.ToB3(), ": ", got.status().ToString()));
  }
  if (!got->has_value()) {
    return FailOnce(digest.ToB3(), absl::StrCat("directory ", digest.ToB3(),
                                                " is missing from the directory service"));
  }
  if ((*got)->size() != size) {
    return FailOnce(digest.ToB3(), absl::StrCat("directory ", digest.ToB3(), " has size ",
                                                (*got)->size(), " but its parent says ", size));
  }
  auto dir = std::make_shared<const castore::Directory>(std::move(**got));
  directories_.Put(dir);
  *out = std::move(dir);
  return 0;
}

int CastoreFs::GetDirectory(uint64_t ino, std::shared_ptr<const castore::Directory>* out) {
  std::optional<Inode> inode = inodes_.Get(ino);
  if (!inode) return Missing(ino);
  if (inode->kind != InodeKind::kDirectory) return ENOTDIR;
  if (auto kept = inodes_.KeptDirectory(ino)) {
    *out = std::move(kept);
    return 0;
  }
  if (int err = GetDirectoryByDigest(inode->digest, inode->size, out); err != 0) return err;
  // Kept while the kernel holds the inode, if it still does and the budget
  // allows.
  inodes_.KeepDirectory(ino, *out);
  return 0;
}

int CastoreFs::LookupRoot(std::string_view name, fuse_entry_out* out) {
  absl::StatusOr<castore::PathComponent> pc = castore::PathComponent::Create(name);
  if (!pc.ok()) return ENOENT;
  absl::StatusOr<std::optional<castore::Entry>> root = services_.roots->Get(*pc);
  if (!root.ok()) {
    return FailOnce(
        absl::StrCat("root:", ToAbslView(name)),
        absl::StrCat("root ", castore::QuoteName(name), ": ", root.status().ToString()));
  }
  if (!root->has_value()) return ENOENT;
  Acquire((*root)->node, options_.root_entry_timeout_s, out);
  if (options_.access_observer) options_.access_observer->OnEntry(FUSE_ROOT_ID, name, out->nodeid);
  return 0;
}

int CastoreFs::Lookup(uint64_t parent, std::string_view name, fuse_entry_out* out) {
  if (parent == FUSE_ROOT_ID) return LookupRoot(name, out);
  std::shared_ptr<const castore::Directory> dir;
  if (int err = GetDirectory(parent, &dir); err != 0) return err;
  if (options_.access_observer) options_.access_observer->OnDirectory(parent);
  const castore::Entry* entry = dir->Find(name);
  if (entry == nullptr) return ENOENT;
  Acquire(entry->node, 0, out);
  if (options_.access_observer) options_.access_observer->OnEntry(parent, name, out->nodeid);
  return 0;
}

void CastoreFs::Forget(uint64_t ino, uint64_t nlookup) {
  changes_.fetch_add(1, std::memory_order_relaxed);
  inodes_.Forget(ino, nlookup);
}

int CastoreFs::GetAttr(uint64_t ino, fuse_attr_out* out) {
  std::optional<Inode> inode = inodes_.Get(ino);
  if (!inode) return Missing(ino);
  std::memset(out, 0, sizeof(*out));
  out->attr_valid = fuse::kForever;
  FillAttr(ino, *inode, &out->attr);
  return 0;
}

int CastoreFs::ReadLink(uint64_t ino, std::string* target) {
  std::optional<Inode> inode = inodes_.Get(ino);
  if (!inode) return Missing(ino);
  if (inode->kind != InodeKind::kSymlink) return EINVAL;
  std::optional<std::string> stored = inodes_.SymlinkTarget(ino);
  if (!stored) return ENOENT;  // forgotten since
  *target = std::move(*stored);
  return 0;
}

int CastoreFs::OpenReader(uint64_t ino, const castore::B3Digest& digest, uint64_t size,
                          std::shared_ptr<castore::BlobReader>* out) {
  if (auto shared = inodes_.SharedReader(ino)) {
    *out = std::move(shared);
    return 0;
  }
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> opened =
      services_.blobs->OpenReadSized(digest, size);
  if (!opened.ok()) {
    return FailOnce(digest.ToB3(),
                    absl::StrCat("blob ", digest.ToB3(), ": ", opened.status().ToString()));
  }
  if (*opened == nullptr) {
    return FailOnce(digest.ToB3(),
                    absl::StrCat("blob ", digest.ToB3(), " is missing from the blob service"));
  }
  if ((*opened)->size() != size) {
    return FailOnce(digest.ToB3(), absl::StrCat("blob ", digest.ToB3(), " has ", (*opened)->size(),
                                                " bytes but its node says ", size));
  }
  // Nothing is served that differs from what was imported. A Verified()
  // reader checks every byte as it reads it (a local blob piece by piece
  // as it comes from disk, a remote one chunk by chunk or downloaded
  // whole); any other reader is hashed whole before it serves a byte.
  if (!(*opened)->Verified()) {
    absl::Status verified = castore::VerifyReader(**opened, digest);
    if (!verified.ok()) return FailOnce(digest.ToB3(), verified.ToString());
  }
  // A concurrent open may have won: then its reader is shared.
  *out = inodes_.ShareReader(ino, std::move(*opened));
  return 0;
}

int CastoreFs::Open(uint64_t ino, uint32_t flags, fuse_open_out* out) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return EROFS;
  castore::B3Digest digest;
  uint64_t size;
  std::shared_ptr<castore::BlobReader> reader;
  {
    std::optional<Inode> inode = inodes_.Get(ino);
    if (!inode) return Missing(ino);
    if (inode->kind == InodeKind::kTop || inode->kind == InodeKind::kDirectory) return EISDIR;
    if (inode->kind == InodeKind::kSymlink) return ELOOP;
    digest = inode->digest;
    size = inode->size;
  }
  if (int err = OpenReader(ino, digest, size, &reader); err != 0) return err;
  std::shared_ptr<PassthroughBacking> backing;
  if (passthrough()) {
    if (int err = AttachBacking(ino, digest, size, *reader, &backing); err != 0) return err;
  }
  auto handle = std::make_shared<FileHandle>();
  handle->ino = ino;
  handle->digest = digest;
  handle->size = size;
  handle->reader = std::move(reader);
  handle->backing = backing;
  out->fh = open_files_.Add(std::move(handle));
  changes_.fetch_add(1, std::memory_order_relaxed);
  if (backing != nullptr && backing->id() > 0) {
    // The kernel reads the backing file (and keeps its pages in that
    // file's page cache); it refuses FOPEN_KEEP_CACHE with passthrough.
    out->open_flags = fuse::kOpenPassthrough | FOPEN_NOFLUSH;
    fuse::SetBackingId(out, backing->id());
    return 0;
  }
  // The contents never change: keep the page cache across opens, and skip
  // the FLUSH round trip on every close.
  out->open_flags = FOPEN_KEEP_CACHE | FOPEN_NOFLUSH;
  return 0;
}

int CastoreFs::AttachBacking(uint64_t ino, const castore::B3Digest& digest, uint64_t size,
                             const castore::BlobReader& reader,
                             std::shared_ptr<PassthroughBacking>* out) {
  bool verified = false;
  {
    castor::MutexLock lock(&backing_mu_);
    if (auto it = backings_.find(ino); it != backings_.end()) {
      if ((*out = it->second.lock()) != nullptr) return 0;
    }
    verified = verified_backings_.contains(digest);
  }
  const int fd = reader.LocalFd();
  // The kernel will read the file unchecked: it must hold the blob now.
  if (fd >= 0 && !verified) {
    absl::Status s = VerifyBackingFile(fd, digest, size);
    if (!s.ok()) return FailOnce(digest.ToB3(), s.ToString());
  }
  absl::Status refused;
  {
    castor::MutexLock lock(&backing_mu_);
    if (fd >= 0 && !verified) {
      if (verified_backings_.size() >= kMaxVerifiedBackings) verified_backings_.clear();
      verified_backings_.insert(digest);
    }
    std::weak_ptr<PassthroughBacking>& slot = backings_[ino];
    // A concurrent first open may have decided meanwhile.
    if ((*out = slot.lock()) != nullptr) return 0;
    int32_t id = 0;
    if (fd >= 0 && passthrough()) {
      absl::StatusOr<int32_t> opened = options_.backing_files->Open(fd);
      if (opened.ok()) {
        id = *opened;
      } else {
        refused = opened.status();
      }
    }
    *out = std::make_shared<PassthroughBacking>(id > 0 ? options_.backing_files : nullptr, id,
                                                &BackingGauge());
    slot = *out;
  }
  if (!refused.ok()) BackingRefused(digest, refused);
  return 0;
}

void CastoreFs::BackingRefused(const castore::B3Digest& digest, const absl::Status& status) {
  // Permission, kernel support and the store's stacking are the same for
  // every file: no use asking again for each.
  if (status.code() == absl::StatusCode::kPermissionDenied ||
      status.code() == absl::StatusCode::kUnimplemented ||
      status.code() == absl::StatusCode::kFailedPrecondition) {
    if (passthrough_.exchange(false, std::memory_order_acq_rel)) {
      spdlog::warn("FUSE passthrough is off for this mount, reads are served by castor: {}",
                   status.ToString());
    }
    return;
  }
  bool first = false;
  {
    castor::MutexLock lock(&log_mu_);
    std::string key = absl::StrCat("passthrough:", digest.ToB3());
    if (!logged_.contains(key)) {
      if (logged_.size() >= kMaxLoggedProblems) logged_.clear();
      logged_.insert(std::move(key));
      first = true;
    }
  }
  if (first) {
    spdlog::warn("FUSE passthrough: blob {} is served by castor: {}", digest.ToB3(),
                 status.ToString());
  }
}

int CastoreFs::Read(uint64_t ino, uint64_t fh, uint64_t offset, std::span<uint8_t> buf, size_t* n) {
  std::shared_ptr<FileHandle> handle = open_files_.Get(fh);
  if (!handle) return fh < lost_below_ ? EIO : EBADF;
  if (!handle->reader) {
    return FailOnce(handle->digest.ToB3(), absl::StrCat("blob ", handle->digest.ToB3(),
                                                        " could not be opened after a takeover"));
  }
  size_t done = 0;
  while (done < buf.size()) {
    absl::StatusOr<size_t> got = handle->reader->ReadAt(offset + done, buf.subspan(done));
    if (!got.ok()) {
      return FailOnce(handle->digest.ToB3(),
                      absl::StrCat("blob ", handle->digest.ToB3(), ": ", got.status().ToString()));
    }
    if (*got == 0) {
      // Open checked the reader's size against the node: a reader ending
      // early must not look like the end of the file.
      if (offset + done < handle->reader->size()) {
        return FailOnce(handle->digest.ToB3(),
                        absl::StrCat("blob ", handle->digest.ToB3(), " ended at byte ",
                                     offset + done, " of ", handle->reader->size()));
      }
      break;
    }
    done += *got;
  }
  *n = done;
  if (done > 0 && options_.access_observer) options_.access_observer->OnRead(ino, offset, done);
  return 0;
}

void CastoreFs::Release(uint64_t ino, uint64_t fh) {
  std::shared_ptr<FileHandle> handle = open_files_.Remove(fh);
  if (!handle) return;
  changes_.fetch_add(1, std::memory_order_relaxed);
  handle.reset();  // before the inode table looks whether its reader is still open
  inodes_.ReleaseReader(ino);
  castor::MutexLock lock(&backing_mu_);
  if (auto it = backings_.find(ino); it != backings_.end() && it->second.expired()) {
    backings_.erase(it);
  }
}

int CastoreFs::OpenDir(uint64_t ino, uint32_t flags, fuse_open_out* out) {
  if ((flags & O_ACCMODE) != O_RDONLY) return EROFS;
  std::optional<Inode> inode = inodes_.Get(ino);
  if (!inode) return Missing(ino);
  std::shared_ptr<DirHandle> handle;
  if (inode->kind == InodeKind::kTop) {
    std::shared_ptr<std::vector<castore::Entry>> roots;
    // The roots as of this OPENDIR, so offsets stay stable while listing.
    if (options_.list_root) {
      if (int err = ListRoots(&roots); err != 0) return err;
    }
    handle = std::make_shared<DirHandle>(ino, std::move(roots));
  } else if (inode->kind == InodeKind::kDirectory) {
    handle = std::make_shared<DirHandle>(ino, inode->digest, inode->size);
  } else {
    return ENOTDIR;
  }
  out->fh = open_dirs_.Add(std::move(handle));
  changes_.fetch_add(1, std::memory_order_relaxed);
  // The root's listing changes with the roots; directories never change.
  out->open_flags = ino == FUSE_ROOT_ID ? 0 : (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR);
  return 0;
}

int CastoreFs::ListRoots(std::shared_ptr<std::vector<castore::Entry>>* out) {
  auto roots = std::make_shared<std::vector<castore::Entry>>();
  absl::Status s = services_.roots->List([&](const castore::Entry& e) {
    roots->push_back(e);
    return absl::OkStatus();
  });
  if (!s.ok()) return FailOnce("roots", absl::StrCat("listing roots: ", s.ToString()));
  *out = std::move(roots);
  return 0;
}

int CastoreFs::ReadDir(uint64_t ino, uint64_t fh, uint64_t offset, bool plus,
                       fuse::DirentWriter& out) {
  // What `entries` points into.
  std::shared_ptr<const std::vector<castore::Entry>> roots;
  std::shared_ptr<const castore::Directory> dir;
  bool top;
  if (fh == 0) {
    // Opened without OPENDIR (ListsWithoutOpenDir): the kernel holds the
    // inode while it lists it, and its Directory is kept with it.
    std::optional<Inode> inode = inodes_.Get(ino);
    if (!inode) return Missing(ino);
    top = inode->kind == InodeKind::kTop;
    if (top) {
      if (!options_.list_root) return EPERM;
      // Only after a takeover by a mount with --list-root from one
      // without: no snapshot to keep offsets stable, the roots as of now.
      std::shared_ptr<std::vector<castore::Entry>> now;
      if (int err = ListRoots(&now); err != 0) return err;
      roots = std::move(now);
    } else if (int err = GetDirectory(ino, &dir); err != 0) {
      return err;
    }
  } else {
    std::shared_ptr<DirHandle> handle = open_dirs_.Get(fh);
    if (!handle) return fh < lost_below_ ? EIO : EBADF;
    ino = handle->ino();
    top = handle->is_top();
    if (top) {
      roots = handle->roots();
      // No roots: opened by a mount without list_root before a takeover.
      if (!options_.list_root || !roots) return EPERM;
    } else {
      dir = handle->directory();
      if (!dir) {
        // Through the inode, so the Directory is kept while the kernel holds
        // it; by digest when the inode is gone.
        int err = GetDirectory(ino, &dir);
        if (err == ENOENT || (err == EIO && !inodes_.Get(ino)))
          err = GetDirectoryByDigest(handle->digest(), handle->size(), &dir);
        if (err != 0) return err;
        handle->set_directory(dir);
      }
    }
  }
  std::span<const castore::Entry> entries;
  if (top) {
    entries = *roots;
  } else {
    entries = dir->entries();
    if (options_.access_observer) options_.access_observer->OnDirectory(ino);
  }
  uint32_t timeout = top ? options_.root_entry_timeout_s : 0;
  for (uint64_t i = offset; i < entries.size(); ++i) {
    const castore::Entry& e = entries[i];
    const std::string& name = e.name.str();
    if (!out.Fits(name.size(), plus)) break;
    uint32_t type = DirentType(e.node);
    if (plus) {
      fuse_entry_out entry;
      Acquire(e.node, timeout, &entry);
      if (options_.access_observer) options_.access_observer->OnEntry(ino, name, entry.nodeid);
      out.AddPlus(name, entry, type, i + 1);
    } else {
      out.Add(name, inodes_.Peek(e.node), type, i + 1);
    }
  }
  return 0;
}

void CastoreFs::ReleaseDir(uint64_t, uint64_t fh) {
  if (open_dirs_.Remove(fh)) changes_.fetch_add(1, std::memory_order_relaxed);
}

int CastoreFs::StatFs(uint64_t, fuse_kstatfs* out) {
  std::memset(out, 0, sizeof(*out));
  out->bsize = 4096;
  out->frsize = 4096;
  out->namelen = castore::PathComponent::kMaxLength;
  out->files = inodes_.size();
  return 0;
}

int CastoreFs::Access(uint64_t ino, uint32_t mask) {
  std::optional<Inode> inode = inodes_.Get(ino);
  if (!inode) return Missing(ino);
  if (mask & W_OK) return EROFS;
  if ((mask & X_OK) && inode->kind == InodeKind::kFile && !inode->executable) {
    return EACCES;
  }
  return 0;
}

int CastoreFs::GetXattr(uint64_t ino, std::string_view name, std::string* value) {
  if (!options_.show_xattr) return ENOSYS;
  std::optional<Inode> inode = inodes_.Get(ino);
  if (!inode) return Missing(ino);
  if ((inode->kind == InodeKind::kFile && name == kBlobDigestXattr) ||
      (inode->kind == InodeKind::kDirectory && name == kDirectoryDigestXattr)) {
    *value = inode->digest.ToB3();
    return 0;
  }
  return ENODATA;
}

int CastoreFs::ListXattr(uint64_t ino, std::string* names) {
  if (!options_.show_xattr) return ENOSYS;
  std::optional<Inode> inode = inodes_.Get(ino);
  if (!inode) return Missing(ino);
  names->clear();
  if (inode->kind == InodeKind::kFile) {
    names->append(kBlobDigestXattr, sizeof(kBlobDigestXattr));  // with its NUL
  } else if (inode->kind == InodeKind::kDirectory) {
    names->append(kDirectoryDigestXattr, sizeof(kDirectoryDigestXattr));
  }
  return 0;
}

void CastoreFs::Destroy() {
  open_files_.Clear();
  {
    castor::MutexLock lock(&backing_mu_);
    backings_.clear();
  }
  open_dirs_.Clear();
  inodes_.Clear();
}

int CastoreFs::Missing(uint64_t ino) const { return ino < lost_below_ ? EIO : ENOENT; }

size_t CastoreFs::inode_count() const { return inodes_.size(); }

size_t CastoreFs::handle_count() const { return open_files_.size() + open_dirs_.size(); }

uint64_t CastoreFs::lookup_count(uint64_t ino) const {
  std::optional<Inode> inode = inodes_.Get(ino);
  return inode ? inode->nlookup : 0;
}

size_t CastoreFs::logged_problems() const {
  castor::MutexLock lock(&log_mu_);
  return logged_.size();
}

size_t CastoreFs::passthrough_backings() const {
  castor::MutexLock lock(&backing_mu_);
  size_t n = 0;
  for (const auto& [ino, backing] : backings_) {
    if (auto b = backing.lock(); b != nullptr && b->id() > 0) ++n;
  }
  return n;
}

int CastoreFs::BackingFd(uint64_t fh) const {
  std::shared_ptr<FileHandle> handle = open_files_.Get(fh);
  return handle && handle->reader ? handle->reader->LocalFd() : -1;
}

void CastoreFs::SaveState(TakeoverState* state) const {
  // Handles before inodes: an open file holds a lookup reference on its
  // inode, so an inode listed by a handle is still in the table unless the
  // file was released since (and while requests run concurrently, as for
  // the periodic copy in systemd's fd store, that handle is left out).
  auto files = open_files_.List();
  auto dirs = open_dirs_.List();
  state->next_fh = handle_numbers_.Peek();
  state->inodes = inodes_.Save(&state->next_ino);
  absl::flat_hash_set<uint64_t> inos;
  for (const SavedInode& i : state->inodes) inos.insert(i.ino);
  state->files.clear();
  for (const auto& [fh, h] : files) {
    if (!inos.contains(h->ino)) continue;
    state->files.push_back(TakeoverFileHandle{fh, h->ino, h->digest, h->size});
  }
  state->dirs.clear();
  for (const auto& [fh, h] : dirs) {
    TakeoverDirHandle d;
    d.fh = fh;
    d.ino = h->ino();
    d.is_top = h->is_top();
    d.digest = h->digest();
    d.size = h->size();
    if (h->roots()) d.roots = *h->roots();
    state->dirs.push_back(std::move(d));
  }
}

absl::Status CastoreFs::RestoreState(const TakeoverState& state, uint64_t lost_below) {
  if (open_files_.size() != 0 || open_dirs_.size() != 0) {
    return absl::FailedPreconditionError("restoring handles into a file system that has some");
  }
  if (lost_below >= InodeTable::kSyntheticInoBit) {
    return absl::InvalidArgumentError("lost inode bound beyond the inode number space");
  }
  RETURN_IF_ERROR(inodes_.Restore(state.inodes, std::max(state.next_ino, lost_below)));
  handle_numbers_.Restore(std::max(state.next_fh, lost_below));
  lost_below_ = lost_below;
  size_t unopened = 0;
  for (const TakeoverFileHandle& f : state.files) {
    auto handle = std::make_shared<FileHandle>();
    handle->ino = f.ino;
    handle->digest = f.digest;
    handle->size = f.size;
    // A blob that cannot be opened now fails only this handle's reads (EIO),
    // as it would fail a new open; the rest of the mount carries on.
    if (OpenReader(f.ino, f.digest, f.size, &handle->reader) != 0) ++unopened;
    if (!open_files_.Insert(f.fh, std::move(handle))) {
      return absl::InvalidArgumentError(absl::StrCat("takeover state: handle ", f.fh, " twice"));
    }
  }
  for (const TakeoverDirHandle& d : state.dirs) {
    std::shared_ptr<DirHandle> handle;
    if (d.is_top) {
      std::shared_ptr<const std::vector<castore::Entry>> roots;
      if (d.roots) roots = std::make_shared<const std::vector<castore::Entry>>(*d.roots);
      handle = std::make_shared<DirHandle>(d.ino, std::move(roots));
    } else {
      handle = std::make_shared<DirHandle>(d.ino, d.digest, d.size);
    }
    if (!open_dirs_.Insert(d.fh, std::move(handle))) {
      return absl::InvalidArgumentError(absl::StrCat("takeover state: handle ", d.fh, " twice"));
    }
  }
  if (unopened > 0) {
    spdlog::error("takeover: {} open file(s) whose blob could not be opened answer EIO", unopened);
  }
  return absl::OkStatus();
}

}  // namespace castor::fs
