#include "fs/fuse/wire.h"

#include <cerrno>

namespace castor::fs::fuse {

std::optional<RequestReader> RequestReader::Parse(std::span<const uint8_t> request) {
  fuse_in_header h;
  if (request.size() < sizeof(h)) return std::nullopt;
  std::memcpy(&h, request.data(), sizeof(h));
  if (h.len < sizeof(h) || h.len > request.size()) return std::nullopt;
  size_t ext = size_t{h.total_extlen} * 8;
  size_t body = h.len - sizeof(h);
  if (ext > body) return std::nullopt;
  return RequestReader(h, request.subspan(sizeof(h), body - ext));
}

bool RequestReader::ReadCString(std::string_view* out) {
  std::span<const uint8_t> rest = Rest();
  const void* nul = std::memchr(rest.data(), 0, rest.size());
  if (nul == nullptr) return false;
  size_t n = static_cast<const uint8_t*>(nul) - rest.data();
  *out = std::string_view(reinterpret_cast<const char*>(rest.data()), n);
  pos_ += n + 1;
  return true;
}

size_t ReplyWriter::Header(int32_t error, size_t payload_size) {
  if (buffer_.size() < sizeof(fuse_out_header)) return 0;
  fuse_out_header h;
  h.len = static_cast<uint32_t>(sizeof(h) + payload_size);
  h.error = error;
  h.unique = unique_;
  std::memcpy(buffer_.data(), &h, sizeof(h));
  return h.len;
}

size_t ReplyWriter::Error(int errnum) { return Header(-errnum, 0); }

size_t ReplyWriter::Ok(size_t payload_size) {
  if (payload_size > Payload().size()) payload_size = Payload().size();
  return Header(0, payload_size);
}

size_t ReplyWriter::Bytes(std::string_view bytes) {
  if (Payload().size() < bytes.size()) return Error(ERANGE);
  if (!bytes.empty()) std::memcpy(Payload().data(), bytes.data(), bytes.size());
  return Ok(bytes.size());
}

bool DirentWriter::Add(std::string_view name, uint64_t ino, uint32_t type, uint64_t next_offset) {
  size_t rec = RecordSize(name.size(), false);
  if (used_ + rec > out_.size()) return false;
  uint8_t* p = out_.data() + used_;
  std::memset(p, 0, rec);
  fuse_dirent d;
  d.ino = ino;
  d.off = next_offset;
  d.namelen = static_cast<uint32_t>(name.size());
  d.type = type;
  std::memcpy(p, &d, sizeof(d));
  std::memcpy(p + sizeof(d), name.data(), name.size());
  used_ += rec;
  return true;
}

bool DirentWriter::AddPlus(std::string_view name, const fuse_entry_out& entry, uint32_t type,
                           uint64_t next_offset) {
  size_t rec = RecordSize(name.size(), true);
  if (used_ + rec > out_.size()) return false;
  uint8_t* p = out_.data() + used_;
  std::memset(p, 0, rec);
  std::memcpy(p, &entry, sizeof(entry));
  fuse_dirent d;
  d.ino = entry.attr.ino;
  d.off = next_offset;
  d.namelen = static_cast<uint32_t>(name.size());
  d.type = type;
  std::memcpy(p + sizeof(entry), &d, sizeof(d));
  std::memcpy(p + sizeof(fuse_direntplus), name.data(), name.size());
  used_ += rec;
  return true;
}

}  // namespace castor::fs::fuse
