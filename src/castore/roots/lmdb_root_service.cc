#include "castore/roots/lmdb_root_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::castore {

absl::StatusOr<std::shared_ptr<LmdbRootService>> LmdbRootService::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::shared_ptr<LmdbEnv> env, LmdbEnv::Open(path));
  return Open(std::move(env));
}

absl::StatusOr<std::shared_ptr<LmdbRootService>> LmdbRootService::Open(
    std::shared_ptr<LmdbEnv> env) {
  ASSIGN_OR_RETURN(MDB_dbi dbi, env->Db(kDbName));
  return std::shared_ptr<LmdbRootService>(new LmdbRootService(std::move(env), dbi));
}

absl::StatusOr<Entry> LmdbRootService::Decode(std::string_view key, std::string_view value) const {
  auto entry = DecodeEntry(value);
  if (!entry.ok()) {
    return absl::DataLossError(
        absl::StrCat("root ", QuoteName(key), " in LMDB ", env_->path(),
                     ": stored value does not decode: ", entry.status().message()));
  }
  if (entry->name.str() != key) {
    return absl::DataLossError(absl::StrCat("root ", QuoteName(key), " in LMDB ", env_->path(),
                                            ": stored entry is named ",
                                            QuoteName(entry->name.str())));
  }
  return entry;
}

absl::StatusOr<std::optional<Entry>> LmdbRootService::Get(const PathComponent& name) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
  ASSIGN_OR_RETURN(std::optional<std::string_view> value, txn.Get(dbi_, name.str()));
  if (!value.has_value()) return std::nullopt;
  return Decode(name.str(), *value);
}

absl::Status LmdbRootService::List(const std::function<absl::Status(const Entry&)>& fn) {
  // Roots are few: read them all in one snapshot, then call `fn` with no
  // transaction open.
  std::vector<Entry> all;
  {
    ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn.get(), dbi_, &cursor);
    if (rc != 0) return env_->Error(rc, "open cursor on roots");
    MDB_val k, v;
    absl::Status status;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      auto entry = Decode(FromVal(k), FromVal(v));
      if (!entry.ok()) {
        status = entry.status();
        break;
      }
      all.push_back(*std::move(entry));
    }
    mdb_cursor_close(cursor);
    RETURN_IF_ERROR(status);
    if (rc != MDB_NOTFOUND) return env_->Error(rc, "iterate roots");
  }
  for (const Entry& e : all) RETURN_IF_ERROR(fn(e));
  return absl::OkStatus();
}

absl::Status LmdbRootService::Put(const Entry& root) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  RETURN_IF_ERROR(Annotate(txn.Put(dbi_, root.name.str(), EncodeEntry(root)),
                           absl::StrCat("storing root ", QuoteName(root.name.str()))));
  return txn.Commit();
}

absl::StatusOr<bool> LmdbRootService::Remove(const PathComponent& name) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  ASSIGN_OR_RETURN(bool existed, txn.Del(dbi_, name.str()));
  if (!existed) return false;
  RETURN_IF_ERROR(txn.Commit());
  return true;
}

}  // namespace castor::castore
