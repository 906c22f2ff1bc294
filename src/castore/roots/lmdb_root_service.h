// LmdbRootService (`lmdb:///path`): named roots in the LMDB database "roots"
// of the environment at PATH; key = the name's bytes (LMDB's default key
// order is bytewise, which is castore's), value = the tvix Node encoding of
// the entry (EncodeEntry). Values are decoded and checked against their key
// on every read (DataLoss naming the root otherwise). Put and Remove commit
// one write transaction each (durable when they return). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "castore/lmdb_env.h"
#include "castore/roots/root_service.h"

namespace castor::castore {

class LmdbRootService : public RootService {
 public:
  static constexpr char kDbName[] = "roots";

  // Opens (creating) the environment at the absolute `path`.
  static absl::StatusOr<std::shared_ptr<LmdbRootService>> Open(const std::string& path);
  static absl::StatusOr<std::shared_ptr<LmdbRootService>> Open(std::shared_ptr<LmdbEnv> env);

  absl::StatusOr<std::optional<Entry>> Get(const PathComponent& name) override;
  absl::Status List(const std::function<absl::Status(const Entry&)>& fn) override;
  absl::Status Put(const Entry& root) override;
  absl::StatusOr<bool> Remove(const PathComponent& name) override;

 private:
  LmdbRootService(std::shared_ptr<LmdbEnv> env, MDB_dbi dbi) : env_(std::move(env)), dbi_(dbi) {}
  absl::StatusOr<Entry> Decode(std::string_view key, std::string_view value) const;

  const std::shared_ptr<LmdbEnv> env_;
  const MDB_dbi dbi_;
};

}  // namespace castor::castore
