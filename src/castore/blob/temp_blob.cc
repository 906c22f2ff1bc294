#include "castore/blob/temp_blob.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "base/posix_io.h"
#include "base/status.h"

namespace castor::castore {
namespace {

// O_DIRECT needs buffers, offsets and lengths aligned; a page is enough for
// every filesystem and block device seen in practice (statx's DIO alignment is
// at most this).
constexpr size_t kDirectAlign = 4096;
constexpr size_t kBuffer = 1 << 20;
// Smaller pieces are gathered in the buffer rather than written one by one.
constexpr size_t kSmallPiece = 16 << 10;

bool AlignedAddress(const void* p) { return reinterpret_cast<uintptr_t>(p) % kDirectAlign == 0; }

std::string ProcFdPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

// A symlink is not (even to a file of that size): the store never follows one.
bool IsFileOfSize(const std::string& path, uint64_t size) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<uint64_t>(st.st_size) == size;
}

}  // namespace

absl::StatusOr<std::shared_ptr<TempBlobDir>> TempBlobDir::Open(std::string path,
                                                               const TempBlobOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::shared_ptr<TempBlobDir> dir(new TempBlobDir(std::move(path), fd, options));
  dir->tmpfile_ = options.unnamed && dir->ProbeTmpfile();
  return dir;
}

TempBlobDir::~TempBlobDir() { ::close(fd_); }

// Gives the unnamed file open as `fd` the name `target`: AT_EMPTY_PATH where
// the probe found it allowed (it needs CAP_DAC_READ_SEARCH; it spares the
// walk through /proc), else linkat through /proc, which needs no privilege.
int TempBlobDir::LinkUnnamed(int fd, int dir_fd, const char* target) const {
  if (link_empty_path_) return ::linkat(fd, "", dir_fd, target, AT_EMPTY_PATH);
  return ::linkat(AT_FDCWD, ProcFdPath(fd).c_str(), dir_fd, target, AT_SYMLINK_FOLLOW);
}

bool TempBlobDir::ProbeTmpfile() {
  int fd = ::openat(fd_, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = false;
  for (bool empty_path : {true, false}) {
    if (empty_path && !options_.link_empty_path) continue;
    link_empty_path_ = empty_path;
    std::string name = absl::StrCat("probe-", ::getpid(), "-", name_counter_.fetch_add(1));
    if (LinkUnnamed(fd, fd_, name.c_str()) == 0) {
      ::unlinkat(fd_, name.c_str(), 0);
      ok = true;
      break;
    }
  }
  ::close(fd);
  return ok;
}

absl::StatusOr<std::unique_ptr<TempBlob>> TempBlobDir::Create(uint64_t size_hint) {
  bool direct = options_.direct_io_min > 0 && size_hint >= options_.direct_io_min;
  std::string path;
  ASSIGN_OR_RETURN(int fd, CreateFile(&path, &direct));
  return std::unique_ptr<TempBlob>(
      new TempBlob(shared_from_this(), fd, std::move(path), direct, size_hint));
}

absl::StatusOr<int> TempBlobDir::CreateFile(std::string* path, bool* direct) {
  bool want_direct = *direct && direct_ok_.load(std::memory_order_relaxed);
  for (;;) {
    int extra = want_direct ? O_DIRECT : 0;
    absl::Status failed;
    if (tmpfile_) {
      path->clear();
      int fd = ::openat(fd_, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC | extra, 0600);
      if (fd >= 0) {
        *direct = want_direct;
        return fd;
      }
      failed = ErrnoStatus(errno, absl::StrCat("create temp file in ", path_));
    } else {
      absl::StatusOr<TempFile> file =
          CreateTempFile(path_, TempFileOptions{.prefix = "blob", .extra_flags = extra});
      if (file.ok()) {
        *path = std::move(file->path);
        *direct = want_direct;
        return file->fd.Release();
      }
      failed = file.status();
    }
    // InvalidArgument is EINVAL here: the filesystem takes no O_DIRECT, so
    // stop asking.
    if (want_direct && failed.code() == absl::StatusCode::kInvalidArgument) {
      direct_ok_.store(false, std::memory_order_relaxed);
      want_direct = false;
      continue;
    }
    return failed;
  }
}

absl::StatusOr<bool> TempBlobDir::CommitNamed(const std::string& temp_path,
                                              const std::string& target, uint64_t size) {
  auto rename_into_place = [&](unsigned flags) {
    return IntoShard(target, [&] {
      return ::renameat2(AT_FDCWD, temp_path.c_str(), AT_FDCWD, target.c_str(), flags);
    });
  };
  auto fail = [&](std::string_view what) {
    absl::Status s =
        ErrnoStatus(errno, absl::StrCat(ToAbslView(what), " ", temp_path, " to ", target));
    ::unlink(temp_path.c_str());
    return s;
  };
  // The common case, a new blob, costs one rename. RENAME_NOREPLACE, so that
  // an existing file is looked at before it is replaced.
  if (rename_into_place(RENAME_NOREPLACE) == 0) return true;
  if (errno != EEXIST && errno != EINVAL) return fail("rename");  // EINVAL: flag unsupported
  if (IsFileOfSize(target, size)) {
    ::unlink(temp_path.c_str());  // dedup: the same bytes are already stored
    return false;
  }
  // Absent, or of the wrong size (short after a power loss): (re)place it.
  // rename is atomic, so concurrent writers of the same blob each install a
  // complete file and readers see one or the other.
  if (rename_into_place(0) == 0) return true;
  return fail("rename");
}

absl::StatusOr<bool> TempBlobDir::CommitUnnamed(int fd, const std::string& target, uint64_t size) {
  // The common case, a new blob, costs one link; like RENAME_NOREPLACE, it
  // never replaces an existing file, which is looked at first.
  if (IntoShard(target, [&] { return LinkUnnamed(fd, AT_FDCWD, target.c_str()); }) == 0) {
    return true;
  }
  if (errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("link a temp file of ", path_, " to ", target));
  }
  if (IsFileOfSize(target, size)) return false;  // dedup: the same bytes are stored
  RETURN_IF_ERROR(ReplaceWithUnnamed(fd, target));
  return true;
}

absl::Status TempBlobDir::ReplaceWithUnnamed(int fd, const std::string& target) {
  // A wrong-size file (short after a power loss) is replaced atomically: the
  // unnamed file gets a temp name, which is renamed over the target.
  for (;;) {
    std::string name =
        absl::StrCat(path_, "/replace-", ::getpid(), "-", name_counter_.fetch_add(1));
    if (LinkUnnamed(fd, AT_FDCWD, name.c_str()) != 0) {
      if (errno == EEXIST) continue;
      return ErrnoStatus(errno, absl::StrCat("link a temp file to ", name));
    }
    if (::rename(name.c_str(), target.c_str()) != 0) {
      absl::Status s = ErrnoStatus(errno, absl::StrCat("rename ", name, " to ", target));
      ::unlink(name.c_str());
      return s;
    }
    return absl::OkStatus();
  }
}

void TempBlobDir::RemoveStale(std::chrono::seconds age) {
  DIR* d = ::opendir(path_.c_str());
  if (d == nullptr) return;
  time_t cutoff = ::time(nullptr) - age.count();
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_mtime > cutoff) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) {
      spdlog::info("removed stale temp file {}/{}", path_, e->d_name);
    }
  }
  ::closedir(d);
}

void TempBlob::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

TempBlob::TempBlob(std::shared_ptr<TempBlobDir> dir, int fd, std::string path, bool direct,
                   uint64_t size_hint)
    : dir_(std::move(dir)),
      fd_(fd),
      path_(std::move(path)),
      direct_(direct),
      size_hint_(size_hint),
      // No bigger than the announced blob needs (a multiple of the O_DIRECT
      // alignment, as every buffer flush but the last must be): a small
      // blob's buffer then comes from the heap, not from a fresh mapping
      // that is faulted in and unmapped again for each file.
      capacity_(size_hint == 0 ? kBuffer
                               : std::min<uint64_t>(kBuffer, (size_hint + kDirectAlign - 1) &
                                                                 ~uint64_t{kDirectAlign - 1})) {}

absl::Status TempBlob::Write(std::span<const uint8_t> data) {
  if (fd_ < 0) return absl::FailedPreconditionError("blob writer already closed");
  // The announced blob in one piece (the importer's small files): nothing
  // to gather, so written as it is, without a copy or a buffer.
  const bool whole = size_ == 0 && size_hint_ > 0 && data.size() == size_hint_;
  size_ += data.size();
  while (!data.empty()) {
    if (used_ == 0 && (direct_ ? AlignedAddress(data.data()) && data.size() >= kDirectAlign
                               : whole || data.size() >= kSmallPiece)) {
      // A piece that is not small skips the buffer (no copy); with O_DIRECT,
      // its aligned prefix, when it sits at an aligned address.
      size_t n = direct_ ? data.size() & ~(kDirectAlign - 1) : data.size();
      RETURN_IF_ERROR(Fail(WriteOut(data.data(), n)));
      data = data.subspan(n);
      continue;
    }
    if (buffer_ == nullptr) {
      void* p = nullptr;
      if (posix_memalign(&p, kDirectAlign, capacity_) != 0) {
        return Fail(absl::ResourceExhaustedError("out of memory for a blob write buffer"));
      }
      buffer_.reset(static_cast<uint8_t*>(p));
    }
    size_t n = std::min(capacity_ - used_, data.size());
    std::memcpy(buffer_.get() + used_, data.data(), n);
    used_ += n;
    data = data.subspan(n);
    if (used_ == capacity_) {
      RETURN_IF_ERROR(Fail(WriteOut(buffer_.get(), used_)));
      used_ = 0;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> TempBlob::Commit(const std::string& target) {
  if (fd_ < 0) return absl::FailedPreconditionError("blob writer already closed");
  absl::Status s = absl::OkStatus();
  if (used_ > 0) {
    size_t head = direct_ ? used_ & ~(kDirectAlign - 1) : used_;
    s = WriteOut(buffer_.get(), head);
    if (s.ok() && head < used_) {
      s = Buffered();
      if (s.ok()) s = WriteOut(buffer_.get() + head, used_ - head);
    }
    used_ = 0;
  }
  if (s.ok() && !direct_ && dir_->options().early_writeback && size_ > 0) {
    // Asynchronous: queues the dirty pages for writeback now rather than at
    // the final syncfs. Only a hint; failure changes nothing.
    (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  if (!s.ok()) {
    Discard();
    return s;
  }
  absl::StatusOr<bool> placed;
  if (path_.empty()) {
    placed = dir_->CommitUnnamed(fd_, target, size_);
    ::close(fd_);
    fd_ = -1;
  } else {
    if (::close(fd_) != 0) {
      s = ErrnoStatus(errno, absl::StrCat("close ", path_));
      fd_ = -1;
      Discard();
      return s;
    }
    fd_ = -1;
    placed = dir_->CommitNamed(path_, target, size_);
    path_.clear();  // CommitNamed renamed or removed it
  }
  return placed;
}

std::string TempBlob::Name() const { return path_.empty() ? dir_->path() + "/(unnamed)" : path_; }

absl::Status TempBlob::Buffered() {
  if (!direct_) return absl::OkStatus();
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fcntl ", Name()));
  }
  direct_ = false;
  return absl::OkStatus();
}

absl::Status TempBlob::WriteOut(const uint8_t* data, size_t len) {
  // Not WriteAll: a direct write the filesystem refuses (EINVAL), or one it
  // cuts short off the alignment, goes on through the page cache.
  while (len > 0) {
    ssize_t n = ::write(fd_, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct_) {
        // This file or filesystem takes no direct I/O after all.
        RETURN_IF_ERROR(Buffered());
        continue;
      }
      return ErrnoStatus(errno, absl::StrCat("write ", Name()));
    }
    data += n;
    len -= static_cast<size_t>(n);
    if (direct_ && len > 0 && n % kDirectAlign != 0) RETURN_IF_ERROR(Buffered());
  }
  return absl::OkStatus();
}

// A failed write leaves the temp file in an unknown state: the blob is done
// (Commit fails, nothing is stored).
absl::Status TempBlob::Fail(absl::Status s) {
  if (!s.ok()) Discard();
  return s;
}

void TempBlob::Discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
}

}  // namespace castor::castore
