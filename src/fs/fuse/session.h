// Session: the state of one FUSE connection that outlives single requests —
// the INIT negotiation (protocol minor, agreed flags, limits). It belongs to
// the connection, not to a transport, so a later io_uring transport can
// share the /dev/fuse connection's session. Thread-safe: INIT writes once,
// every other request reads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "fs/fuse/abi.h"

namespace castor::fs::fuse {

struct SessionOptions {
  // Largest READ/READDIR reply payload the transport's buffers can hold, in
  // 4 KiB pages (the kernel is told max_pages; 32 = the pre-4.20 default).
  uint32_t max_pages = 256;
  // Largest WRITE the transport can receive (the fs is read-only, but the
  // kernel needs a value >= 4096).
  uint32_t max_write = 128 * 1024;
  uint16_t max_background = 64;
  // Ask for FUSE passthrough (kInitPassthrough) when the kernel offers it,
  // telling it `max_stack_depth`: 1 lets blob files on a plain file system
  // back the mount (and the mount be a layer of an overlayfs); 2 lets them
  // sit on an overlayfs (and the mount be nobody's layer).
  bool passthrough = false;
  uint32_t max_stack_depth = 1;
  // Flags asked for when the kernel offers them (kInitPassthrough is added
  // by `passthrough`). READDIRPLUS always, not FUSE_READDIRPLUS_AUTO: with
  // AUTO the kernel asks for plain READDIR past the first reply of a listing
  // unless a name in it was looked up since, and a walk, which lists a whole
  // directory before it stats its entries, then sends one LOOKUP per entry
  // of a large directory. Attributes cost castor nothing beyond the listing.
  // FUSE_NO_OPENDIR_SUPPORT is asked for so that flags() tells whether the
  // kernel offers it (the Dispatcher reads it there).
  uint64_t want = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_PARALLEL_DIROPS |
                  FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT | FUSE_MAX_PAGES | FUSE_BIG_WRITES |
                  FUSE_ABORT_ERROR | FUSE_INIT_EXT;
};

class Session {
 public:
  explicit Session(SessionOptions options = {}) : options_(options) {}

  // Answers INIT: fills `out`, sets *out_size to the reply size for the
  // kernel's minor, and records the agreement. Returns 0, EPROTO (major < 7
  // or minor too old) or EIO (a second INIT). A kernel with a newer major
  // gets our major back with *out_size = 8 (it then re-sends INIT).
  int Init(const fuse_init_in& in, fuse_init_out* out, size_t* out_size);
  // Takes over the agreement another process made with the kernel on this
  // connection (`castor mount --takeover`: the kernel sends no second INIT).
  // Returns false, changing nothing, if this session saw an INIT already.
  bool Restore(uint32_t minor, uint64_t flags, uint32_t max_pages);
  // Asks for FUSE over io_uring (kInitOverUring) at INIT besides
  // options().want; the transport calls it before mounting, once it knows
  // it can serve the ring (a kernel that agrees holds every request back
  // until the ring's queues are registered).
  void WantOverUring() { want_over_uring_.store(true, std::memory_order_relaxed); }
  // DESTROY: the connection is shutting down.
  void Destroy() { destroyed_.store(true, std::memory_order_release); }

  bool initialized() const { return initialized_.load(std::memory_order_acquire); }
  bool destroyed() const { return destroyed_.load(std::memory_order_acquire); }
  // Valid once initialized().
  uint32_t minor() const { return minor_; }
  uint64_t flags() const { return flags_; }
  uint32_t max_pages() const { return max_pages_; }
  // Whether the kernel agreed to FUSE passthrough (false before INIT).
  bool passthrough() const { return initialized() && (flags_ & kInitPassthrough) != 0; }
  const SessionOptions& options() const { return options_; }

 private:
  const SessionOptions options_;
  std::atomic<bool> init_claimed_{false};  // one INIT at a time
  std::atomic<bool> initialized_{false};
  std::atomic<bool> destroyed_{false};
  std::atomic<bool> want_over_uring_{false};
  // Written once by Init before initialized_ is released.
  uint32_t minor_ = 0;
  uint64_t flags_ = 0;
  uint32_t max_pages_ = 32;
};

}  // namespace castor::fs::fuse
