// The input format of fuse_dispatcher_fuzz, shared with the seed generator:
// a sequence of records, each
//   u8  reply buffer size selector (index into kReplyBufferSizes, modulo)
//   u16 little-endian record length n (clamped to what is left)
//   n   bytes: one FUSE request as a transport would hand it over
// The harness always sends a valid INIT first, so records start after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace castor::fuzz {

inline constexpr size_t kReplyBufferSizes[] = {1 << 17, 4096, 256, 80, 16, 0, 1 << 20};

inline void AppendRecord(std::string& out, uint8_t buffer_selector, std::string_view request) {
  out.push_back(static_cast<char>(buffer_selector));
  uint16_t n = static_cast<uint16_t>(request.size());
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(n >> 8));
  out.append(request);
}

}  // namespace castor::fuzz
