// LmdbDirectoryService (`lmdb:///path`): Directories in the LMDB database
// "directories" of the environment at PATH; key = the 32 raw digest bytes,
// value = the canonical encoding. Every value read is decoded and checked
// against its key (DataLoss naming the digest otherwise). A putter validates
// the stream against itself and the store, and writes everything in one write
// transaction at Close. GetRecursive walks one read transaction (a consistent
// snapshot). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "castore/directory/directory_service.h"
#include "castore/lmdb_env.h"

namespace castor::castore {

class LmdbDirectoryService : public DirectoryService {
 public:
  static constexpr char kDbName[] = "directories";

  // Opens (creating) the environment at the absolute `path`, and in it the
  // database `db` (another name keeps a separate set of Directories: the
  // directory cache uses one).
  static absl::StatusOr<std::shared_ptr<LmdbDirectoryService>> Open(
      const std::string& path, const std::string& db = kDbName);
  static absl::StatusOr<std::shared_ptr<LmdbDirectoryService>> Open(
      std::shared_ptr<LmdbEnv> env, const std::string& db = kDbName);

  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override;
  absl::StatusOr<B3Digest> Put(const Directory& directory) override;
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override;
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override;
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override;
  absl::Status Delete(std::span<const B3Digest> digests) override;

  // Used by putters: the stored Directory's size, or nullopt.
  absl::StatusOr<std::optional<uint64_t>> StoredSize(const B3Digest& digest);
  // Used by putters: writes validated Directories in one transaction
  // (children are not checked here).
  absl::Status WriteAll(std::span<const Directory> directories);

 private:
  LmdbDirectoryService(std::shared_ptr<LmdbEnv> env, MDB_dbi dbi)
      : env_(std::move(env)), dbi_(dbi) {}
  absl::StatusOr<std::optional<Directory>> GetIn(const LmdbTxn& txn, const B3Digest& digest);

  const std::shared_ptr<LmdbEnv> env_;
  const MDB_dbi dbi_;
};

}  // namespace castor::castore
