// Access records: which directories a workload listed or looked names up
// in, and which byte ranges of which files it read, in the order of first
// access, as paths below the mount's top directory ("root/dir/file").
//
// AccessRecord is the record and its file format (not thread-safe; one
// owner). AccessRecorder is the AccessObserver a mount records through
// (`castor mount --record-access FILE`); it is thread-safe and writes the
// record periodically and at Stop, atomically (a temporary file renamed
// over FILE), so a crash leaves the previous complete record.
//
// The format, version 1, is text, one entry a line:
//   castor-access-record 1
//   d PATH                      a directory listed or looked up in
//   f PATH OFFSET LENGTH        a byte range read (decimal)
// Bytes below 0x21, 0x7f and '\' in a PATH are written as \xHH (two lower
// case hex digits), so names with spaces or newlines round-trip; nothing
// else is escaped. A directory appears once; adjacent or overlapping ranges
// of one file are merged into the line of the first of them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "fs/access_observer.h"

namespace castor::fs {

inline constexpr char kAccessRecordMagic[] = "castor-access-record";
inline constexpr int kAccessRecordVersion = 1;
inline constexpr size_t kDefaultMaxAccessEntries = 1'000'000;

struct AccessEntry {
  enum class Kind : uint8_t { kDirectory, kFile };
  Kind kind = Kind::kDirectory;
  std::string path;
  uint64_t offset = 0;  // kFile only
  uint64_t length = 0;  // kFile only

  bool operator==(const AccessEntry&) const = default;
};

// `path` with the bytes the format escapes written as \xHH.
std::string EscapeAccessPath(std::string_view path);

class AccessRecord {
 public:
  explicit AccessRecord(size_t max_entries = kDefaultMaxAccessEntries)
      : max_entries_(max_entries) {}

  // Adds directory `path` unless it is there already. False when the record
  // is full (the entry is dropped).
  bool AddDirectory(std::string_view path);
  // Adds bytes [offset, offset + length) of file `path`, merged with every
  // recorded range of it they overlap or adjoin (the merged range keeps the
  // place of the earliest). False when a new line was needed and the record
  // is full. A range reaching past 2^64 is cut there.
  bool AddRange(std::string_view path, uint64_t offset, uint64_t length);

  // The entries in order of first access.
  std::vector<AccessEntry> Entries() const;
  size_t size() const { return live_; }
  size_t max_entries() const { return max_entries_; }

  // The record in the file format above, ending in a newline.
  std::string Serialize() const;
  // Parses a record. InvalidArgument naming `source` and the line (1-based)
  // for anything that is not exactly the format: a wrong first line, an
  // unsupported version, an unknown kind, a bad escape, an empty path or
  // component, numbers that are not decimal or overflow, more than
  // `max_entries` entries.
  static absl::StatusOr<std::vector<AccessEntry>> Parse(
      std::string_view text, std::string_view source,
      size_t max_entries = kDefaultMaxAccessEntries);
  // Reads and parses the file at `path` (NotFound / Unavailable when it
  // cannot be read).
  static absl::StatusOr<std::vector<AccessEntry>> ReadFile(
      const std::string& path, size_t max_entries = kDefaultMaxAccessEntries);

 private:
  const size_t max_entries_;
  std::vector<std::optional<AccessEntry>> entries_;  // nullopt: merged away
  size_t live_ = 0;
  absl::flat_hash_set<std::string> directories_;
  // The indices in entries_ of each file's ranges.
  absl::flat_hash_map<std::string, std::vector<size_t>> ranges_;
};

class AccessRecorder : public AccessObserver {
 public:
  struct Options {
    std::string path;  // the record file
    size_t max_entries = kDefaultMaxAccessEntries;
    // Paths of inodes remembered (names looked up); past it, accesses to
    // inodes first seen later are not recorded.
    size_t max_paths = 2 * kDefaultMaxAccessEntries;
    // How often a changed record is written while recording.
    std::chrono::milliseconds interval = std::chrono::seconds(30);
  };

  // Starts recording (and the periodic writer). FailedPrecondition when the
  // record's directory is not a writable directory. Nothing is written
  // before the first interval passes, so FILE keeps its previous record
  // until then.
  static absl::StatusOr<std::unique_ptr<AccessRecorder>> Start(Options options);
  // Stops the periodic writer without a last write (that is Stop's).
  ~AccessRecorder() override;

  void OnEntry(uint64_t parent, std::string_view name, uint64_t ino) override;
  void OnDirectory(uint64_t ino) override;
  void OnRead(uint64_t ino, uint64_t offset, uint64_t length) override;

  // Writes the record now (atomically).
  absl::Status Write();
  // Stops the periodic writer and writes the record a last time. Later
  // accesses are not recorded. Idempotent.
  absl::Status Stop();

  // Entries recorded so far (tests).
  size_t size() const;

 private:
  explicit AccessRecorder(Options options);
  void Run();
  // The path of `ino`, or null when unknown.
  const std::string* PathOf(uint64_t ino) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteFull() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;

  mutable castor::Mutex mu_;
  AccessRecord record_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::string> paths_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool warned_full_ ABSL_GUARDED_BY(mu_) = false;
  bool warned_paths_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  // Serialises writes of the file (never held with mu_).
  castor::Mutex write_mu_;

  // The periodic writer waits on its own mutex, so the workers' Unlocks of
  // mu_ do not wake it.
  castor::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread thread_;
};

}  // namespace castor::fs
