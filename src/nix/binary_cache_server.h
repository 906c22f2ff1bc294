// BinaryCacheServer: castor as a Nix HTTP binary cache (`castor nix
// serve`), over cpp-httplib's threaded server.
//
//   GET /nix-cache-info           StoreDir, WantMassQuery: 1, Priority
//   GET /<hash>.narinfo           built from the path info, signed with every
//                                 sign key (signatures it already has stay);
//                                 404 for unknown paths
//   GET /nar/<hash>-<narhash>.nar[.xz|.zst|.bz2]
//                                 the NAR, rendered from castore on demand
//                                 (compressed as the extension says); the
//                                 narinfo points at the `compression` form.
//                                 Uncompressed NARs have a Content-Length
//                                 and honour a single-range Range header.
// HEAD works wherever GET does. Rendered NARs have no FileHash/FileSize in
// their narinfo (Nix does not need them: it checks the NarHash of what it
// unpacks).
//
// A render that fails (a blob that does not match its digest, a missing
// object) aborts the response: the connection is closed before the body
// ends (short of its Content-Length, or without the final chunk), so a
// client sees a transfer error, never a complete-looking corrupt NAR. A
// whole uncompressed or compressed NAR additionally holds back its end
// until the rendered NAR's SHA-256 equals the path info's.
//
// Uploads (allow_upload; else PUT is 403), as `nix copy --to http://...`
// sends them: PUT /nar/<filehash>.nar[.xz|.bz2|.zst] streams the body
// through the decompressor into castore as it arrives (ImportNar; the body
// is never held whole: a bounded pipe feeds a parser thread), computing the
// file's and the NAR's hash and size; the result is kept under its URL for
// `upload_ttl` (HEAD of that URL then answers 200, so Nix does not send it
// twice). PUT /<hash>.narinfo binds it: the narinfo's URL must name a kept
// upload whose compression, FileHash/FileSize (when given), NarHash and
// NarSize match, else 400 saying what differs; then the path is added
// (NixStore::Add: a root and the path info, with the uploaded signatures).
// Uploads never bound stay as unreferenced blobs for `castor gc`.
//
// Connections: a pool of `threads` threads, each serving one connection at
// a time (keep-alive); a client that sends or takes no byte for
// `io_timeout` is disconnected, so slow clients hold one thread each and
// never block the others beyond that. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nix/compression.h"
#include "nix/signing.h"
#include "nix/store.h"

namespace castor::nix {

struct BinaryCacheServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (port() tells which)
  std::vector<SecretKey> sign_keys;
  bool allow_upload = false;
  int priority = 40;
  // The form of the NAR the narinfos point at.
  Compression compression = Compression::kNone;
  int threads = 64;
  std::chrono::seconds io_timeout{60};
  // Uploads: the most NAR bytes one upload may decompress to, and how long
  // an upload waits for its narinfo (at most max_pending_uploads are kept;
  // the oldest goes first).
  uint64_t max_upload_nar_size = uint64_t{64} << 30;
  std::chrono::seconds upload_ttl{600};
  size_t max_pending_uploads = 4096;
  // Called when a NAR upload starts; what it returns is kept until the
  // upload is bound to its narinfo or dropped (the CLI holds the store's
  // import lock shared with it, so a local gc waits for the narinfo instead
  // of collecting the upload's unreferenced blobs). Null: nothing is held.
  std::function<absl::StatusOr<std::shared_ptr<void>>()> upload_guard;
};

class BinaryCacheServer {
 public:
  // Binds and starts serving. Unavailable naming the address when it
  // cannot bind.
  static absl::StatusOr<std::unique_ptr<BinaryCacheServer>> Start(std::shared_ptr<NixStore> store,
                                                                  BinaryCacheServerOptions options);
  ~BinaryCacheServer();

  // Stops accepting connections, lets the current requests end, returns.
  void Stop();

  int port() const;
  // http://host:port
  std::string url() const;

  class Impl;

 private:
  explicit BinaryCacheServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace castor::nix
