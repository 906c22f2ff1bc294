#include "castore/lmdb_env.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore {
namespace {

struct Registry {
  castor::Mutex mu;
  std::map<std::string, std::weak_ptr<LmdbEnv>> envs ABSL_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static auto* r = new Registry;
  return *r;
}

absl::Status MkdirAll(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (prefix.back() == '/') continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", prefix));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LmdbEnv::Error(int rc, std::string_view what) const {
  return LmdbError(rc, what, path_);
}

absl::Status LmdbEnv::LmdbError(int rc, std::string_view what, std::string_view path) {
  std::string msg = absl::StrCat(ToAbslView(what), " in LMDB ", ToAbslView(path));
  switch (rc) {
    case MDB_MAP_FULL:
      return absl::ResourceExhaustedError(
          absl::StrCat(msg, ": database is full (map size ", kMapSize >> 30, " GiB)"));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_BAD_TXN:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return absl::DataLossError(absl::StrCat(msg, ": ", mdb_strerror(rc)));
    case MDB_BAD_VALSIZE:
      return absl::InvalidArgumentError(absl::StrCat(msg, ": ", mdb_strerror(rc)));
    default:
      if (rc > 0 && rc < MDB_KEYEXIST) return ErrnoStatus(rc, msg);
      return absl::UnavailableError(absl::StrCat(msg, ": ", mdb_strerror(rc)));
  }
}

absl::StatusOr<std::shared_ptr<LmdbEnv>> LmdbEnv::Open(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("LMDB path '", path, "' must be absolute"));
  }
  RETURN_IF_ERROR(MkdirAll(path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path));
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("LMDB path ", path, " is not a directory"));
  }
  // One key per directory, however it is spelled.
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) return ErrnoStatus(errno, absl::StrCat("realpath ", path));
  std::string key = real;
  std::free(real);

  Registry& registry = TheRegistry();
  castor::MutexLock lock(&registry.mu);
  // An expired entry is an environment whose destructor has not closed it
  // yet: wait for that (it erases the entry) before opening the path again.
  while (true) {
    registry.mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry.mu) {
      auto it = registry.envs.find(key);
      return it == registry.envs.end() || !it->second.expired();
    });
    auto it = registry.envs.find(key);
    if (it == registry.envs.end()) break;
    if (auto env = it->second.lock()) return env;
    // Its last user just went: wait for the destructor.
  }

  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("mdb_env_create for ", path, ": ", mdb_strerror(rc)));
  }
  const char* step = "set map size";
  rc = mdb_env_set_mapsize(raw, kMapSize);
  if (rc == 0) {
    step = "set max dbs";
    rc = mdb_env_set_maxdbs(raw, kMaxDbs);
  }
  if (rc == 0) {
    step = "set max readers";
    rc = mdb_env_set_maxreaders(raw, kMaxReaders);
  }
  if (rc == 0) {
    step = "open";
    rc = mdb_env_open(raw, key.c_str(), MDB_NOTLS, 0644);
  }
  if (rc != 0) {
    mdb_env_close(raw);
    return LmdbError(rc, step, key);
  }
  // Only now owned by an LmdbEnv: its destructor takes the registry lock.
  std::shared_ptr<LmdbEnv> env(new LmdbEnv(raw, key));
  int dead = 0;
  mdb_reader_check(raw, &dead);
  if (dead > 0) spdlog::info("LMDB {}: cleared {} stale reader slots", key, dead);
  registry.envs[key] = env;
  return env;
}

LmdbEnv::~LmdbEnv() {
  // Closed under the registry lock, so that Open never opens this path again
  // while it is still being closed (closing the old lock file descriptor
  // would drop the new environment's POSIX locks). Named database handles
  // close with the environment.
  Registry& registry = TheRegistry();
  castor::MutexLock lock(&registry.mu);
  mdb_env_close(env_);
  if (auto it = registry.envs.find(path_); it != registry.envs.end() && it->second.expired()) {
    registry.envs.erase(it);  // wakes an Open waiting for this path
  }
}

absl::StatusOr<MDB_dbi> LmdbEnv::Db(const std::string& name) {
  castor::MutexLock lock(&dbs_mu_);
  if (auto it = dbs_.find(name); it != dbs_.end()) return it->second;
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*this, /*write=*/true));
  MDB_dbi dbi;
  int rc = mdb_dbi_open(txn.get(), name.c_str(), MDB_CREATE, &dbi);
  if (rc != 0) return Error(rc, absl::StrCat("open database '", name, "'"));
  RETURN_IF_ERROR(txn.Commit());
  dbs_[name] = dbi;
  return dbi;
}

absl::StatusOr<LmdbTxn> LmdbTxn::Begin(const LmdbEnv& env, bool write) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env.env(), nullptr, write ? 0 : MDB_RDONLY, &txn);
  if (rc != 0) return env.Error(rc, write ? "begin write transaction" : "begin read transaction");
  return LmdbTxn(&env, txn);
}

absl::Status LmdbTxn::Commit() {
  MDB_txn* txn = txn_;
  txn_ = nullptr;
  int rc = mdb_txn_commit(txn);  // frees the transaction even on failure
  if (rc != 0) return env_->Error(rc, "commit");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string_view>> LmdbTxn::Get(MDB_dbi dbi,
                                                             std::string_view key) const {
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != 0) return env_->Error(rc, "get");
  return FromVal(v);
}

absl::Status LmdbTxn::Put(MDB_dbi dbi, std::string_view key, std::string_view value,
                          unsigned flags) {
  MDB_val k = ToVal(key), v = ToVal(value);
  int rc = mdb_put(txn_, dbi, &k, &v, flags);
  if (rc == MDB_KEYEXIST && (flags & MDB_NOOVERWRITE)) return absl::OkStatus();
  if (rc != 0) return env_->Error(rc, "put");
  return absl::OkStatus();
}

absl::StatusOr<bool> LmdbTxn::Del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = ToVal(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return env_->Error(rc, "delete");
  return true;
}

}  // namespace castor::castore
