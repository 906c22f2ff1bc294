#include "castore/blob/local_blob_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <vector>

#include "absl/strings/str_cat.h"
#include "castore/status_macros.h"

namespace castor::castore {
namespace {

constexpr size_t kWriteBuffer = 1 << 20;
constexpr size_t kDirectWrite = 128 << 10;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status MkdirIfMissing(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path));
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
    }
    return absl::OkStatus();
  }
  return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
}

// mkdir -p for an absolute path.
absl::Status MkdirAll(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos == path.size() || path[pos] == '/') {
      std::string prefix = path.substr(0, pos);
      if (prefix.empty() || prefix.back() == '/') continue;
      RETURN_IF_ERROR(MkdirIfMissing(prefix));
    }
  }
  return absl::OkStatus();
}

// Writes all of `data` at the fd's position, retrying short writes and EINTR.
absl::Status WriteAll(int fd, const uint8_t* data, size_t len, const std::string& path) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write ", path));
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

class LocalReader : public BlobReader {
 public:
  LocalReader(int fd, uint64_t size, std::string path, B3Digest digest)
      : fd_(fd), size_(size), path_(std::move(path)), digest_(digest) {}
  ~LocalReader() override { ::close(fd_); }

  uint64_t size() const override { return size_; }
  int LocalFd() const override { return fd_; }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    if (offset >= size_) return 0;
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size_ - offset));
    size_t done = 0;
    while (done < want) {
      ssize_t n = ::pread(fd_, buf.data() + done, want - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, absl::StrCat("read ", path_));
      }
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("blob ", digest_.ToB3(), ": file ", path_,
                                                " ends at ", offset + done, ", expected ", size_,
                                                " bytes"));
      }
      done += static_cast<size_t>(n);
    }
    return done;
  }

 private:
  const int fd_;
  const uint64_t size_;
  const std::string path_;
  const B3Digest digest_;
};

class LocalWriter : public BlobWriter {
 public:
  LocalWriter(std::shared_ptr<LocalBlobService> service, int fd, std::string temp_path)
      : service_(std::move(service)), fd_(fd), temp_path_(std::move(temp_path)) {
    buffer_.reserve(kWriteBuffer);
  }
  ~LocalWriter() override { Discard(); }

  absl::Status Write(std::span<const uint8_t> data) override {
    if (fd_ < 0) return absl::FailedPreconditionError("blob writer already closed");
    written_ += data.size();
    if (buffer_.empty() && data.size() >= kDirectWrite) {
      // Big pieces skip the buffer (no copy).
      hasher_.Update(data);
      return Fail(WriteAll(fd_, data.data(), data.size(), temp_path_));
    }
    if (buffer_.size() + data.size() <= kWriteBuffer) {
      buffer_.insert(buffer_.end(), data.begin(), data.end());
      if (buffer_.size() == kWriteBuffer) return Flush();
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(Flush());
    if (data.size() >= kWriteBuffer) {
      // Large writes skip the buffer.
      hasher_.Update(data);
      return Fail(WriteAll(fd_, data.data(), data.size(), temp_path_));
    }
    buffer_.insert(buffer_.end(), data.begin(), data.end());
    return absl::OkStatus();
  }

  absl::StatusOr<B3Digest> Close() override {
    if (fd_ < 0) return absl::FailedPreconditionError("blob writer already closed");
    absl::Status s = Flush();
    if (!s.ok()) {
      Discard();
      return s;
    }
    if (::close(fd_) != 0) {
      s = ErrnoStatus(errno, absl::StrCat("close ", temp_path_));
      fd_ = -1;
      Discard();
      return s;
    }
    fd_ = -1;
    B3Digest digest = hasher_.Finalize();
    s = service_->Commit(temp_path_, digest, written_);
    temp_path_.clear();  // Commit renamed or removed it
    if (!s.ok()) return s;
    return digest;
  }

  uint64_t bytes_written() const override { return written_; }

 private:
  absl::Status Flush() {
    if (buffer_.empty()) return absl::OkStatus();
    hasher_.Update(std::span<const uint8_t>(buffer_));
    absl::Status s = WriteAll(fd_, buffer_.data(), buffer_.size(), temp_path_);
    buffer_.clear();
    return Fail(s);
  }
  // A failed write leaves the temp file in an unknown state: the writer is
  // done (Close fails, nothing is stored).
  absl::Status Fail(absl::Status s) {
    if (!s.ok()) Discard();
    return s;
  }
  void Discard() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!temp_path_.empty()) {
      ::unlink(temp_path_.c_str());
      temp_path_.clear();
    }
  }

  std::shared_ptr<LocalBlobService> service_;
  int fd_;
  std::string temp_path_;
  std::vector<uint8_t> buffer_;
  Blake3Hasher hasher_;
  uint64_t written_ = 0;
};

}  // namespace

absl::StatusOr<std::shared_ptr<LocalBlobService>> LocalBlobService::Open(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("blob store path '", path, "' must be absolute"));
  }
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  RETURN_IF_ERROR(MkdirAll(root));
  RETURN_IF_ERROR(MkdirIfMissing(root + "/b3"));
  RETURN_IF_ERROR(MkdirIfMissing(root + "/tmp"));
  if (::access(root.c_str(), W_OK) != 0 || ::access((root + "/tmp").c_str(), W_OK) != 0 ||
      ::access((root + "/b3").c_str(), W_OK) != 0) {
    return ErrnoStatus(errno, absl::StrCat("blob store ", root, " is not writable"));
  }
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", root));
  std::shared_ptr<LocalBlobService> service(new LocalBlobService(root, fd));
  service->RemoveStaleTemps();
  return service;
}

LocalBlobService::~LocalBlobService() { ::close(dir_fd_); }

void LocalBlobService::RemoveStaleTemps() {
  std::string dir = TempDir();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  time_t cutoff = ::time(nullptr) - kStaleTempAge.count();
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_mtime > cutoff) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) {
      spdlog::info("removed stale temp file {}/{}", dir, e->d_name);
    }
  }
  ::closedir(d);
}

std::string LocalBlobService::BlobPath(const B3Digest& digest) const {
  std::string hex = digest.ToHex();
  return absl::StrCat(root_, "/b3/", hex.substr(0, 2), "/", hex);
}

absl::StatusOr<bool> LocalBlobService::Has(const B3Digest& digest) {
  std::string path = BlobPath(digest);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  return S_ISREG(st.st_mode);
}

absl::StatusOr<std::unique_ptr<BlobReader>> LocalBlobService::OpenRead(const B3Digest& digest) {
  std::string path = BlobPath(digest);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return nullptr;
    return ErrnoStatus(errno, absl::StrCat("open ", path));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status s = ErrnoStatus(errno, absl::StrCat("stat ", path));
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::DataLossError(
        absl::StrCat("blob ", digest.ToB3(), ": ", path, " is not a regular file"));
  }
  return std::make_unique<LocalReader>(fd, static_cast<uint64_t>(st.st_size), path, digest);
}

absl::StatusOr<std::unique_ptr<BlobWriter>> LocalBlobService::OpenWrite() {
  std::string tmpl = TempDir() + "/blob-XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create temp file in ", TempDir()));
  return std::make_unique<LocalWriter>(shared_from_this(), fd, tmpl);
}

absl::Status LocalBlobService::Commit(const std::string& temp_path, const B3Digest& digest,
                                      uint64_t size) {
  std::string target = BlobPath(digest);
  // rename(2), creating the shard directory on first use.
  auto rename_into_place = [&](unsigned flags) {
    int rc = ::renameat2(AT_FDCWD, temp_path.c_str(), AT_FDCWD, target.c_str(), flags);
    if (rc != 0 && errno == ENOENT) {
      std::string shard = target.substr(0, target.rfind('/'));
      if (::mkdir(shard.c_str(), 0755) != 0 && errno != EEXIST) return -1;
      rc = ::renameat2(AT_FDCWD, temp_path.c_str(), AT_FDCWD, target.c_str(), flags);
    }
    return rc;
  };
  auto fail = [&](std::string_view what) {
    absl::Status s = ErrnoStatus(errno, absl::StrCat(AV(what), " ", temp_path, " to ", target));
    ::unlink(temp_path.c_str());
    return s;
  };
  // The common case, a new blob, costs one rename. RENAME_NOREPLACE, so that
  // an existing file is looked at before it is replaced.
  if (rename_into_place(RENAME_NOREPLACE) == 0) return absl::OkStatus();
  if (errno != EEXIST && errno != EINVAL) return fail("rename");  // EINVAL: flag unsupported
  struct stat st;
  if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_size) == size) {
    ::unlink(temp_path.c_str());  // dedup: the same bytes are already stored
    return absl::OkStatus();
  }
  // Absent, or of the wrong size (short after a power loss): (re)place it.
  // rename is atomic, so concurrent writers of the same blob each install a
  // complete file and readers see one or the other.
  if (rename_into_place(0) == 0) return absl::OkStatus();
  return fail("rename");
}

absl::StatusOr<std::optional<std::vector<ChunkMeta>>> LocalBlobService::Chunks(
    const B3Digest& digest) {
  ASSIGN_OR_RETURN(bool has, Has(digest));
  if (!has) return std::nullopt;
  return std::vector<ChunkMeta>{};
}

absl::Status LocalBlobService::Sync() {
  castor::MutexLock lock(&sync_mu_);
  // Blobs renamed before this call are covered by any round that starts from
  // now on; the next round to start is sync_started_ + 1.
  const uint64_t target = sync_started_ + 1;
  while (sync_finished_ < target) {
    if (!sync_running_ && sync_started_ < target) {
      sync_running_ = true;
      sync_started_ = target;
      sync_mu_.Unlock();
      int rc = ::syncfs(dir_fd_);
      int err = errno;
      sync_mu_.Lock();
      sync_running_ = false;
      sync_finished_ = target;
      if (rc != 0) sync_failures_[target] = ErrnoStatus(err, absl::StrCat("syncfs ", root_));
    } else {
      sync_mu_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return SyncIdle(); });
    }
  }
  auto it = sync_failures_.find(target);
  return it == sync_failures_.end() ? absl::OkStatus() : it->second;
}

absl::Status LocalBlobService::ForEach(
    const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) {
  std::string b3 = root_ + "/b3";
  std::vector<std::string> shards;
  {
    DIR* d = ::opendir(b3.c_str());
    if (d == nullptr) return ErrnoStatus(errno, absl::StrCat("opendir ", b3));
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name.size() == 2 && IsLowerHex(name)) shards.emplace_back(name);
    }
    ::closedir(d);
  }
  std::sort(shards.begin(), shards.end());
  for (const std::string& shard : shards) {
    std::string dir = absl::StrCat(b3, "/", shard);
    std::vector<std::pair<B3Digest, uint64_t>> blobs;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return ErrnoStatus(errno, absl::StrCat("opendir ", dir));
    }
    absl::Status status;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name.size() != 64 || !IsLowerHex(name) || name.substr(0, 2) != shard) continue;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // deleted meanwhile
        status = ErrnoStatus(errno, absl::StrCat("stat ", dir, "/", AV(name)));
        break;
      }
      if (!S_ISREG(st.st_mode)) continue;
      auto digest = B3Digest::Parse(name);
      if (!digest.ok()) continue;
      blobs.emplace_back(*digest, static_cast<uint64_t>(st.st_size));
    }
    ::closedir(d);
    RETURN_IF_ERROR(status);
    for (const auto& [digest, size] : blobs) RETURN_IF_ERROR(fn(digest, size));
  }
  return absl::OkStatus();
}

absl::Status LocalBlobService::Delete(const B3Digest& digest) {
  std::string path = BlobPath(digest);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unlink ", path));
  }
  return absl::OkStatus();
}

}  // namespace castor::castore
