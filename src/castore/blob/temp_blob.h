// TempBlobDir and TempBlob: how the local blob store writes a blob so that a
// partial one is never visible. A TempBlob is a temp file in the store's temp
// directory (same filesystem as the blobs): an unnamed O_TMPFILE file, linked
// into place (linkat) on Commit, or, where the filesystem lacks O_TMPFILE, a
// named one renamed into place. Blobs whose size is announced as large are
// written with O_DIRECT where the filesystem takes it (the last partial block
// through the page cache); smaller ones through the page cache, with writeback
// started at Commit. Nothing is fsynced (the store's Sync is). Commit never
// replaces a stored file of the right size (a dedup hit), and replaces one of
// the wrong size (short after a power loss) atomically.
//
// TempBlobDir is thread-safe; a TempBlob belongs to one thread at a time and
// keeps its TempBlobDir alive.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace castor::castore {

struct TempBlobOptions {
  // Unnamed (O_TMPFILE) temp files where the filesystem has them; false:
  // always named ones.
  bool unnamed = true;
  // Name unnamed temp files with linkat(AT_EMPTY_PATH) where that is allowed
  // (CAP_DAC_READ_SEARCH); false: always through /proc/self/fd.
  bool link_empty_path = true;
  // Blobs announced with at least this many bytes are written with O_DIRECT
  // where the filesystem supports it; 0: never.
  uint64_t direct_io_min = 256 << 10;
  // Start writeback of a page-cache-written blob at Commit (sync_file_range,
  // asynchronous), so the store's final sync has less left to do.
  bool early_writeback = true;
};

class TempBlob;

class TempBlobDir : public std::enable_shared_from_this<TempBlobDir> {
 public:
  // Opens the existing directory `path` and probes whether unnamed temp
  // files can be made and linked there. Errors name the path.
  static absl::StatusOr<std::shared_ptr<TempBlobDir>> Open(std::string path,
                                                           const TempBlobOptions& options);
  ~TempBlobDir();
  TempBlobDir(const TempBlobDir&) = delete;
  TempBlobDir& operator=(const TempBlobDir&) = delete;

  // A new temp file for a blob of `size_hint` bytes (0: unknown), which
  // decides whether it is written with O_DIRECT.
  absl::StatusOr<std::unique_ptr<TempBlob>> Create(uint64_t size_hint);

  // Removes the regular files last modified more than `age` ago (from a
  // writer that crashed); younger ones may belong to a live writer in
  // another process.
  void RemoveStale(std::chrono::seconds age);

  const std::string& path() const { return path_; }
  const TempBlobOptions& options() const { return options_; }
  // Whether temp files are unnamed O_TMPFILE ones (probed at Open).
  bool uses_tmpfile() const { return tmpfile_; }
  // Whether unnamed temp files are linked with AT_EMPTY_PATH (else via /proc).
  bool links_with_empty_path() const { return tmpfile_ && link_empty_path_; }

 private:
  friend class TempBlob;

  TempBlobDir(std::string path, int fd, const TempBlobOptions& options)
      : path_(std::move(path)), fd_(fd), options_(options) {}
  bool ProbeTmpfile();
  // Creates a temp file: unnamed when supported (then *path is left empty),
  // with O_DIRECT when `*direct` and supported (*direct is set to what was
  // used).
  absl::StatusOr<int> CreateFile(std::string* path, bool* direct);
  int LinkUnnamed(int fd, int dir_fd, const char* target) const;
  // Puts the named temp file at `target`, or drops it when a file of `size`
  // bytes is there already. True when it was put in place.
  absl::StatusOr<bool> CommitNamed(const std::string& temp_path, const std::string& target,
                                   uint64_t size);
  // The same for the unnamed file open as `fd` (which the caller closes).
  absl::StatusOr<bool> CommitUnnamed(int fd, const std::string& target, uint64_t size);
  // A wrong-size file at `target` is replaced by the unnamed file `fd`.
  absl::Status ReplaceWithUnnamed(int fd, const std::string& target);

  const std::string path_;
  const int fd_;  // path_, for O_TMPFILE
  const TempBlobOptions options_;
  bool tmpfile_ = false;               // set once by Open
  bool link_empty_path_ = false;       // set once by ProbeTmpfile
  std::atomic<bool> direct_ok_{true};  // cleared when O_DIRECT is refused
  std::atomic<uint64_t> name_counter_{0};
};

// The bytes of one blob being written to a temp file. Small pieces are
// gathered in an aligned buffer (fewer syscalls; O_DIRECT needs alignment);
// big aligned pieces are written as they come (no copy). Commit puts the file
// in place; destroying it uncommitted discards it.
class TempBlob {
 public:
  ~TempBlob() { Discard(); }
  TempBlob(const TempBlob&) = delete;
  TempBlob& operator=(const TempBlob&) = delete;

  // Bytes written so far.
  uint64_t size() const { return size_; }

  // A failed write leaves the temp file in an unknown state: the blob is
  // discarded, and every later call is FailedPrecondition.
  absl::Status Write(std::span<const uint8_t> data);

  // Writes what is buffered and puts the file at `target` (creating the
  // directory it is in when missing): true when it was put there, false when
  // a file of the same size was there already (dedup; this one is dropped).
  // Either way the TempBlob is done: a second call is FailedPrecondition.
  absl::StatusOr<bool> Commit(const std::string& target);

 private:
  friend class TempBlobDir;
  struct FreeDeleter {
    void operator()(uint8_t* p) const;
  };

  TempBlob(std::shared_ptr<TempBlobDir> dir, int fd, std::string path, bool direct,
           uint64_t size_hint);
  std::string Name() const;
  // Leaves O_DIRECT: for the last partial block, or when the filesystem
  // refuses a direct write.
  absl::Status Buffered();
  absl::Status WriteOut(const uint8_t* data, size_t len);
  absl::Status Fail(absl::Status s);
  void Discard();

  std::shared_ptr<TempBlobDir> dir_;
  int fd_;
  std::string path_;  // empty for an unnamed (O_TMPFILE) file
  bool direct_;
  const uint64_t size_hint_;  // 0: unknown
  const size_t capacity_;     // of buffer_
  std::unique_ptr<uint8_t, FreeDeleter> buffer_;
  size_t used_ = 0;
  uint64_t size_ = 0;
};

// Runs `op` (a link or rename to `target`, returning 0 or -1 with errno);
// when it fails with ENOENT, creates the directory `target` is in (one
// level: a store's shard) and runs it again. Its last result, errno intact.
template <typename Op>
int IntoShard(const std::string& target, Op op) {
  int rc = op();
  if (rc != 0 && errno == ENOENT) {
    std::string shard = target.substr(0, target.rfind('/'));
    if (::mkdir(shard.c_str(), 0755) != 0 && errno != EEXIST) return -1;
    rc = op();
  }
  return rc;
}

}  // namespace castor::castore
