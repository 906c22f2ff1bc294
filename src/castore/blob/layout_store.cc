#include "castore/blob/layout_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/posix_io.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "castore/blake3_tree.h"
#include "spdlog/spdlog.h"

namespace castor::castore {
namespace {

// A record: the magic, the number of stored chunks (u64, little endian),
// each chunk's digest (32 bytes) and size (u64 LE), then the outboard of the
// blob's groups (blake3_tree::EncodeOutboard).
constexpr std::string_view kMagic = "castor-layout-1\n";
constexpr size_t kChunkRecord = B3Digest::kSize + 8;
// Bigger files are not read (a 1 TiB blob in 128 KiB chunks needs 320 MiB).
constexpr uint64_t kMaxRecord = 1ull << 30;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LayoutStore>> LayoutStore::Open(std::string dir) {
  RETURN_IF_ERROR(MkdirAll(dir, 0700));
  return std::unique_ptr<LayoutStore>(new LayoutStore(std::move(dir)));
}

std::string LayoutStore::PathOf(const B3Digest& digest) const {
  return JoinPath(dir_, digest.ToHex());
}

absl::StatusOr<std::shared_ptr<const ChunkLayout>> LayoutStore::Load(const B3Digest& digest) const {
  const std::string path = PathOf(digest);
  UniqueFd fd(RetryOnEintr(
      [&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); }));
  if (!fd) {
    if (errno == ENOENT) return nullptr;
    return ErrnoStatus(errno, absl::StrCat("opening kept layout ", path));
  }
  auto damaged = [&](std::string_view why) -> std::shared_ptr<const ChunkLayout> {
    spdlog::warn("kept layout {}: {}; removed, the remote is asked again", path, why);
    ::unlink(path.c_str());
    return nullptr;
  };
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat of ", path));
  if (!S_ISREG(st.st_mode)) return damaged("not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxRecord) return damaged("too big");
  std::string data(static_cast<size_t>(st.st_size), '\0');
  ASSIGN_OR_RETURN(
      size_t n,
      ReadFull(fd.get(), std::span<uint8_t>(reinterpret_cast<uint8_t*>(data.data()), data.size()),
               path));
  data.resize(n);
  std::string_view in = data;
  if (!in.starts_with(kMagic) || in.size() < kMagic.size() + 8) return damaged("not a layout");
  in.remove_prefix(kMagic.size());
  const uint64_t count = GetU64(in);
  in.remove_prefix(8);
  if (count > in.size() / kChunkRecord) return damaged("cut short");
  std::vector<ChunkMeta> chunks;
  chunks.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    auto d = B3Digest::FromBytes(in.substr(0, B3Digest::kSize));
    if (!d.ok()) return damaged("cut short");
    chunks.push_back({*d, GetU64(in.substr(B3Digest::kSize, 8))});
    in.remove_prefix(kChunkRecord);
  }
  auto layout = VerifyChunkLayout(digest, std::move(chunks), in);
  if (!layout.ok()) return damaged(ToStdView(layout.status().message()));
  if (!layout->has_value()) return damaged("describes no layout");
  return std::make_shared<const ChunkLayout>(std::move(**layout));
}

absl::Status LayoutStore::Save(const ChunkLayout& layout) const {
  if (layout.chunks.size() < 2 || layout.cvs.size() < 2) return absl::OkStatus();
  std::string out(kMagic);
  PutU64(out, layout.chunks.size());
  for (const ChunkMeta& c : layout.chunks) {
    out.append(c.digest.raw());
    PutU64(out, c.size);
  }
  out.append(blake3_tree::EncodeOutboard(layout.size, layout.cvs));
  ASSIGN_OR_RETURN(TempFile tmp,
                   CreateTempFile(dir_, TempFileOptions{.unnamed = true, .linkable = true}));
  RETURN_IF_ERROR(WriteAll(tmp.fd.get(), out, absl::StrCat("writing a layout in ", dir_)));
  const std::string path = PathOf(layout.digest);
  if (tmp.path.empty()) {
    // O_TMPFILE: give it its name (a layout kept already stays).
    std::string proc = absl::StrCat("/proc/self/fd/", tmp.fd.get());
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0 &&
        errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("keeping layout ", path));
    }
    return absl::OkStatus();
  }
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.path.c_str());
    return ErrnoStatus(err, absl::StrCat("keeping layout ", path));
  }
  return absl::OkStatus();
}

}  // namespace castor::castore
