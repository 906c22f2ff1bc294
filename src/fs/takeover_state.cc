#include "fs/takeover_state.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::fs {
namespace {

constexpr char kMagic[8] = {'C', 'A', 'S', 'T', 'O', 'R', 'T', 'K'};
constexpr size_t kDigestSize = castore::B3Digest::kSize;
// Smallest encodings, to bound counts by the bytes left.
constexpr size_t kMinInodeBytes = 8 + 8 + 1 + kDigestSize + 8 + 1 + 4;
constexpr size_t kMinFileBytes = 8 + 8 + kDigestSize + 8;
constexpr size_t kMinDirBytes = 8 + 8 + 1 + kDigestSize + 8 + 1;
constexpr size_t kMinEntryBytes = 4 + 1 + 1 + kDigestSize + 8 + 1 + 4;
// Beyond any FUSE agreement: max_pages is at most 256, max_write a few MiB.
constexpr uint32_t kMaxPages = 256;
constexpr uint32_t kMaxWrite = 16 << 20;

enum NodeTag : uint8_t { kTagDirectory = 0, kTagFile = 1, kTagSymlink = 2 };

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void Bytes(std::string_view s) { out_.append(s); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void Digest(const castore::B3Digest& d) { out_.append(d.raw()); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  size_t left() const { return in_.size(); }

  absl::Status Need(size_t n, std::string_view what) const {
    if (in_.size() < n) {
      return absl::InvalidArgumentError(absl::StrCat("takeover state truncated in ",
                                                     ToAbslView(what), " (", in_.size(),
                                                     " bytes left, ", n, " needed)"));
    }
    return absl::OkStatus();
  }
  // The next sizeof(T) bytes as a little-endian unsigned integer.
  template <typename T>
  absl::StatusOr<T> Little(std::string_view what) {
    RETURN_IF_ERROR(Need(sizeof(T), what));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v |= static_cast<T>(T{static_cast<uint8_t>(in_[i])} << (8 * i));
    in_.remove_prefix(sizeof(T));
    return v;
  }
  absl::StatusOr<uint8_t> U8(std::string_view what) { return Little<uint8_t>(what); }
  absl::StatusOr<uint32_t> U32(std::string_view what) { return Little<uint32_t>(what); }
  absl::StatusOr<uint64_t> U64(std::string_view what) { return Little<uint64_t>(what); }
  absl::StatusOr<bool> Bool(std::string_view what) {
    ASSIGN_OR_RETURN(uint8_t v, U8(what));
    if (v > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("takeover state: ", ToAbslView(what), " is ", v, ", not 0 or 1"));
    }
    return v == 1;
  }
  absl::StatusOr<std::string_view> Str(size_t max, std::string_view what) {
    ASSIGN_OR_RETURN(uint32_t n, U32(what));
    if (n > max) {
      return absl::InvalidArgumentError(absl::StrCat("takeover state: ", ToAbslView(what), " of ",
                                                     n, " bytes (at most ", max, ")"));
    }
    RETURN_IF_ERROR(Need(n, what));
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  absl::StatusOr<castore::B3Digest> Digest(std::string_view what) {
    RETURN_IF_ERROR(Need(kDigestSize, what));
    auto d = castore::B3Digest::FromBytes(in_.substr(0, kDigestSize));
    in_.remove_prefix(kDigestSize);
    if (!d.ok()) return Annotate(d.status(), absl::StrCat("takeover state: ", ToAbslView(what)));
    return *d;
  }
  // A count of records of at least `min_bytes` each, checked against the
  // bytes left (so nothing is reserved that the input cannot fill).
  absl::StatusOr<uint64_t> Count(size_t min_bytes, std::string_view what) {
    ASSIGN_OR_RETURN(uint64_t n, U64(what));
    if (n > left() / min_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("takeover state: ", n, " ", ToAbslView(what),
                                                     " cannot fit in the ", left(), " bytes left"));
    }
    return n;
  }

 private:
  std::string_view in_;
};

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("takeover state: ", ToAbslView(message)));
}

void WriteNode(Writer& w, const castore::Node& node) {
  if (const auto* d = std::get_if<castore::DirectoryNode>(&node)) {
    w.U8(kTagDirectory);
    w.Digest(d->digest);
    w.U64(d->size);
    w.U8(0);
    w.Str("");
  } else if (const auto* f = std::get_if<castore::FileNode>(&node)) {
    w.U8(kTagFile);
    w.Digest(f->digest);
    w.U64(f->size);
    w.U8(f->executable ? 1 : 0);
    w.Str("");
  } else {
    const std::string& target = std::get<castore::SymlinkNode>(node).target.str();
    w.U8(kTagSymlink);
    w.Digest(castore::B3Digest::Of(std::string_view(target)));
    w.U64(target.size());
    w.U8(0);
    w.Str(target);
  }
}

absl::StatusOr<castore::Node> ReadNode(Reader& r) {
  ASSIGN_OR_RETURN(uint8_t tag, r.U8("node kind"));
  ASSIGN_OR_RETURN(castore::B3Digest digest, r.Digest("node digest"));
  ASSIGN_OR_RETURN(uint64_t size, r.U64("node size"));
  ASSIGN_OR_RETURN(bool executable, r.Bool("node executable bit"));
  ASSIGN_OR_RETURN(std::string_view target,
                   r.Str(castore::SymlinkTarget::kMaxLength, "symlink target"));
  switch (tag) {
    case kTagDirectory:
    case kTagFile:
      if (!target.empty()) return Invalid("a directory or file node with a symlink target");
      if (tag == kTagDirectory) {
        if (executable) return Invalid("an executable directory node");
        return castore::DirectoryNode{digest, size};
      }
      return castore::FileNode{digest, size, executable};
    case kTagSymlink: {
      auto t = castore::SymlinkTarget::Create(target);
      if (!t.ok()) return Annotate(t.status(), "takeover state: symlink node");
      if (digest != castore::B3Digest::Of(target) || size != target.size() || executable) {
        return Invalid("a symlink node whose digest or size does not match its target");
      }
      return castore::SymlinkNode{std::move(*t)};
    }
    default:
      return Invalid(absl::StrCat("unknown node kind ", tag));
  }
}

uint8_t KindTag(InodeKind kind) {
  switch (kind) {
    case InodeKind::kDirectory:
      return kTagDirectory;
    case InodeKind::kFile:
      return kTagFile;
    default:
      return kTagSymlink;
  }
}

}  // namespace

std::string SerializeTakeoverState(const TakeoverState& s) {
  Writer w;
  w.Bytes(std::string_view(kMagic, sizeof(kMagic)));
  w.U32(kTakeoverStateVersion);
  w.U32(s.fuse_minor);
  w.U64(s.fuse_flags);
  w.U32(s.max_write);
  w.U32(s.max_pages);
  w.Str(s.mountpoint);
  w.U64(s.next_ino);
  w.U64(s.next_fh);
  w.U64(s.inodes.size());
  for (const SavedInode& i : s.inodes) {
    w.U64(i.ino);
    w.U64(i.inode.nlookup);
    w.U8(KindTag(i.inode.kind));
    w.Digest(i.inode.digest);
    w.U64(i.inode.size);
    w.U8(i.inode.executable ? 1 : 0);
    w.Str(i.symlink_target);
  }
  w.U64(s.files.size());
  for (const TakeoverFileHandle& f : s.files) {
    w.U64(f.fh);
    w.U64(f.ino);
    w.Digest(f.digest);
    w.U64(f.size);
  }
  w.U64(s.dirs.size());
  for (const TakeoverDirHandle& d : s.dirs) {
    w.U64(d.fh);
    w.U64(d.ino);
    w.U8(d.is_top ? 1 : 0);
    w.Digest(d.digest);
    w.U64(d.size);
    w.U8(d.roots ? 1 : 0);
    if (d.roots) {
      w.U64(d.roots->size());
      for (const castore::Entry& e : *d.roots) {
        w.Str(e.name.str());
        WriteNode(w, e.node);
      }
    }
  }
  return w.Take();
}

absl::StatusOr<TakeoverState> ParseTakeoverState(std::string_view bytes) {
  if (bytes.size() > kMaxTakeoverStateBytes) {
    return Invalid(absl::StrCat(bytes.size(), " bytes, at most ", kMaxTakeoverStateBytes));
  }
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Invalid("does not start with the castor takeover magic");
  }
  Reader r(bytes.substr(sizeof(kMagic)));
  ASSIGN_OR_RETURN(uint32_t version, r.U32("version"));
  if (version != kTakeoverStateVersion) {
    return Invalid(
        absl::StrCat("version ", version, ", this castor reads version ", kTakeoverStateVersion));
  }
  TakeoverState s;
  ASSIGN_OR_RETURN(s.fuse_minor, r.U32("FUSE minor"));
  ASSIGN_OR_RETURN(s.fuse_flags, r.U64("FUSE flags"));
  ASSIGN_OR_RETURN(s.max_write, r.U32("max_write"));
  ASSIGN_OR_RETURN(s.max_pages, r.U32("max_pages"));
  if (s.max_write < 4096 || s.max_write > kMaxWrite) {
    return Invalid(absl::StrCat("max_write ", s.max_write, " outside [4096, ", kMaxWrite, "]"));
  }
  if (s.max_pages < 1 || s.max_pages > kMaxPages) {
    return Invalid(absl::StrCat("max_pages ", s.max_pages, " outside [1, ", kMaxPages, "]"));
  }
  ASSIGN_OR_RETURN(std::string_view mp, r.Str(4096, "mount point"));
  s.mountpoint = std::string(mp);
  ASSIGN_OR_RETURN(s.next_ino, r.U64("next inode number"));
  ASSIGN_OR_RETURN(s.next_fh, r.U64("next handle number"));
  if (s.next_ino <= InodeTable::kTopIno || s.next_ino >= InodeTable::kSyntheticInoBit) {
    return Invalid(absl::StrCat("next inode number ", s.next_ino, " out of range"));
  }
  if (s.next_fh == 0) return Invalid("next handle number 0");

  // Inodes.
  ASSIGN_OR_RETURN(uint64_t n_inodes, r.Count(kMinInodeBytes, "inodes"));
  s.inodes.reserve(n_inodes);
  absl::flat_hash_map<uint64_t, size_t> by_ino;
  // The dedup identities (kind tag + executable + digest) must be unique,
  // as the table keeps one inode per identity.
  absl::flat_hash_set<std::string> identities;
  for (uint64_t k = 0; k < n_inodes; ++k) {
    SavedInode i;
    ASSIGN_OR_RETURN(i.ino, r.U64("inode number"));
    ASSIGN_OR_RETURN(i.inode.nlookup, r.U64("lookup count"));
    ASSIGN_OR_RETURN(uint8_t tag, r.U8("inode kind"));
    ASSIGN_OR_RETURN(i.inode.digest, r.Digest("inode digest"));
    ASSIGN_OR_RETURN(i.inode.size, r.U64("inode size"));
    ASSIGN_OR_RETURN(i.inode.executable, r.Bool("inode executable bit"));
    ASSIGN_OR_RETURN(std::string_view target,
                     r.Str(castore::SymlinkTarget::kMaxLength, "symlink target"));
    if (i.ino <= InodeTable::kTopIno || i.ino >= s.next_ino) {
      return Invalid(absl::StrCat("inode number ", i.ino, " outside [2, ", s.next_ino, ")"));
    }
    if (i.inode.nlookup == 0)
      return Invalid(absl::StrCat("inode ", i.ino, " has no lookup reference"));
    switch (tag) {
      case kTagDirectory:
        i.inode.kind = InodeKind::kDirectory;
        break;
      case kTagFile:
        i.inode.kind = InodeKind::kFile;
        break;
      case kTagSymlink:
        i.inode.kind = InodeKind::kSymlink;
        break;
      default:
        return Invalid(absl::StrCat("inode ", i.ino, " has unknown kind ", tag));
    }
    if (i.inode.kind == InodeKind::kSymlink) {
      auto t = castore::SymlinkTarget::Create(target);
      if (!t.ok()) return Annotate(t.status(), absl::StrCat("takeover state: inode ", i.ino));
      if (i.inode.digest != castore::B3Digest::Of(target) || i.inode.size != target.size()) {
        return Invalid(absl::StrCat("symlink inode ", i.ino,
                                    " has a digest or size that does not match its target"));
      }
      i.symlink_target = std::string(target);
    } else if (!target.empty()) {
      return Invalid(absl::StrCat("inode ", i.ino, " is not a symlink but has a target"));
    }
    if (i.inode.executable && i.inode.kind != InodeKind::kFile) {
      return Invalid(absl::StrCat("inode ", i.ino, " is executable but not a file"));
    }
    if (!by_ino.emplace(i.ino, s.inodes.size()).second) {
      return Invalid(absl::StrCat("inode ", i.ino, " appears twice"));
    }
    std::string identity =
        absl::StrCat(int{tag}, i.inode.executable ? "x" : "-", ToAbslView(i.inode.digest.raw()));
    if (!identities.insert(std::move(identity)).second) {
      return Invalid(absl::StrCat("inode ", i.ino, " names the same node as another inode"));
    }
    s.inodes.push_back(std::move(i));
  }

  absl::flat_hash_set<uint64_t> fhs;
  auto check_fh = [&](uint64_t fh) -> absl::Status {
    if (fh == 0 || fh >= s.next_fh) {
      return Invalid(absl::StrCat("handle number ", fh, " outside [1, ", s.next_fh, ")"));
    }
    if (!fhs.insert(fh).second) return Invalid(absl::StrCat("handle ", fh, " appears twice"));
    return absl::OkStatus();
  };

  // Open files: each names a file inode the kernel still holds (it keeps a
  // reference for every open file), with that inode's digest and size.
  ASSIGN_OR_RETURN(uint64_t n_files, r.Count(kMinFileBytes, "file handles"));
  s.files.reserve(n_files);
  for (uint64_t k = 0; k < n_files; ++k) {
    TakeoverFileHandle f;
    ASSIGN_OR_RETURN(f.fh, r.U64("file handle number"));
    ASSIGN_OR_RETURN(f.ino, r.U64("file handle inode"));
    ASSIGN_OR_RETURN(f.digest, r.Digest("file handle digest"));
    ASSIGN_OR_RETURN(f.size, r.U64("file handle size"));
    RETURN_IF_ERROR(check_fh(f.fh));
    auto it = by_ino.find(f.ino);
    if (it == by_ino.end() || s.inodes[it->second].inode.kind != InodeKind::kFile ||
        s.inodes[it->second].inode.digest != f.digest ||
        s.inodes[it->second].inode.size != f.size) {
      return Invalid(absl::StrCat("file handle ", f.fh, " does not name file inode ", f.ino,
                                  " with its digest and size"));
    }
    s.files.push_back(f);
  }

  // Open directories.
  ASSIGN_OR_RETURN(uint64_t n_dirs, r.Count(kMinDirBytes, "directory handles"));
  s.dirs.reserve(n_dirs);
  for (uint64_t k = 0; k < n_dirs; ++k) {
    TakeoverDirHandle d;
    ASSIGN_OR_RETURN(d.fh, r.U64("directory handle number"));
    ASSIGN_OR_RETURN(d.ino, r.U64("directory handle inode"));
    ASSIGN_OR_RETURN(d.is_top, r.Bool("directory handle top flag"));
    ASSIGN_OR_RETURN(d.digest, r.Digest("directory handle digest"));
    ASSIGN_OR_RETURN(d.size, r.U64("directory handle size"));
    ASSIGN_OR_RETURN(bool has_roots, r.Bool("directory handle roots flag"));
    RETURN_IF_ERROR(check_fh(d.fh));
    if (d.is_top != (d.ino == InodeTable::kTopIno)) {
      return Invalid(
          absl::StrCat("directory handle ", d.fh, " top flag does not match inode ", d.ino));
    }
    if (has_roots && !d.is_top) {
      return Invalid(absl::StrCat("directory handle ", d.fh, " lists roots but is not the top"));
    }
    if (!d.is_top) {
      // The inode may have been forgotten while the directory stays open
      // (the handle then lists by digest), so it need not be in the table;
      // if it is, it must be that directory.
      auto it = by_ino.find(d.ino);
      if (d.ino <= InodeTable::kTopIno || d.ino >= s.next_ino ||
          (it != by_ino.end() && (s.inodes[it->second].inode.kind != InodeKind::kDirectory ||
                                  s.inodes[it->second].inode.digest != d.digest ||
                                  s.inodes[it->second].inode.size != d.size))) {
        return Invalid(absl::StrCat("directory handle ", d.fh, " does not match inode ", d.ino));
      }
    }
    if (has_roots) {
      ASSIGN_OR_RETURN(uint64_t n_roots, r.Count(kMinEntryBytes, "root entries"));
      std::vector<castore::Entry> roots;
      roots.reserve(n_roots);
      for (uint64_t e = 0; e < n_roots; ++e) {
        ASSIGN_OR_RETURN(std::string_view name,
                         r.Str(castore::PathComponent::kMaxLength, "root name"));
        auto pc = castore::PathComponent::Create(name);
        if (!pc.ok()) return Annotate(pc.status(), "takeover state: root name");
        ASSIGN_OR_RETURN(castore::Node node, ReadNode(r));
        roots.push_back(castore::Entry{std::move(*pc), std::move(node)});
      }
      d.roots = std::move(roots);
    }
    s.dirs.push_back(std::move(d));
  }
  if (r.left() != 0) return Invalid(absl::StrCat(r.left(), " bytes after the end"));
  return s;
}

namespace {
constexpr char kCopyMagic[8] = {'C', 'A', 'S', 'T', 'O', 'R', 'S', 'F'};
constexpr uint64_t kCopyDataStart = 4096;

uint64_t Le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
}  // namespace

absl::Status WriteStateCopy(int fd, std::string_view bytes) {
  uint8_t header[24] = {};
  ssize_t got = pread(fd, header, sizeof(header), 0);
  if (got < 0) return ErrnoStatus(errno, "reading the session copy header");
  uint64_t cur_off = 0, cur_len = 0;
  if (got == sizeof(header) && std::memcmp(header, kCopyMagic, 8) == 0) {
    cur_off = Le64(header + 8);
    cur_len = Le64(header + 16);
  } else {
    if (pwrite(fd, kCopyMagic, 8, 0) != 8) return ErrnoStatus(errno, "writing the session copy");
  }
  // Before the current copy if it fits there, else after it.
  uint64_t off = kCopyDataStart;
  if (cur_off != 0 && kCopyDataStart + bytes.size() > cur_off) {
    off = (cur_off + cur_len + kCopyDataStart - 1) / kCopyDataStart * kCopyDataStart;
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus(errno, "writing the session copy");
    done += static_cast<size_t>(n);
  }
  uint8_t switch_to[16];
  for (int i = 0; i < 8; ++i) {
    switch_to[i] = static_cast<uint8_t>(off >> (8 * i));
    switch_to[8 + i] = static_cast<uint8_t>(uint64_t{bytes.size()} >> (8 * i));
  }
  if (pwrite(fd, switch_to, sizeof(switch_to), 8) != sizeof(switch_to)) {
    return ErrnoStatus(errno, "switching the session copy");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadStateCopy(int fd) {
  uint8_t header[24];
  ssize_t got = pread(fd, header, sizeof(header), 0);
  if (got < 0) return ErrnoStatus(errno, "reading the session copy");
  if (got != sizeof(header) || std::memcmp(header, kCopyMagic, 8) != 0) {
    return absl::InvalidArgumentError("the session copy holds no state");
  }
  uint64_t off = Le64(header + 8), len = Le64(header + 16);
  if (off < kCopyDataStart || len > kMaxTakeoverStateBytes) {
    return absl::InvalidArgumentError("the session copy has a damaged header");
  }
  std::string out(len, '\0');
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, out.data() + done, len - done, static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "reading the session copy");
    if (n == 0) return absl::InvalidArgumentError("the session copy is truncated");
    done += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace castor::fs
