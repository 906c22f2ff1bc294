// The input format of virtiofs_fuzz, shared with the seed generator: a
// sequence of records, each one FUSE request the harness lays out as a
// descriptor chain in fake guest memory,
//   u8  shape: bits 0-1 readable descriptors - 1 (the request is split over
//       1..4 of them), bits 2-3 writable descriptors (0..3), bit 4 put the
//       chain in an indirect table, bit 5 send it on the hiprio queue (0)
//   u8  reply: bits 0-2 writable size selector (kWritableSizes), bits 3-5
//       a ChainDefect to plant in the chain
//   u16 little-endian request length n (clamped to what is left)
//   n   bytes: the FUSE request (fuse_in_header first)
// The harness sends a valid INIT chain first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace castor::fuzz {

inline constexpr uint32_t kWritableSizes[] = {4096, 1 << 17, 256, 80, 16, 8, 0, (1 << 20) + 4096};

enum ChainDefect : uint8_t {
  kDefectNone = 0,
  kDefectOutsideMemory = 1,  // a readable buffer outside guest memory
  kDefectReadableAfterWritable = 2,
  kDefectLoop = 3,            // the last descriptor links back to the first
  kDefectNextOutOfRange = 4,  // the last descriptor links past the table
  kDefectMisplacedIndirect = 5,
  kDefectHugeLength = 6,  // a buffer longer than a chain may describe
  kDefectNone2 = 7,
};

inline constexpr uint8_t Shape(int readable, int writable, bool indirect, bool hiprio) {
  return static_cast<uint8_t>(((readable - 1) & 3) | ((writable & 3) << 2) | (indirect ? 0x10 : 0) |
                              (hiprio ? 0x20 : 0));
}

inline void AppendChainRecord(std::string& out, uint8_t shape, uint8_t size_selector,
                              ChainDefect defect, std::string_view request) {
  out.push_back(static_cast<char>(shape));
  out.push_back(static_cast<char>((size_selector & 7) | (defect << 3)));
  uint16_t n = static_cast<uint16_t>(request.size());
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(n >> 8));
  out.append(request);
}

}  // namespace castor::fuzz
