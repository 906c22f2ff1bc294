#include "fs/fuse/session.h"

#include <cerrno>
#include <cstring>

#include "spdlog/spdlog.h"

namespace castor::fs::fuse {

int Session::Init(const fuse_init_in& in, fuse_init_out* out, size_t* out_size) {
  std::memset(out, 0, sizeof(*out));
  if (init_claimed_.exchange(true)) return EIO;
  if (in.major < kKernelMajor) {
    spdlog::error("FUSE INIT: kernel protocol {}.{} is too old", in.major, in.minor);
    init_claimed_.store(false);
    return EPROTO;
  }
  if (in.major > kKernelMajor) {
    // The kernel retries with our major.
    out->major = kKernelMajor;
    out->minor = kKernelMinor;
    *out_size = FUSE_COMPAT_INIT_OUT_SIZE;
    init_claimed_.store(false);
    return 0;
  }
  if (in.minor < kOldestMinor) {
    spdlog::error("FUSE INIT: kernel protocol 7.{} is older than 7.{}", in.minor, kOldestMinor);
    init_claimed_.store(false);
    return EPROTO;
  }
  uint64_t offered = in.flags;
  if (offered & FUSE_INIT_EXT) offered |= uint64_t{in.flags2} << 32;
  uint64_t want = options_.want & ~kInitPassthrough;
  // Without a depth the kernel ignores the flag; more than 2 it refuses.
  if (options_.passthrough && options_.max_stack_depth >= 1 && options_.max_stack_depth <= 2) {
    want |= kInitPassthrough | FUSE_INIT_EXT;
  }
  if (want_over_uring_.load(std::memory_order_relaxed)) want |= kInitOverUring;
  uint64_t agreed = offered & want;
  uint32_t max_pages = 32;
  if ((agreed & FUSE_MAX_PAGES) && options_.max_pages > 0) {
    max_pages = options_.max_pages > 256 ? 256 : options_.max_pages;
  } else {
    agreed &= ~uint64_t{FUSE_MAX_PAGES};
    if (options_.max_pages < max_pages) max_pages = options_.max_pages;
  }

  out->major = kKernelMajor;
  out->minor = in.minor < kKernelMinor ? in.minor : kKernelMinor;
  out->max_readahead = in.max_readahead;
  out->flags = static_cast<uint32_t>(agreed);
  out->flags2 = static_cast<uint32_t>(agreed >> 32);
  out->max_background = options_.max_background;
  out->congestion_threshold = options_.max_background * 3 / 4;
  out->max_write = options_.max_write < 4096 ? 4096 : options_.max_write;
  out->time_gran = 1;
  out->max_pages = static_cast<uint16_t>(max_pages);
  if (agreed & kInitPassthrough) SetMaxStackDepth(out, options_.max_stack_depth);
  *out_size = in.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(fuse_init_out);

  minor_ = out->minor;
  flags_ = agreed;
  max_pages_ = max_pages;
  initialized_.store(true, std::memory_order_release);
  spdlog::debug("FUSE INIT: protocol 7.{}, flags {:#x}, max_pages {}", minor_, flags_, max_pages_);
  return 0;
}

bool Session::Restore(uint32_t minor, uint64_t flags, uint32_t max_pages) {
  if (init_claimed_.exchange(true)) return false;
  minor_ = minor;
  flags_ = flags;
  max_pages_ = max_pages;
  initialized_.store(true, std::memory_order_release);
  spdlog::debug("FUSE session taken over: protocol 7.{}, flags {:#x}, max_pages {}", minor_, flags_,
                max_pages_);
  return true;
}

}  // namespace castor::fs::fuse
