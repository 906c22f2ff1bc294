// vhost-user wire format (QEMU docs/interop/vhost-user.rst): the message
// header, request codes, feature bits and payload layouts, plus framing of
// whole messages with their file descriptors (SCM_RIGHTS) over a unix
// stream socket. Stateless; the functions are safe to call from any thread
// on distinct sockets.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace castor::fs::transport {

// The one owned-fd type (base/unique_fd.h), under the name this layer used.
using ::castor::UniqueFd;

namespace vhost {

enum Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSendRarp = 19,
  kNetSetMtu = 20,
  kSetBackendReqFd = 21,
  kIotlbMsg = 22,
  kSetVringEndian = 23,
  kGetConfig = 24,
  kSetConfig = 25,
  kPostcopyAdvise = 28,
  kGetInflightFd = 31,
  kSetInflightFd = 32,
  kResetDevice = 34,
  kGetMaxMemSlots = 36,
  kAddMemReg = 37,
  kRemMemReg = 38,
  kSetStatus = 39,
  kGetStatus = 40,
};

inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kVersionMask = 3;
inline constexpr uint32_t kFlagReply = 1u << 2;
inline constexpr uint32_t kFlagNeedReply = 1u << 3;

// Virtio / vhost-user feature bits (GET_FEATURES).
inline constexpr uint64_t kFeatureIndirectDesc = uint64_t{1} << 28;
inline constexpr uint64_t kFeatureEventIdx = uint64_t{1} << 29;
inline constexpr uint64_t kFeatureProtocolFeatures = uint64_t{1} << 30;
inline constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;

// Protocol feature bits (GET_PROTOCOL_FEATURES).
inline constexpr uint64_t kProtocolMq = uint64_t{1} << 0;
inline constexpr uint64_t kProtocolReplyAck = uint64_t{1} << 3;
inline constexpr uint64_t kProtocolConfig = uint64_t{1} << 9;
inline constexpr uint64_t kProtocolResetDevice = uint64_t{1} << 13;

// SET_VRING_KICK/CALL/ERR payload: queue index in bits 0-7, bit 8 = no fd.
inline constexpr uint64_t kVringIndexMask = 0xff;
inline constexpr uint64_t kVringNoFd = uint64_t{1} << 8;

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxPayload = 4096;
inline constexpr size_t kMaxFds = 8;

struct VringState {
  uint32_t index;
  uint32_t num;
};
struct VringAddr {
  uint32_t index;
  uint32_t flags;
  uint64_t desc_user_addr;
  uint64_t used_user_addr;
  uint64_t avail_user_addr;
  uint64_t log_guest_addr;
};
struct MemoryRegion {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t mmap_offset;
};
struct ConfigHeader {
  uint32_t offset;
  uint32_t size;
  uint32_t flags;
};
static_assert(sizeof(VringState) == 8 && sizeof(VringAddr) == 40 && sizeof(MemoryRegion) == 32 &&
              sizeof(ConfigHeader) == 12);

}  // namespace vhost

struct VhostMessage {
  uint32_t request = 0;
  uint32_t flags = 0;
  std::vector<uint8_t> payload;
  std::vector<UniqueFd> fds;
};

// Reads one message. nullopt on orderly end of stream before a header.
// InvalidArgument for a bad version or oversized payload, Unavailable for
// socket errors or a message cut short.
absl::StatusOr<std::optional<VhostMessage>> ReadVhostMessage(int sock);
// Writes one message (header with `flags`, payload, and fds if any).
absl::Status WriteVhostMessage(int sock, uint32_t request, uint32_t flags,
                               std::span<const uint8_t> payload, std::span<const int> fds = {});

}  // namespace castor::fs::transport
