// LmdbEnv: one LMDB environment per directory per process (LMDB forbids
// opening the same environment twice in one process), shared by every
// service on that path through a process-wide registry of weak references:
// the environment closes when its last user goes. Also the small RAII and
// error-conversion helpers the LMDB backends share.
//
// Thread-safe. Environments are opened with MDB_NOTLS (read transactions are
// not bound to threads), a sparse map of kMapSize bytes and named databases.
// A transaction object belongs to one thread.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"

namespace castor::castore {

class LmdbEnv {
 public:
  // Upper bound of the database size: address space only (the file grows as
  // needed), 1 TiB on 64-bit hosts. ThreadSanitizer builds map 64 GiB:
  // TSan confines a program to a few TiB of address space, where a 1 TiB
  // mapping fails with ENOMEM.
#if defined(__SANITIZE_THREAD__)
  static constexpr uint64_t kMapSize = uint64_t{1} << 36;
#else
  static constexpr uint64_t kMapSize =
      sizeof(void*) >= 8 ? (uint64_t{1} << 40) : (uint64_t{1} << 30);
#endif
  static constexpr unsigned kMaxDbs = 16;
  static constexpr unsigned kMaxReaders = 1024;

  // The environment in directory `path` (absolute; created if missing),
  // shared with every other user in this process. Errors name the path.
  static absl::StatusOr<std::shared_ptr<LmdbEnv>> Open(const std::string& path);
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // The named database, created if missing. Handles are opened once per
  // environment and are valid as long as it is.
  absl::StatusOr<MDB_dbi> Db(const std::string& name);

  MDB_env* env() const { return env_; }
  const std::string& path() const { return path_; }

  // Status for an LMDB return code: MDB_MAP_FULL is ResourceExhausted,
  // MDB_CORRUPTED / MDB_PAGE_NOTFOUND / MDB_BAD_TXN DataLoss, errno values as
  // by ErrnoStatus, the rest Unavailable. `what` names the operation; the
  // environment's path is added.
  absl::Status Error(int rc, std::string_view what) const;
  static absl::Status LmdbError(int rc, std::string_view what, std::string_view path);

 private:
  LmdbEnv(MDB_env* env, std::string path) : env_(env), path_(std::move(path)) {}

  MDB_env* const env_;
  const std::string path_;
  castor::Mutex dbs_mu_;
  std::map<std::string, MDB_dbi> dbs_ ABSL_GUARDED_BY(dbs_mu_);
};

// A transaction, aborted on destruction unless committed.
class LmdbTxn {
 public:
  static absl::StatusOr<LmdbTxn> Begin(const LmdbEnv& env, bool write);
  LmdbTxn(LmdbTxn&& other) noexcept : env_(other.env_), txn_(other.txn_) { other.txn_ = nullptr; }
  LmdbTxn& operator=(LmdbTxn&&) = delete;
  ~LmdbTxn() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }

  MDB_txn* get() const { return txn_; }
  absl::Status Commit();

  // The value under `key` (valid until the transaction ends), nullopt when
  // absent.
  absl::StatusOr<std::optional<std::string_view>> Get(MDB_dbi dbi, std::string_view key) const;
  absl::Status Put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Whether the key existed.
  absl::StatusOr<bool> Del(MDB_dbi dbi, std::string_view key);

 private:
  LmdbTxn(const LmdbEnv* env, MDB_txn* txn) : env_(env), txn_(txn) {}
  const LmdbEnv* env_;
  MDB_txn* txn_;
};

inline MDB_val ToVal(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view FromVal(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

}  // namespace castor::castore
