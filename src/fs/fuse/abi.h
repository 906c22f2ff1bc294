// The FUSE kernel ABI as castor uses it: <linux/fuse.h> (uapi 7.38 on the
// build host) plus the few newer constants defined locally, so the code
// builds against older headers and can ask newer kernels for more. Only
// constants and plain structs; no state.
#pragma once

#include <linux/fuse.h>
#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace castor::fs::fuse {

// Protocol versions this implementation speaks. Kernels older than 7.13
// (Linux 2.6.32) are refused at INIT.
inline constexpr uint32_t kKernelMajor = 7;
inline constexpr uint32_t kKernelMinor = 38;
inline constexpr uint32_t kOldestMinor = 13;

// INIT flags newer than uapi 7.38 (flags2 bits are shifted by 32).
inline constexpr uint64_t kInitDirectIoAllowMmap = 1ULL << 36;  // 7.39
inline constexpr uint64_t kInitPassthrough = 1ULL << 37;        // 7.40
inline constexpr uint64_t kInitNoExportSupport = 1ULL << 38;    // 7.40
inline constexpr uint64_t kInitHasResend = 1ULL << 39;          // 7.40
inline constexpr uint64_t kInitAllowIdmap = 1ULL << 40;         // 7.40
inline constexpr uint64_t kInitOverUring = 1ULL << 41;          // 7.42

// FUSE over io_uring (7.42; fs/fuse/dev_uring.c). A server that agreed
// kInitOverUring registers ring entries with IORING_OP_URING_CMD on its
// /dev/fuse descriptor (128-byte SQEs, the command in the SQE's cmd area,
// sqe->addr an array of two iovecs: UringReqHeader and the payload buffer).
// The kernel hands a request over by completing the entry's command; the
// server answers and asks for the next request with one COMMIT_AND_FETCH.
inline constexpr uint32_t kUringCmdRegister = 1;
inline constexpr uint32_t kUringCmdCommitAndFetch = 2;
inline constexpr size_t kUringInOutHeaderSize = 128;
inline constexpr size_t kUringOpInSize = 128;

struct UringEntInOut {
  uint64_t flags;
  // Request: the id to commit the reply with (the request's unique).
  uint64_t commit_id;
  // Bytes used in the payload buffer: the request's arguments after the
  // opcode's fixed header; the reply's bytes after fuse_out_header.
  uint32_t payload_sz;
  uint32_t padding;
  uint64_t reserved;
};

struct UringReqHeader {
  // fuse_in_header of the request; the server puts fuse_out_header here.
  uint8_t in_out[kUringInOutHeaderSize];
  // The opcode's fixed header (the request's first argument), if any.
  uint8_t op_in[kUringOpInSize];
  UringEntInOut ring_ent_in_out;
};

// In the SQE's 80-byte command area.
struct UringCmdReq {
  uint64_t flags;
  uint64_t commit_id;  // COMMIT_AND_FETCH: ring_ent_in_out.commit_id
  uint16_t qid;        // queue = CPU the requests come from
  uint8_t padding[6];
};

// OPEN reply flag for FUSE passthrough (7.40): the kernel reads the backing
// file named by fuse_open_out's backing_id itself. It may be combined only
// with FOPEN_DIRECT_IO, FOPEN_PARALLEL_DIRECT_WRITES and FOPEN_NOFLUSH (the
// kernel fails the open with EIO otherwise, FOPEN_KEEP_CACHE included).
inline constexpr uint32_t kOpenPassthrough = 1U << 7;

// FUSE passthrough's device ioctls (7.40) on a /dev/fuse descriptor of the
// connection: BACKING_OPEN registers the file `fd` and returns its backing
// id (> 0), BACKING_CLOSE drops an id (open files keep their own reference
// to the backing file). Both need CAP_SYS_ADMIN and an INIT that agreed to
// FUSE_PASSTHROUGH.
struct FuseBackingMap {
  int32_t fd;
  uint32_t flags;  // 0
  uint64_t padding;
};
inline constexpr unsigned long kDevIocBackingOpen = _IOW(229, 1, FuseBackingMap);
inline constexpr unsigned long kDevIocBackingClose = _IOW(229, 2, uint32_t);

// fuse_open_out.backing_id (7.40) is the uapi 7.38 header's `padding`.
inline void SetBackingId(fuse_open_out* out, int32_t id) {
  std::memcpy(&out->padding, &id, sizeof(id));
}
inline int32_t BackingId(const fuse_open_out& out) {
  int32_t id;
  std::memcpy(&id, &out.padding, sizeof(id));
  return id;
}
// fuse_init_out.max_stack_depth (7.40) is the 7.38 header's unused[0]: how
// many stacked file systems may sit below the mount (at least 1 for
// passthrough; the backing files' file system must be less deep than it).
inline void SetMaxStackDepth(fuse_init_out* out, uint32_t depth) { out->unused[0] = depth; }
inline uint32_t MaxStackDepth(const fuse_init_out& out) { return out.unused[0]; }

// Entry/attribute validity meaning "never expires" (the tree is immutable).
inline constexpr uint64_t kForever = ~uint64_t{0} >> 1;

static_assert(sizeof(fuse_in_header) == 40);
static_assert(sizeof(fuse_out_header) == 16);
static_assert(sizeof(fuse_entry_out) == 128);
static_assert(sizeof(fuse_attr_out) == 104);
static_assert(sizeof(fuse_init_out) == 64);
static_assert(sizeof(fuse_dirent) == 24);
static_assert(sizeof(fuse_open_out) == 16);
static_assert(sizeof(FuseBackingMap) == 16);
static_assert(sizeof(fuse_direntplus) == 152);
static_assert(sizeof(UringEntInOut) == 32);
static_assert(sizeof(UringReqHeader) == 288);
static_assert(sizeof(UringCmdReq) == 24);

}  // namespace castor::fs::fuse
