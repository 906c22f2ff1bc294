// PathInfoService: path infos (nix/path_info.h) keyed by the 20-byte digest
// of their store path, as tvix's PathInfoService looks them up
// (GetPathInfoRequest.by_output_hash). Backends: memory:// (in-process) and
// lmdb:///path (beside the root service, in the same environment).
// Implementations are thread-safe.
#pragma once

#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nix/path_info.h"
#include "nix/store_path.h"

namespace castor::nix {

class PathInfoService {
 public:
  virtual ~PathInfoService() = default;

  // The path info of the store path whose digest is `digest`, or nullopt.
  // A stored value that does not decode or belongs to another digest is
  // DataLoss naming the digest.
  virtual absl::StatusOr<std::optional<PathInfo>> Get(const StorePath::Digest& digest) = 0;

  // Stores `info`, replacing what was stored for its store path's digest;
  // durable when it returns. Returns the stored path info (tvix's Put may
  // add signatures; these backends store it as given).
  virtual absl::StatusOr<PathInfo> Put(const PathInfo& info) = 0;

  // Removes the path info of `digest`; returns whether there was one.
  // Durable when it returns. A remote backend whose protocol has no such
  // call (tvix.store.v1) returns Unimplemented.
  virtual absl::StatusOr<bool> Remove(const StorePath::Digest& digest) = 0;

  // Every path info, in bytewise order of the digests. Stops at the first
  // error `fn` returns.
  virtual absl::Status List(const std::function<absl::Status(const PathInfo&)>& fn) = 0;
};

}  // namespace castor::nix
