// The FUSE kernel ABI as castor uses it: <linux/fuse.h> (uapi 7.38 on the
// build host) plus the few newer constants defined locally, so the code
// builds against older headers and can ask newer kernels for more. Only
// constants and plain structs; no state.
#pragma once

#include <linux/fuse.h>

#include <cstdint>

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

// OPEN reply flag for FUSE passthrough (7.40); unused, see docs/mount.md.
inline constexpr uint32_t kOpenPassthrough = 1U << 7;

// Entry/attribute validity meaning "never expires" (the tree is immutable).
inline constexpr uint64_t kForever = ~uint64_t{0} >> 1;

static_assert(sizeof(fuse_in_header) == 40);
static_assert(sizeof(fuse_out_header) == 16);
static_assert(sizeof(fuse_entry_out) == 128);
static_assert(sizeof(fuse_attr_out) == 104);
static_assert(sizeof(fuse_init_out) == 64);
static_assert(sizeof(fuse_dirent) == 24);
static_assert(sizeof(fuse_direntplus) == 152);

}  // namespace castor::fs::fuse
