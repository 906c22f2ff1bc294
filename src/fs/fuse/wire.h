// Decoding FUSE requests and encoding replies, with every length and offset
// checked. A request arrives as untrusted bytes (from the kernel over
// /dev/fuse, or from a guest over virtio-fs) and may be unaligned, so fixed
// structs are copied out rather than cast. Replies are written into a buffer
// the transport owns. Both classes are used by one thread at a time.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "fs/fuse/abi.h"

namespace castor::fs::fuse {

// One request split into its three parts: the FUSE header, the opcode's
// fixed header and the rest (names, data). Extensions announced by
// total_extlen are cut off the end and ignored.
class RequestReader {
 public:
  // Splits `request`. nullopt when it is too short for a fuse_in_header or
  // the header's `len` is smaller than the header, larger than `request`, or
  // leaves no room for the announced extensions. Trailing bytes past `len`
  // are ignored.
  static std::optional<RequestReader> Parse(std::span<const uint8_t> request);

  const fuse_in_header& header() const { return header_; }
  // Bytes after the header not consumed yet.
  size_t remaining() const { return body_.size() - pos_; }

  // Copies the next fixed struct. Kernels older than the struct may send a
  // shorter one: at least `min_size` bytes must be present, the missing tail
  // reads as zero. False (nothing consumed) when fewer than `min_size`
  // bytes remain.
  template <typename T>
  bool ReadStruct(T* out, size_t min_size = sizeof(T)) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (min_size > sizeof(T) || remaining() < min_size) return false;
    size_t n = remaining() < sizeof(T) ? remaining() : sizeof(T);
    std::memset(out, 0, sizeof(T));
    std::memcpy(out, body_.data() + pos_, n);
    pos_ += n;
    return true;
  }

  // The next NUL-terminated string (without its NUL). False when no NUL
  // follows in the remaining bytes.
  bool ReadCString(std::string_view* out);

  // Everything not consumed yet.
  std::span<const uint8_t> Rest() const { return body_.subspan(pos_); }

 private:
  RequestReader(const fuse_in_header& h, std::span<const uint8_t> body) : header_(h), body_(body) {}
  fuse_in_header header_;
  std::span<const uint8_t> body_;
  size_t pos_ = 0;
};

// Builds one reply in the transport's buffer: fuse_out_header, then payload.
// Every method returns the total reply length to hand to
// Responder::Complete, or 0 when the buffer cannot even hold the header
// (then no reply can be sent at all).
class ReplyWriter {
 public:
  ReplyWriter(std::span<uint8_t> buffer, uint64_t unique) : buffer_(buffer), unique_(unique) {}

  // Room for the payload (after the header); empty when the buffer is
  // smaller than a header.
  std::span<uint8_t> Payload() const {
    return buffer_.size() < sizeof(fuse_out_header) ? std::span<uint8_t>()
                                                    : buffer_.subspan(sizeof(fuse_out_header));
  }

  // An error reply (`errnum` > 0, sent as -errnum).
  size_t Error(int errnum);
  // Success with `payload_size` bytes already written into Payload(). A
  // size beyond Payload() is clamped (callers never do that).
  size_t Ok(size_t payload_size);
  // Success carrying the first `size` bytes of `value` (compat sizes let an
  // older kernel get a shorter struct). ERANGE when it does not fit.
  template <typename T>
  size_t Struct(const T& value, size_t size = sizeof(T)) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (size > sizeof(T)) size = sizeof(T);
    if (Payload().size() < size) return Error(ERANGE);
    std::memcpy(Payload().data(), &value, size);
    return Ok(size);
  }
  // Success carrying `bytes`. ERANGE when it does not fit.
  size_t Bytes(std::string_view bytes);

 private:
  size_t Header(int32_t error, size_t payload_size);
  std::span<uint8_t> buffer_;
  uint64_t unique_;
};

// Appends dirent / direntplus records (8-byte aligned) into a READDIR or
// READDIRPLUS payload of at most `limit` bytes.
class DirentWriter {
 public:
  explicit DirentWriter(std::span<uint8_t> out) : out_(out) {}

  // Whether a record with a name of `name_length` bytes still fits.
  bool Fits(size_t name_length, bool plus) const {
    return used_ + RecordSize(name_length, plus) <= out_.size();
  }
  // Appends a record; false (nothing written) when it does not fit.
  // `next_offset` is the offset that resumes after this entry.
  bool Add(std::string_view name, uint64_t ino, uint32_t type, uint64_t next_offset);
  bool AddPlus(std::string_view name, const fuse_entry_out& entry, uint32_t type,
               uint64_t next_offset);

  size_t size() const { return used_; }
  static size_t RecordSize(size_t name_length, bool plus) {
    size_t fixed = plus ? sizeof(fuse_direntplus) : sizeof(fuse_dirent);
    return (fixed + name_length + 7) & ~size_t{7};
  }

 private:
  std::span<uint8_t> out_;
  size_t used_ = 0;
};

}  // namespace castor::fs::fuse
