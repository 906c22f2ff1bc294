#include "castore/import/import.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/posix_io.h"
#include "base/status.h"
#include "castore/directory.h"
#include "castore/import/blob_sink.h"
#include "castore/import/job_pool.h"
#include "castore/import/tree_builder.h"
#include "castore/store_metrics.h"

namespace castor::castore {
namespace {

// Open file descriptors queued for the workers at most (bounds fd use).
constexpr size_t kMaxQueued = 128;
// Big files are read (and written) in pieces of this size.
constexpr size_t kReadChunk = 4 << 20;
// Files up to this size are read whole and hashed before anything is
// written, so that a stored blob costs no write at all.
constexpr size_t kSmallFile = 1 << 20;
static_assert(kSmallFile < kReadChunk);
// Files of more than this many bytes are read and hashed by their worker
// while a thread of their own writes the pieces read before (StoreBehind):
// one big file is not read, hashed and written in turn. Smaller ones are not
// worth the thread and the buffers.
constexpr uint64_t kOverlapMin = 8 * kReadChunk;
// Pieces of kReadChunk bytes in flight in such an import (its memory): one
// being read and hashed, one being written, one between.
constexpr size_t kOverlapPieces = 3;

// A file found by the walk; `digest` is filled in by a worker.
struct FileRec {
  std::string path;
  uint64_t size = 0;
  bool executable = false;
  B3Digest digest;
  // Another name of the same inode (hard link): takes its digest.
  const FileRec* same_as = nullptr;
};

struct DirRec;
struct ChildRec {
  PathComponent name;
  // Exactly one is set.
  FileRec* file = nullptr;
  std::unique_ptr<DirRec> dir;
  std::optional<SymlinkTarget> symlink;
};
struct DirRec {
  std::vector<ChildRec> children;
};

bool Cancelled(const ImportOptions& opts) {
  return opts.cancel != nullptr && opts.cancel->load(std::memory_order_relaxed);
}

absl::Status SpecialFileError(const std::string& path, mode_t mode) {
  const char* kind = S_ISFIFO(mode)   ? "a FIFO"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                     : S_ISSOCK(mode) ? "a socket"
                                      : "of an unknown type";
  return absl::InvalidArgumentError(absl::StrCat(path, ": is ", kind,
                                                 "; only regular files, directories and symlinks "
                                                 "can be imported"));
}

absl::StatusOr<SymlinkTarget> ReadLink(int dirfd, const char* name, const std::string& path) {
  std::string buf(SymlinkTarget::kMaxLength + 2, '\0');
  ssize_t n = readlinkat(dirfd, name, buf.data(), buf.size());
  if (n < 0) return ErrnoStatus(errno, absl::StrCat("readlink ", path));
  if (static_cast<size_t>(n) > SymlinkTarget::kMaxLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": symlink target longer than ", SymlinkTarget::kMaxLength, " bytes"));
  }
  buf.resize(n);
  auto target = SymlinkTarget::Create(buf);
  if (!target.ok()) return Annotate(target.status(), path);
  return target;
}

class Importer {
 public:
  Importer(BlobService& blobs, DirectoryService& directories, const ImportOptions& opts)
      : blobs_(blobs),
        directories_(directories),
        opts_(opts),
        pool_(opts.threads ? opts.threads : DefaultImportThreads(), kMaxQueued) {}

  absl::StatusOr<ImportResult> Run(const std::string& path) {
    auto start = std::chrono::steady_clock::now();
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("lstat ", path));
    ImportResult result;
    if (S_ISLNK(st.st_mode)) {
      ASSIGN_OR_RETURN(SymlinkTarget target, ReadLink(AT_FDCWD, path.c_str(), path));
      result.node = SymlinkNode{std::move(target)};
      stats_.symlinks = 1;
    } else if (S_ISREG(st.st_mode)) {
      RETURN_IF_ERROR(AddFile(AT_FDCWD, path.c_str(), path, st));
      RETURN_IF_ERROR(FinishFiles());
      const FileRec& f = *files_.front();
      result.node = FileNode{f.digest, f.size, f.executable};
    } else if (S_ISDIR(st.st_mode)) {
      int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
      DirRec root;
      stats_.directories = 1;
      absl::Status walk = Walk(fd, path, st.st_dev, root, 0);  // closes fd
      if (!walk.ok()) {
        pool_.Fail(walk);
        (void)pool_.Finish();
        return walk;
      }
      RETURN_IF_ERROR(FinishFiles());
      ASSIGN_OR_RETURN(auto putter, directories_.OpenPutter());
      TreeBuilder tree(*putter);
      RETURN_IF_ERROR(tree.OpenRoot(path));
      RETURN_IF_ERROR(PutTree(root, tree, path));
      ASSIGN_OR_RETURN(DirectoryNode node, tree.CloseDirectory());
      ASSIGN_OR_RETURN(B3Digest stored, putter->Close());
      CASTOR_CHECK(stored == node.digest);
      result.node = node;
    } else {
      return SpecialFileError(path, st.st_mode);
    }
    if (opts_.progress) opts_.progress->scan_done = true;
    result.stats = stats_;
    result.stats.bytes_new = bytes_new_.load();
    result.stats.blobs_new = blobs_new_.load();
    result.stats.elapsed = std::chrono::steady_clock::now() - start;
    store_metrics::Imported(result.stats.files, result.stats.bytes, result.stats.bytes_new);
    return result;
  }

 private:
  // Lists one directory `depth` levels below the top (takes ownership of
  // `fd`), queueing its files and descending into subdirectories.
  absl::Status Walk(int fd, const std::string& path, dev_t dev, DirRec& out, size_t depth) {
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
      int err = errno;
      close(fd);
      return ErrnoStatus(err, absl::StrCat("opendir ", path));
    }
    std::unique_ptr<DIR, int (*)(DIR*)> closer(d, closedir);
    // Subdirectories are walked after this directory's files are queued, so
    // that files near the top (often the big ones) start early rather than
    // last, where a single big file would leave the other workers idle.
    std::vector<size_t> subdirs;
    while (true) {
      if (Cancelled(opts_)) return absl::CancelledError("import interrupted");
      if (pool_.failed()) return absl::OkStatus();  // the pool holds the error
      errno = 0;
      struct dirent* de = readdir(d);
      if (de == nullptr) {
        if (errno != 0) return ErrnoStatus(errno, absl::StrCat("readdir ", path));
        break;
      }
      std::string_view name = de->d_name;
      if (name == "." || name == "..") continue;
      std::string child_path = JoinPath(path, name);
      if (depth == kMaxTreeDepth) return TooDeepError("", child_path);
      auto pc = PathComponent::Create(name);
      if (!pc.ok()) return Annotate(pc.status(), child_path);
      struct stat st;
      if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus(errno, absl::StrCat("lstat ", child_path));
      }
      ChildRec child{*std::move(pc), nullptr, nullptr, std::nullopt};
      if (S_ISDIR(st.st_mode)) {
        child.dir = std::make_unique<DirRec>();
        ++stats_.directories;
        subdirs.push_back(out.children.size());
      } else if (S_ISREG(st.st_mode)) {
        RETURN_IF_ERROR(AddFile(fd, de->d_name, child_path, st));
        child.file = files_.back().get();
      } else if (S_ISLNK(st.st_mode)) {
        ASSIGN_OR_RETURN(child.symlink, ReadLink(fd, de->d_name, child_path));
        ++stats_.symlinks;
      } else {
        return SpecialFileError(child_path, st.st_mode);
      }
      out.children.push_back(std::move(child));
    }
    for (size_t i : subdirs) {
      ChildRec& child = out.children[i];
      std::string child_path = JoinPath(path, child.name.str());
      int cfd =
          openat(fd, child.name.str().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0) return ErrnoStatus(errno, absl::StrCat("open ", child_path));
      RETURN_IF_ERROR(Walk(cfd, child_path, dev, *child.dir, depth + 1));
    }
    return absl::OkStatus();
  }

  absl::Status AddFile(int dirfd, const char* name, const std::string& path,
                       const struct stat& st) {
    auto rec = std::make_unique<FileRec>();
    rec->path = path;
    rec->size = st.st_size;
    rec->executable = (st.st_mode & S_IXUSR) != 0;
    ++stats_.files;
    stats_.bytes += rec->size;
    FileRec* raw = rec.get();
    files_.push_back(std::move(rec));
    if (opts_.progress) {
      opts_.progress->files_found.fetch_add(1, std::memory_order_relaxed);
      opts_.progress->bytes_found.fetch_add(raw->size, std::memory_order_relaxed);
    }
    if (st.st_nlink > 1) {
      auto [it, inserted] = inodes_.try_emplace({st.st_dev, st.st_ino}, raw);
      if (!inserted) {
        raw->same_as = it->second;
        if (opts_.progress) {
          opts_.progress->files_done.fetch_add(1, std::memory_order_relaxed);
          opts_.progress->bytes_done.fetch_add(raw->size, std::memory_order_relaxed);
        }
        return absl::OkStatus();
      }
    }
    // O_NONBLOCK: should the entry have been swapped for a FIFO since the
    // lstat, the open does not hang; fstat below then rejects it.
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
    auto owned = std::make_shared<UniqueFd>(fd);
    struct stat fst;
    if (fstat(fd, &fst) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", path));
    if (!S_ISREG(fst.st_mode)) return SpecialFileError(path, fst.st_mode);
    if (fst.st_ino != st.st_ino || fst.st_dev != st.st_dev) {
      return absl::AbortedError(absl::StrCat(path, ": replaced while being imported"));
    }
    raw->size = fst.st_size;
    pool_.Submit([this, raw, owned, mtime = fst.st_mtim](bool skip) -> absl::Status {
      if (skip) return absl::OkStatus();
      bool is_new = false;
      auto digest = StoreFileContents(blobs_, owned->get(), raw->size, raw->path, &is_new,
                                      opts_.cancel, opts_.progress, &mtime);
      if (!digest.ok()) return digest.status();
      raw->digest = *digest;
      if (is_new) {
        bytes_new_.fetch_add(raw->size, std::memory_order_relaxed);
        blobs_new_.fetch_add(1, std::memory_order_relaxed);
      }
      if (opts_.progress) opts_.progress->files_done.fetch_add(1, std::memory_order_relaxed);
      return absl::OkStatus();
    });
    return absl::OkStatus();
  }

  absl::Status FinishFiles() {
    if (opts_.progress) opts_.progress->scan_done = true;
    RETURN_IF_ERROR(pool_.Finish());
    if (Cancelled(opts_)) return absl::CancelledError("import interrupted");
    for (auto& f : files_) {
      if (f->same_as != nullptr) {
        if (f->same_as->size != f->size) {
          return absl::AbortedError(absl::StrCat(f->path, ": changed while being imported"));
        }
        f->digest = f->same_as->digest;
      }
    }
    return absl::OkStatus();
  }

  // Feeds `dir`'s entries (the open directory of `tree`, at `path`) to
  // `tree`, subdirectories depth first, freeing the walk's records as it
  // goes.
  absl::Status PutTree(DirRec& dir, TreeBuilder& tree, const std::string& path) {
    for (ChildRec& c : dir.children) {
      std::string child_path = JoinPath(path, c.name.str());
      if (c.dir) {
        RETURN_IF_ERROR(tree.OpenDirectory(std::move(c.name), child_path));
        RETURN_IF_ERROR(PutTree(*c.dir, tree, child_path));
        c.dir.reset();
        RETURN_IF_ERROR(tree.CloseDirectory().status());
      } else if (c.file) {
        RETURN_IF_ERROR(tree.Add(std::move(c.name),
                                 FileNode{c.file->digest, c.file->size, c.file->executable},
                                 child_path));
      } else {
        RETURN_IF_ERROR(
            tree.Add(std::move(c.name), SymlinkNode{*std::move(c.symlink)}, child_path));
      }
    }
    dir.children.clear();
    return absl::OkStatus();
  }

  BlobService& blobs_;
  DirectoryService& directories_;
  const ImportOptions& opts_;
  std::vector<std::unique_ptr<FileRec>> files_;
  std::map<std::pair<dev_t, ino_t>, FileRec*> inodes_;
  ImportStats stats_;
  std::atomic<uint64_t> bytes_new_{0};
  std::atomic<uint64_t> blobs_new_{0};
  JobPool pool_;  // last: its threads stop before the members they use go away
};

}  // namespace

namespace {

// A worker's read buffer: page-aligned, so that the blob service can hand
// the same bytes to O_DIRECT writes without copying them.
struct AlignedBuffer {
  AlignedBuffer() {
    void* p = nullptr;
    CASTOR_CHECK(posix_memalign(&p, 4096, kReadChunk) == 0);
    data = static_cast<uint8_t*>(p);
  }
  ~AlignedBuffer() { free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data;
};

// Stores the pieces of one big file through BlobSink::Store on a thread of
// its own, in the order they are pushed, while the worker reads and hashes
// the next ones (BlobSink::Hash): reading and hashing (the CPU, the page
// cache) overlap writing (an O_DIRECT write waits for the disk). Its
// kOverlapPieces buffers pass between the two threads. Next, Push and
// Finish are called by one thread (the worker); `sink` must outlive it.
class StoreBehind {
 public:
  explicit StoreBehind(BlobSink& sink) : sink_(sink) {
    for (AlignedBuffer& b : buffers_) free_.push_back(b.data);
    thread_ = std::thread([this] { Run(); });
  }
  // Stops the thread (after the piece it is storing; what is queued is dropped).
  ~StoreBehind() {
    {
      MutexLock lock(&mu_);
      closing_ = true;
    }
    thread_.join();
  }
  StoreBehind(const StoreBehind&) = delete;
  StoreBehind& operator=(const StoreBehind&) = delete;

  // A buffer of kReadChunk bytes for the next piece, once one is free; or
  // the error that stopped the writing.
  absl::StatusOr<uint8_t*> Next() {
    MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !free_.empty() || !error_.ok(); });
    if (!error_.ok()) return error_;
    uint8_t* buf = free_.back();
    free_.pop_back();
    return buf;
  }
  // Hands the first `n` bytes of `buf` (from Next) to the writing thread.
  void Push(uint8_t* buf, size_t n) {
    MutexLock lock(&mu_);
    queued_.push_back(Piece{buf, n});
    ++pending_;
  }
  // Waits until every piece pushed is stored; the first error.
  absl::Status Finish() {
    MutexLock lock(&mu_);
    mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ == 0 || !error_.ok(); });
    return error_;
  }

 private:
  struct Piece {
    uint8_t* data;
    size_t size;
  };

  void Run() {
    while (true) {
      Piece piece;
      bool store;
      {
        MutexLock lock(&mu_);
        mu_.Await([&]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queued_.empty() || closing_; });
        if (closing_) return;
        piece = queued_.front();
        queued_.pop_front();
        store = error_.ok();
      }
      absl::Status s =
          store ? sink_.Store(std::span<const uint8_t>(piece.data, piece.size)) : absl::OkStatus();
      MutexLock lock(&mu_);
      if (!s.ok() && error_.ok()) error_ = std::move(s);
      free_.push_back(piece.data);
      --pending_;
    }
  }

  BlobSink& sink_;
  std::array<AlignedBuffer, kOverlapPieces> buffers_;
  Mutex mu_;
  std::vector<uint8_t*> free_ ABSL_GUARDED_BY(mu_);
  std::deque<Piece> queued_ ABSL_GUARDED_BY(mu_);
  size_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // pushed, not yet stored
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once the members it uses exist
};

}  // namespace

absl::StatusOr<B3Digest> StoreFileContents(BlobService& blobs, int fd, uint64_t expected_size,
                                           const std::string& what, bool* is_new,
                                           const std::atomic<bool>* cancel,
                                           ImportProgress* progress,
                                           const struct timespec* mtime_at_open) {
  struct timespec before_mtime;
  if (mtime_at_open != nullptr) {
    before_mtime = *mtime_at_open;
  } else {
    struct stat before;
    if (fstat(fd, &before) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", what));
    before_mtime = before.st_mtim;
  }
  if (expected_size > kSmallFile) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  thread_local AlignedBuffer buf;
  // Each byte is read once into `buf` (a big file's: into the StoreBehind's
  // buffers), hashed there, and handed on from there: the writer trusts our digest
  // (PrehashedBlobWriter), so nothing hashes it twice. A small file is read whole and stored by
  // BlobSink::PutWhole (hashed first, written only when its blob is
  // missing); a bigger one streams through a BlobSink, whose buffer it
  // overflows with its first piece, so the pieces go straight from `buf` to
  // the writer (which drops them when the blob turns out to be stored).
  const bool small = expected_size <= kSmallFile;
  std::optional<BlobSink> sink;
  if (!small) sink.emplace(blobs, expected_size);
  static_assert(kSmallFile >= BlobSink::kBuffered);
  // A big file's pieces are written behind the reading and hashing of the
  // next ones, each in a buffer of the StoreBehind's (destroyed before the
  // sink it writes to).
  std::optional<StoreBehind> behind;
  if (expected_size > kOverlapMin) behind.emplace(*sink);
  uint64_t total = 0;
  while (true) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      return absl::CancelledError("import interrupted");
    }
    uint8_t* into = buf.data;
    if (behind) {
      ASSIGN_OR_RETURN(into, AnnotateOr(behind->Next(), what));
    }
    // A small file is read whole (one byte more than expected, to see growth).
    size_t want = small ? static_cast<size_t>(expected_size) + 1 : kReadChunk;
    ASSIGN_OR_RETURN(size_t n, ReadFull(fd, std::span(into, want), absl::StrCat("read ", what)));
    if (n == 0) break;
    total += n;
    if (total > expected_size) {
      return absl::AbortedError(absl::StrCat(what, ": changed size while being read (expected ",
                                             expected_size, " bytes, read more)"));
    }
    if (progress) progress->bytes_done.fetch_add(n, std::memory_order_relaxed);
    if (small) break;  // the whole file, with EOF seen (n < want)
    const std::span<const uint8_t> piece(into, n);
    if (behind) {
      sink->Hash(piece);
      behind->Push(into, n);
    } else {
      RETURN_IF_ERROR(Annotate(sink->Append(piece), what));
    }
    if (n < want) break;  // EOF
  }
  if (behind) RETURN_IF_ERROR(Annotate(behind->Finish(), what));
  struct stat after;
  if (fstat(fd, &after) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", what));
  if (total != expected_size || static_cast<uint64_t>(after.st_size) != expected_size ||
      after.st_mtim.tv_sec != before_mtime.tv_sec ||
      after.st_mtim.tv_nsec != before_mtime.tv_nsec) {
    return absl::AbortedError(absl::StrCat(what, ": changed while being read (expected ",
                                           expected_size, " bytes, read ", total, ", size now ",
                                           after.st_size, ")"));
  }
  ASSIGN_OR_RETURN(
      BlobSink::Result stored,
      AnnotateOr(small ? BlobSink::PutWhole(blobs, std::span(buf.data, total)) : sink->Finish(),
                 what));
  if (is_new) *is_new = stored.is_new;
  return stored.digest;
}

absl::StatusOr<ImportResult> ImportPath(BlobService& blobs, DirectoryService& directories,
                                        const std::string& path, const ImportOptions& options) {
  Importer importer(blobs, directories, options);
  return importer.Run(path);
}

absl::Status CommitRoot(BlobService& blobs, RootService& roots, const Entry& root) {
  RETURN_IF_ERROR(Annotate(blobs.Sync(), "making blobs durable"));
  return Annotate(roots.Put(root), absl::StrCat("setting root ", QuoteName(root.name.str())));
}

absl::StatusOr<ImportResult> ImportAndCommit(
    BlobService& blobs, RootService& roots, const PathComponent& name,
    const std::function<absl::StatusOr<ImportResult>()>& run_import, bool retry,
    const std::function<void(const absl::Status&)>& retrying) {
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(ImportResult result, run_import());
    absl::Status s = CommitRoot(blobs, roots, Entry{name, result.node});
    if (s.ok()) return result;
    if (s.code() != absl::StatusCode::kFailedPrecondition || !retry || attempt > 0) return s;
    if (retrying) retrying(s);
  }
}

}  // namespace castor::castore
