// The input format of vhost_user_fuzz, shared with the seed generator:
//   u16 little-endian n, then n bytes (at most kMaxGuestInit) copied to the
//       start of guest memory region A (where seeds put the rings)
//   then records, each one sendmsg() on the frontend's end of the socket:
//   u8  fds: bits 0-3 how many fds to attach (0..15; more than 8 is refused),
//       bits 4-5 the kind of the first one (FdKind), the next ones cycle on
//   u16 little-endian length m (clamped to what is left)
//   m   raw bytes: vhost-user header(s) and payload(s), not necessarily whole
//       or consistent: the backend reads them as a byte stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace castor::fuzz {

inline constexpr size_t kMaxGuestInit = 16384;
// Guest memory the harness offers: two memfds.
inline constexpr uint64_t kMemfdASize = 64 * 1024, kMemfdBSize = 4096;

enum FdKind : uint8_t {
  kFdMemfdA = 0,   // 64 KiB memfd (guest memory)
  kFdMemfdB = 1,   // 4 KiB memfd
  kFdEventfd = 2,  // a fresh eventfd (kick / call / err)
  kFdDevNull = 3,  // not mappable, not an eventfd
};

inline void AppendGuestInit(std::string& out, std::string_view bytes) {
  uint16_t n = static_cast<uint16_t>(bytes.size());
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(n >> 8));
  out.append(bytes);
}

inline void AppendSend(std::string& out, int fd_count, FdKind first_kind, std::string_view bytes) {
  out.push_back(static_cast<char>((fd_count & 0xf) | (first_kind << 4)));
  uint16_t n = static_cast<uint16_t>(bytes.size());
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(n >> 8));
  out.append(bytes);
}

// A whole vhost-user message: header (request, flags, size) and payload.
inline std::string VhostMessageBytes(uint32_t request, uint32_t flags, std::string_view payload) {
  std::string m(12, '\0');
  uint32_t size = static_cast<uint32_t>(payload.size());
  std::memcpy(m.data(), &request, 4);
  std::memcpy(m.data() + 4, &flags, 4);
  std::memcpy(m.data() + 8, &size, 4);
  return m + std::string(payload);
}

}  // namespace castor::fuzz
