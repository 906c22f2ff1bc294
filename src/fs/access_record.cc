#include "fs/access_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/posix_io.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "spdlog/spdlog.h"

namespace castor::fs {
namespace {

bool Escaped(unsigned char c) { return c <= 0x20 || c == 0x7f || c == '\\'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Undoes EscapeAccessPath; the error says what is wrong (no line).
absl::StatusOr<std::string> Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      int hi = i + 3 < s.size() && s[i + 1] == 'x' ? HexValue(s[i + 2]) : -1;
      int lo = hi >= 0 ? HexValue(s[i + 3]) : -1;
      if (lo < 0) {
        return absl::InvalidArgumentError(
            "bad escape in the path (expected \\x and two hex digits)");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 3;
    } else if (Escaped(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unescaped byte 0x", absl::Hex(c, absl::kZeroPad2), " in the path"));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("empty path");
  for (absl::string_view component : absl::StrSplit(ToAbslView(out), '/')) {
    if (component.empty()) return absl::InvalidArgumentError("empty path component");
  }
  return out;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(ToAbslView(s), out);
}

}  // namespace

std::string EscapeAccessPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (Escaped(c)) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

bool AccessRecord::AddDirectory(std::string_view path) {
  if (directories_.contains(ToAbslView(path))) return true;
  if (live_ >= max_entries_) return false;
  directories_.emplace(path);
  entries_.emplace_back(
      AccessEntry{.kind = AccessEntry::Kind::kDirectory, .path = std::string(path)});
  ++live_;
  return true;
}

bool AccessRecord::AddRange(std::string_view path, uint64_t offset, uint64_t length) {
  if (length == 0) return true;
  uint64_t end = length > std::numeric_limits<uint64_t>::max() - offset
                     ? std::numeric_limits<uint64_t>::max()
                     : offset + length;
  auto it = ranges_.find(ToAbslView(path));
  if (it != ranges_.end()) {
    std::vector<size_t>& indices = it->second;
    // Every recorded range this one overlaps or adjoins joins the earliest
    // of them; the others' lines go.
    std::optional<size_t> keep;
    uint64_t start = offset;
    for (size_t index : indices) {
      const AccessEntry& e = *entries_[index];
      if (e.offset <= end && offset <= e.offset + e.length) {
        start = std::min(start, e.offset);
        end = std::max(end, e.offset + e.length);
        if (!keep || index < *keep) keep = index;
      }
    }
    if (keep) {
      std::erase_if(indices, [&](size_t index) {
        const AccessEntry& e = *entries_[index];
        if (index == *keep || e.offset > end || e.offset + e.length < start) return false;
        entries_[index].reset();
        --live_;
        return true;
      });
      AccessEntry& kept = *entries_[*keep];
      kept.offset = start;
      kept.length = end - start;
      return true;
    }
  }
  if (live_ >= max_entries_) return false;
  entries_.emplace_back(AccessEntry{.kind = AccessEntry::Kind::kFile,
                                    .path = std::string(path),
                                    .offset = offset,
                                    .length = end - offset});
  ++live_;
  ranges_[std::string(path)].push_back(entries_.size() - 1);
  return true;
}

std::vector<AccessEntry> AccessRecord::Entries() const {
  std::vector<AccessEntry> out;
  out.reserve(live_);
  for (const auto& e : entries_) {
    if (e) out.push_back(*e);
  }
  return out;
}

std::string AccessRecord::Serialize() const {
  std::string out = absl::StrCat(kAccessRecordMagic, " ", kAccessRecordVersion, "\n");
  for (const auto& e : entries_) {
    if (!e) continue;
    if (e->kind == AccessEntry::Kind::kDirectory) {
      absl::StrAppend(&out, "d ", EscapeAccessPath(e->path), "\n");
    } else {
      absl::StrAppend(&out, "f ", EscapeAccessPath(e->path), " ", e->offset, " ", e->length, "\n");
    }
  }
  return out;
}

absl::StatusOr<std::vector<AccessEntry>> AccessRecord::Parse(std::string_view text,
                                                             std::string_view source,
                                                             size_t max_entries) {
  auto error = [&](size_t line, std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("access record ", ToAbslView(source), " line ", line, ": ", ToAbslView(what)));
  };
  if (text.empty()) return error(1, "empty file (expected \"castor-access-record 1\")");
  if (text.back() != '\n') {
    size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    return error(lines, "the last line is incomplete (no newline at its end)");
  }
  text.remove_suffix(1);
  std::vector<AccessEntry> out;
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(ToAbslView(text), '\n')) {
    ++number;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (number == 1) {
      if (fields.size() != 2 || fields[0] != kAccessRecordMagic) {
        return error(1, "not a castor access record (expected \"castor-access-record 1\")");
      }
      if (fields[1] != std::to_string(kAccessRecordVersion)) {
        return error(1, absl::StrCat("unsupported version \"", fields[1], "\" (this castor reads ",
                                     kAccessRecordVersion, ")"));
      }
      continue;
    }
    if (out.size() >= max_entries) {
      return error(number, absl::StrCat("more than ", max_entries, " entries"));
    }
    AccessEntry entry;
    if (fields[0] == "d") {
      if (fields.size() != 2) return error(number, "expected \"d PATH\"");
      entry.kind = AccessEntry::Kind::kDirectory;
    } else if (fields[0] == "f") {
      if (fields.size() != 4) return error(number, "expected \"f PATH OFFSET LENGTH\"");
      entry.kind = AccessEntry::Kind::kFile;
      if (!ParseDecimal(ToStdView(fields[2]), &entry.offset)) {
        return error(number, absl::StrCat("bad offset \"", fields[2], "\""));
      }
      if (!ParseDecimal(ToStdView(fields[3]), &entry.length) || entry.length == 0 ||
          entry.length > std::numeric_limits<uint64_t>::max() - entry.offset) {
        return error(number, absl::StrCat("bad length \"", fields[3], "\""));
      }
    } else {
      return error(number, absl::StrCat("unknown entry kind \"", fields[0].substr(0, 20),
                                        "\" (expected d or f)"));
    }
    absl::StatusOr<std::string> path = Unescape(ToStdView(fields[1]));
    if (!path.ok()) return error(number, ToStdView(path.status().message()));
    entry.path = *std::move(path);
    out.push_back(std::move(entry));
  }
  return out;
}

absl::StatusOr<std::vector<AccessEntry>> AccessRecord::ReadFile(const std::string& path,
                                                                size_t max_entries) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("opening access record ", path));
  std::string text;
  std::vector<uint8_t> buf(1 << 16);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), buf, absl::StrCat("reading ", path)));
    text.append(reinterpret_cast<const char*>(buf.data()), n);
    if (n < buf.size()) break;
  }
  return Parse(text, path, max_entries);
}

absl::StatusOr<std::unique_ptr<AccessRecorder>> AccessRecorder::Start(Options options) {
  if (options.path.empty()) return absl::InvalidArgumentError("access record: empty path");
  auto [dir, name] = SplitParent(options.path);
  struct stat st;
  if (name.empty() || ::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      ::access(dir.c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("access record ", options.path, ": ", dir, " is not a writable directory"));
  }
  std::unique_ptr<AccessRecorder> r(new AccessRecorder(std::move(options)));
  r->thread_ = std::thread([p = r.get()] { p->Run(); });
  return r;
}

AccessRecorder::AccessRecorder(Options options)
    : options_(std::move(options)), record_(options_.max_entries) {}

AccessRecorder::~AccessRecorder() {
  // No last write: a mount that failed to start must not replace the
  // previous record with an empty one (Stop writes).
  {
    castor::MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void AccessRecorder::Run() {
  while (true) {
    {
      castor::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitUntil([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stop_mu_) { return stop_; },
                              std::chrono::steady_clock::now() + options_.interval)) {
        return;
      }
    }
    bool dirty;
    {
      castor::MutexLock lock(&mu_);
      dirty = dirty_;
    }
    if (!dirty) continue;
    if (absl::Status s = Write(); !s.ok()) spdlog::warn("{}", ToStdView(s.message()));
  }
}

const std::string* AccessRecorder::PathOf(uint64_t ino) const {
  auto it = paths_.find(ino);
  return it == paths_.end() ? nullptr : &it->second;
}

void AccessRecorder::NoteFull() {
  if (warned_full_) return;
  warned_full_ = true;
  spdlog::warn("access record {}: {} entries, recording no more", options_.path,
               options_.max_entries);
}

void AccessRecorder::OnEntry(uint64_t parent, std::string_view name, uint64_t ino) {
  castor::MutexLock lock(&mu_);
  if (stopped_ || paths_.contains(ino)) return;  // the first path of an inode is its path
  std::string path;
  if (parent == 1) {
    path = name;
  } else {
    const std::string* parent_path = PathOf(parent);
    if (parent_path == nullptr) return;
    path = JoinPath(*parent_path, name);
  }
  if (paths_.size() >= options_.max_paths) {
    if (!warned_paths_) {
      warned_paths_ = true;
      spdlog::warn("access record {}: {} paths known, recording no accesses below new ones",
                   options_.path, options_.max_paths);
    }
    return;
  }
  paths_.emplace(ino, std::move(path));
}

void AccessRecorder::OnDirectory(uint64_t ino) {
  castor::MutexLock lock(&mu_);
  if (stopped_) return;
  const std::string* path = PathOf(ino);
  if (path == nullptr) return;
  size_t before = record_.size();
  if (!record_.AddDirectory(*path)) return NoteFull();
  if (record_.size() != before) dirty_ = true;
}

void AccessRecorder::OnRead(uint64_t ino, uint64_t offset, uint64_t length) {
  castor::MutexLock lock(&mu_);
  if (stopped_) return;
  const std::string* path = PathOf(ino);
  if (path == nullptr) return;
  if (!record_.AddRange(*path, offset, length)) return NoteFull();
  dirty_ = true;
}

absl::Status AccessRecorder::Write() {
  castor::MutexLock write_lock(&write_mu_);
  std::string text;
  {
    castor::MutexLock lock(&mu_);
    text = record_.Serialize();
    dirty_ = false;
  }
  auto [dir, name] = SplitParent(options_.path);
  ASSIGN_OR_RETURN(TempFile tmp,
                   CreateTempFile(dir, TempFileOptions{.prefix = ".castor-access-record"}));
  auto fail = [&](absl::Status s) {
    ::unlink(tmp.path.c_str());
    return s;
  };
  absl::Status s = WriteAll(tmp.fd.get(), text, absl::StrCat("writing access record ", tmp.path));
  if (!s.ok()) return fail(s);
  if (::fchmod(tmp.fd.get(), 0644) != 0 || ::fsync(tmp.fd.get()) != 0) {
    return fail(ErrnoStatus(errno, absl::StrCat("writing access record ", tmp.path)));
  }
  if (::rename(tmp.path.c_str(), options_.path.c_str()) != 0) {
    return fail(ErrnoStatus(errno, absl::StrCat("replacing access record ", options_.path)));
  }
  return absl::OkStatus();
}

absl::Status AccessRecorder::Stop() {
  {
    castor::MutexLock lock(&stop_mu_);
    if (stop_) return absl::OkStatus();
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::Status s = Write();
  castor::MutexLock lock(&mu_);
  stopped_ = true;
  return s;
}

size_t AccessRecorder::size() const {
  castor::MutexLock lock(&mu_);
  return record_.size();
}

}  // namespace castor::fs
