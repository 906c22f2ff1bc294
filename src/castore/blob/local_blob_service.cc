#include "castore/blob/local_blob_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>  // rename
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/posix_io.h"
#include "base/status.h"
#include "castore/blob/chunked_blob_reader.h"

namespace castor::castore {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

// A blob's file, open for reading.
struct LocalBlobService::File {
  File(int f, uint64_t s, std::string p, const B3Digest& d)
      : fd(f), size(s), path(std::move(p)), digest(d) {}
  ~File() { ::close(fd); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Reads exactly buf.size() bytes at `offset` (which the file must have).
  absl::Status ReadExactly(uint64_t offset, std::span<uint8_t> buf) const {
    ASSIGN_OR_RETURN(size_t done, PreadFull(fd, buf, offset, absl::StrCat("read ", path)));
    if (done < buf.size()) {
      return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": file ", path, " ends at ",
                                              offset + done, ", expected ", size, " bytes"));
    }
    return absl::OkStatus();
  }

  const int fd;
  const uint64_t size;
  const std::string path;
  const B3Digest digest;
};

namespace {

using File = LocalBlobService::File;

// The file as it is (OpenReadUnverified, and the pass that computes a tree).
class LocalReader : public BlobReader {
 public:
  explicit LocalReader(std::shared_ptr<const File> file) : file_(std::move(file)) {}

  uint64_t size() const override { return file_->size; }
  int LocalFd() const override { return file_->fd; }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    if (offset >= file_->size) return 0;
    buf = buf.first(static_cast<size_t>(std::min<uint64_t>(buf.size(), file_->size - offset)));
    RETURN_IF_ERROR(file_->ReadExactly(offset, buf));
    return buf.size();
  }

 private:
  const std::shared_ptr<const File> file_;
};

// OpenRead's reader: every group is checked as it is read from the file.
class VerifiedLocalReader : public ChunkedBlobReader {
 public:
  VerifiedLocalReader(std::shared_ptr<const File> file, GetLayout get_layout, ReadChunk read)
      : ChunkedBlobReader(file->size, std::move(get_layout), std::move(read), kOptions),
        file_(std::move(file)) {}

  int LocalFd() const override { return file_->fd; }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    absl::StatusOr<size_t> n = ChunkedBlobReader::ReadAt(offset, buf);
    if (n.status().code() == absl::StatusCode::kDataLoss &&
        n.status().message().find(file_->path) == absl::string_view::npos) {
      return Annotate(n.status(), file_->path);
    }
    return n;
  }

 private:
  // Reads from disk are big and rarely repeat (the page cache above the
  // reader keeps what it served): no read-ahead thread, and only the groups
  // at the edges of the last reads stay in memory.
  static constexpr Options kOptions{.cached_chunks = 2, .prefetch = false};

  const std::shared_ptr<const File> file_;
};

// OpenWrite's writer: hashes what it receives, in the store's groups, so
// the pass that yields the digest yields the blob's tree too.
class LocalWriter : public BlobWriter {
 public:
  LocalWriter(std::shared_ptr<LocalBlobService> service, std::unique_ptr<TempBlob> blob)
      : service_(std::move(service)),
        blob_(std::move(blob)),
        hasher_(service_->options().group_size) {}

  absl::Status Write(std::span<const uint8_t> data) override {
    if (blob_ == nullptr) return absl::FailedPreconditionError("blob writer already closed");
    hasher_.Update(data);
    absl::Status s = blob_->Write(data);
    if (!s.ok()) blob_.reset();
    return s;
  }

  absl::StatusOr<B3Digest> Close() override {
    if (blob_ == nullptr) return absl::FailedPreconditionError("blob writer already closed");
    std::unique_ptr<TempBlob> blob = std::move(blob_);
    written_ = blob->size();
    const blake3_tree::GroupHasher::Result tree = hasher_.Finish();
    ASSIGN_OR_RETURN(bool is_new, blob->Commit(service_->BlobPath(tree.digest)));
    if (is_new) service_->KeepTree(tree.digest, tree.size, tree.cvs);
    return tree.digest;
  }

  uint64_t bytes_written() const override { return blob_ ? blob_->size() : written_; }

 private:
  const std::shared_ptr<LocalBlobService> service_;
  std::unique_ptr<TempBlob> blob_;
  blake3_tree::GroupHasher hasher_;
  uint64_t written_ = 0;
};

// OpenPrehashedWrite's writer: trusts the caller's digest and group CVs, or
// checks them when the store verifies prehashed writes.
class LocalPrehashedWriter : public PrehashedBlobWriter {
 public:
  LocalPrehashedWriter(std::shared_ptr<LocalBlobService> service, std::unique_ptr<TempBlob> blob,
                       bool verify)
      : service_(std::move(service)),
        blob_(std::move(blob)),
        verify_(verify),
        hasher_(service_->options().group_size) {}

  absl::Status Write(std::span<const uint8_t> data) override {
    if (blob_ == nullptr) return absl::FailedPreconditionError("blob writer already closed");
    if (verify_) hasher_.Update(data);
    absl::Status s = blob_->Write(data);
    if (!s.ok()) blob_.reset();
    return s;
  }

  absl::StatusOr<bool> Close(const B3Digest& digest,
                             std::span<const blake3_tree::Cv> group_cvs) override {
    if (blob_ == nullptr) return absl::FailedPreconditionError("blob writer already closed");
    std::unique_ptr<TempBlob> blob = std::move(blob_);
    written_ = blob->size();
    const uint64_t group = service_->options().group_size;
    const uint64_t groups = blake3_tree::GroupCount(written_, group);
    if (!group_cvs.empty() && (groups < 2 || group_cvs.size() != groups)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "blob ", digest.ToB3(), " written with ", group_cvs.size(), " group CVs; its ", written_,
          " bytes make ", groups, " groups of ", group, " bytes"));
    }
    std::vector<blake3_tree::Cv> own;
    if (verify_) {
      blake3_tree::GroupHasher::Result tree = hasher_.Finish();
      RETURN_IF_ERROR(CheckPrehashedDigest(digest, tree.digest));
      if (!group_cvs.empty() &&
          !std::equal(group_cvs.begin(), group_cvs.end(), tree.cvs.begin(), tree.cvs.end())) {
        return absl::DataLossError(absl::StrCat(
            "blob ", digest.ToB3(), " written with group CVs its bytes do not hash to"));
      }
      own = std::move(tree.cvs);
      if (group_cvs.empty()) group_cvs = own;
    }
    ASSIGN_OR_RETURN(bool is_new, blob->Commit(service_->BlobPath(digest)));
    if (is_new) service_->KeepTree(digest, written_, group_cvs);
    return is_new;
  }

  uint64_t bytes_written() const override { return blob_ ? blob_->size() : written_; }

 private:
  const std::shared_ptr<LocalBlobService> service_;
  std::unique_ptr<TempBlob> blob_;
  const bool verify_;
  blake3_tree::GroupHasher hasher_;
  uint64_t written_ = 0;
};

}  // namespace

absl::StatusOr<std::shared_ptr<LocalBlobService>> LocalBlobService::Open(
    const std::string& path, const LocalBlobOptions& options) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("blob store path '", path, "' must be absolute"));
  }
  if (!blake3_tree::IsValidGroupSize(options.group_size) ||
      options.group_size > kMaxLayoutChunkSize) {
    return absl::InvalidArgumentError(absl::StrCat("blob store group size ", options.group_size,
                                                   " is not a power of two from 1 KiB to ",
                                                   kMaxLayoutChunkSize >> 20, " MiB"));
  }
  std::string store_dir = path;
  while (store_dir.size() > 1 && store_dir.back() == '/') store_dir.pop_back();
  RETURN_IF_ERROR(MkdirAll(store_dir));
  RETURN_IF_ERROR(MkdirIfMissing(store_dir + "/b3"));
  RETURN_IF_ERROR(MkdirIfMissing(store_dir + "/tmp"));
  RETURN_IF_ERROR(MkdirIfMissing(store_dir + "/outboard"));
  RETURN_IF_ERROR(
      MkdirIfMissing(absl::StrCat(store_dir, "/outboard/", options.group_size >> 10, "k")));
  if (::access(store_dir.c_str(), W_OK) != 0 || ::access((store_dir + "/tmp").c_str(), W_OK) != 0 ||
      ::access((store_dir + "/b3").c_str(), W_OK) != 0) {
    return ErrnoStatus(errno, absl::StrCat("blob store ", store_dir, " is not writable"));
  }
  int fd = ::open(store_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", store_dir));
  absl::StatusOr<std::shared_ptr<TempBlobDir>> temps =
      TempBlobDir::Open(store_dir + "/tmp", TempBlobOptions{
                                                .unnamed = options.unnamed_temps,
                                                .link_empty_path = options.link_empty_path,
                                                .direct_io_min = options.direct_io_min,
                                                .early_writeback = options.early_writeback,
                                            });
  if (!temps.ok()) {
    ::close(fd);
    return temps.status();
  }
  std::shared_ptr<LocalBlobService> service(
      new LocalBlobService(store_dir, fd, std::move(*temps), options));
  service->temps_->RemoveStale(kStaleTempAge);
  return service;
}

LocalBlobService::LocalBlobService(std::string store_dir, int dir_fd,
                                   std::shared_ptr<TempBlobDir> temps, LocalBlobOptions options)
    : dir_(std::move(store_dir)),
      dir_fd_(dir_fd),
      temps_(std::move(temps)),
      options_(std::move(options)),
      trees_(options_.max_tree_groups),
      sync_([this]() -> absl::Status {
        if (options_.syncfs(dir_fd_) != 0) {
          return ErrnoStatus(errno, absl::StrCat("syncfs ", dir_));
        }
        return absl::OkStatus();
      }) {}

LocalBlobService::~LocalBlobService() { ::close(dir_fd_); }

std::string LocalBlobService::BlobPath(const B3Digest& digest) const {
  std::string hex = digest.ToHex();
  return absl::StrCat(dir_, "/b3/", hex.substr(0, 2), "/", hex);
}

std::string LocalBlobService::OutboardPath(const B3Digest& digest) const {
  std::string hex = digest.ToHex();
  return absl::StrCat(dir_, "/outboard/", options_.group_size >> 10, "k/", hex.substr(0, 2), "/",
                      hex);
}

absl::StatusOr<bool> LocalBlobService::Has(const B3Digest& digest) {
  std::string path = BlobPath(digest);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  return S_ISREG(st.st_mode);
}

namespace {

const char* FileKind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
    default:
      return "of an unknown kind";
  }
}

absl::Status NotARegularFile(const B3Digest& digest, const std::string& path, const char* kind) {
  return absl::DataLossError(
      absl::StrCat("blob ", digest.ToB3(), ": ", path, " is not a regular file (", kind, ")"));
}

}  // namespace

absl::StatusOr<std::optional<uint64_t>> LocalBlobService::StoredSize(const B3Digest& digest) {
  std::string path = BlobPath(digest);
  struct stat st;
  // lstat: a link at a blob's path is damage, never followed out of the store.
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISREG(st.st_mode)) return NotARegularFile(digest, path, FileKind(st.st_mode));
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<std::shared_ptr<const LocalBlobService::File>> LocalBlobService::OpenFile(
    const B3Digest& digest) const {
  std::string path = BlobPath(digest);
  // Never follow a link out of the store, never wait for a FIFO's writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return nullptr;
    if (errno == ELOOP) return NotARegularFile(digest, path, FileKind(S_IFLNK));
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
    return NotARegularFile(digest, path, FileKind(st.st_mode));
  }
  return std::make_shared<const File>(fd, static_cast<uint64_t>(st.st_size), std::move(path),
                                      digest);
}

absl::StatusOr<std::unique_ptr<BlobReader>> LocalBlobService::OpenReadUnverified(
    const B3Digest& digest) {
  ASSIGN_OR_RETURN(std::shared_ptr<const File> file, OpenFile(digest));
  if (file == nullptr) return nullptr;
  return std::make_unique<LocalReader>(std::move(file));
}

absl::StatusOr<std::unique_ptr<BlobReader>> LocalBlobService::OpenRead(const B3Digest& digest) {
  ASSIGN_OR_RETURN(std::shared_ptr<const File> file, OpenFile(digest));
  if (file == nullptr) return nullptr;
  const uint64_t group = options_.group_size;
  // Group `index` as it is on disk now (the reader checks it).
  auto read = [file, group](size_t index, std::span<uint8_t> out) {
    return file->ReadExactly(index * group, out);
  };
  ChunkedBlobReader::GetLayout get_layout;
  if (file->size <= group) {
    auto single = std::make_shared<const ChunkLayout>(SingleChunkLayout(digest, file->size, group));
    get_layout = [single] { return single; };
  } else {
    get_layout = [self = shared_from_this(), file] { return self->Tree(file); };
  }
  return std::make_unique<VerifiedLocalReader>(std::move(file), std::move(get_layout),
                                               std::move(read));
}

absl::StatusOr<std::unique_ptr<BlobWriter>> LocalBlobService::OpenWrite() {
  ASSIGN_OR_RETURN(std::unique_ptr<TempBlob> blob, temps_->Create(0));
  return std::make_unique<LocalWriter>(shared_from_this(), std::move(blob));
}

absl::StatusOr<std::unique_ptr<PrehashedBlobWriter>> LocalBlobService::OpenPrehashedWrite(
    uint64_t size_hint) {
  ASSIGN_OR_RETURN(std::unique_ptr<TempBlob> blob, temps_->Create(size_hint));
  return std::make_unique<LocalPrehashedWriter>(shared_from_this(), std::move(blob),
                                                options_.verify_prehashed);
}

absl::StatusOr<std::shared_ptr<const ChunkLayout>> LocalBlobService::Tree(
    const std::shared_ptr<const File>& file) {
  return trees_.Get(file->digest, [&]() -> absl::StatusOr<std::shared_ptr<const ChunkLayout>> {
    const bool persist = file->size >= options_.persist_tree_min;
    if (persist) {
      if (auto loaded = LoadTree(*file)) return loaded;
    }
    trees_computed_.fetch_add(1, std::memory_order_relaxed);
    absl::StatusOr<ChunkLayout> computed = ComputeChunkLayout(
        LocalReader(file), file->digest, options_.group_size, /*chunk_digests=*/false);
    if (!computed.ok()) return Annotate(computed.status(), file->path);
    auto tree = std::make_shared<const ChunkLayout>(std::move(*computed));
    if (persist) SaveTree(tree->digest, tree->size, tree->cvs);
    return tree;
  });
}

namespace {

// The contents of the regular file at `path`, which must have `size` bytes.
absl::StatusOr<std::string> ReadFileOfSize(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  absl::Status status;
  std::string data;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    status = ErrnoStatus(errno, absl::StrCat("stat ", path));
  } else if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != size) {
    status =
        absl::DataLossError(absl::StrCat(path, " has ", st.st_size, " bytes, expected ", size));
  } else {
    data.resize(size);
    absl::StatusOr<size_t> done =
        PreadFull(fd, std::span(reinterpret_cast<uint8_t*>(data.data()), data.size()), 0,
                  absl::StrCat("read ", path));
    if (!done.ok()) {
      status = done.status();
    } else if (*done < size) {
      status = absl::DataLossError(absl::StrCat(path, " ends at ", *done));
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return data;
}

}  // namespace

std::shared_ptr<const ChunkLayout> LocalBlobService::LoadTree(const File& file) const {
  const std::string path = OutboardPath(file.digest);
  const uint64_t groups = blake3_tree::GroupCount(file.size, options_.group_size);
  absl::StatusOr<std::string> outboard = ReadFileOfSize(path, 8 + 64 * (groups - 1));
  if (outboard.status().code() == absl::StatusCode::kNotFound) return nullptr;
  absl::StatusOr<std::vector<blake3_tree::Cv>> cvs =
      outboard.ok()
          ? blake3_tree::VerifyOutboard(*outboard, file.size, options_.group_size, file.digest)
          : outboard.status();
  if (!cvs.ok()) {
    spdlog::warn("{}: {}; computing the tree of blob {} again", path,
                 ToStdView(cvs.status().message()), file.digest.ToB3());
    return nullptr;
  }
  ChunkLayout tree;
  tree.digest = file.digest;
  tree.size = file.size;
  tree.chunk_size = options_.group_size;
  tree.cvs = std::move(*cvs);
  return std::make_shared<const ChunkLayout>(std::move(tree));
}

void LocalBlobService::KeepTree(const B3Digest& digest, uint64_t size,
                                std::span<const blake3_tree::Cv> cvs) const {
  if (size >= options_.persist_tree_min && cvs.size() >= 2) SaveTree(digest, size, cvs);
}

void LocalBlobService::SaveTree(const B3Digest& digest, uint64_t size,
                                std::span<const blake3_tree::Cv> cvs) const {
  const std::string target = OutboardPath(digest);
  const std::string outboard = blake3_tree::EncodeOutboard(size, cvs);
  absl::StatusOr<TempFile> file = CreateTempFile(TempDir(), TempFileOptions{.prefix = "outboard"});
  absl::Status status = file.status();
  if (status.ok()) {
    const std::string& temp = file->path;
    status = WriteAll(file->fd.get(), outboard, absl::StrCat("write ", temp));
    if (::close(file->fd.Release()) != 0 && status.ok()) {
      status = ErrnoStatus(errno, absl::StrCat("close ", temp));
    }
    // Not synced: a tree lost or cut short in a crash fails its check when
    // loaded and is computed again.
    if (status.ok() &&
        IntoShard(target, [&] { return ::rename(temp.c_str(), target.c_str()); }) != 0) {
      status = ErrnoStatus(errno, absl::StrCat("rename ", temp, " to ", target));
    }
    if (!status.ok()) ::unlink(temp.c_str());
  }
  if (!status.ok()) {
    spdlog::warn("keeping the tree of blob {}: {}", digest.ToB3(), ToStdView(status.message()));
  }
}

absl::StatusOr<std::optional<std::vector<ChunkMeta>>> LocalBlobService::Chunks(
    const B3Digest& digest) {
  ASSIGN_OR_RETURN(bool has, Has(digest));
  if (!has) return std::nullopt;
  return std::vector<ChunkMeta>{};
}

absl::Status LocalBlobService::Sync() { return sync_.Sync(); }

absl::Status LocalBlobService::ForEach(
    const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) {
  std::string b3 = dir_ + "/b3";
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
        status = ErrnoStatus(errno, absl::StrCat("stat ", dir, "/", ToAbslView(name)));
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
  for (const std::string& path : {BlobPath(digest), OutboardPath(digest)}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("unlink ", path));
    }
  }
  return absl::OkStatus();
}

}  // namespace castor::castore
