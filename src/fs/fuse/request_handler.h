// The seam between FUSE transports (/dev/fuse, vhost-user virtio-fs, later
// io_uring) and the transport-free dispatcher. A transport hands each whole
// FUSE request to a RequestHandler together with a Responder it owns; the
// handler writes the reply into the responder's buffer and completes exactly
// once, possibly later and from another thread. Implementations of both are
// thread-safe in the sense stated on each method.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace castor::fs::fuse {

// Owned by the transport; lives until Complete() has been called.
class Responder {
 public:
  virtual ~Responder() = default;
  // Room for the whole reply, fuse_out_header first. Its size is the most the
  // transport can send for this request (for virtio-fs: the writable part of
  // the descriptor chain). Valid until Complete().
  virtual std::span<uint8_t> ReplyBuffer() = 0;
  // Sends the first `length` bytes of ReplyBuffer() as the reply; length 0
  // means "no reply" (FORGET, BATCH_FORGET, INTERRUPT). Called exactly once,
  // from any thread; the responder must not be touched afterwards.
  virtual void Complete(size_t length) = 0;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // `request` is one whole FUSE request as the transport received it
  // (fuse_in_header first), untrusted, borrowed until responder.Complete().
  // Called concurrently from any number of transport threads.
  virtual void Handle(std::span<const uint8_t> request, Responder& responder) = 0;
};

}  // namespace castor::fs::fuse
