// LmdbPathInfoService (`lmdb:///path`): path infos in the LMDB database
// "pathinfo" of the environment at PATH (the one the root and directory
// services use: castore/lmdb_env.h); key = the store path's 20-byte digest,
// value = the tvix PathInfo encoding (PathInfo::Encode). Values are decoded,
// validated and checked against their key on every read (DataLoss naming
// the digest otherwise). Put commits one write transaction (durable when it
// returns). List reads in batches, each in its own read transaction, and
// calls back with none open. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "castore/lmdb_env.h"
#include "nix/pathinfo/path_info_service.h"

namespace castor::nix {

class LmdbPathInfoService : public PathInfoService {
 public:
  static constexpr char kDbName[] = "pathinfo";
  static constexpr size_t kListBatch = 256;

  // Opens (creating) the environment at the absolute `path`.
  static absl::StatusOr<std::shared_ptr<LmdbPathInfoService>> Open(const std::string& path);
  static absl::StatusOr<std::shared_ptr<LmdbPathInfoService>> Open(
      std::shared_ptr<castore::LmdbEnv> env);

  absl::StatusOr<std::optional<PathInfo>> Get(const StorePath::Digest& digest) override;
  absl::StatusOr<PathInfo> Put(const PathInfo& info) override;
  absl::StatusOr<bool> Remove(const StorePath::Digest& digest) override;
  absl::Status List(const std::function<absl::Status(const PathInfo&)>& fn) override;

 private:
  LmdbPathInfoService(std::shared_ptr<castore::LmdbEnv> env, MDB_dbi dbi)
      : env_(std::move(env)), dbi_(dbi) {}
  absl::StatusOr<PathInfo> Decode(std::string_view key, std::string_view value) const;

  const std::shared_ptr<castore::LmdbEnv> env_;
  const MDB_dbi dbi_;
};

}  // namespace castor::nix
