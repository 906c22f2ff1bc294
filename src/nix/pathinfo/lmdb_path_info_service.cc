#include "nix/pathinfo/lmdb_path_info_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {

using castore::FromVal;
using castore::LmdbEnv;
using castore::LmdbTxn;
using castore::ToVal;

absl::StatusOr<std::shared_ptr<LmdbPathInfoService>> LmdbPathInfoService::Open(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::shared_ptr<LmdbEnv> env, LmdbEnv::Open(path));
  return Open(std::move(env));
}

absl::StatusOr<std::shared_ptr<LmdbPathInfoService>> LmdbPathInfoService::Open(
    std::shared_ptr<LmdbEnv> env) {
  ASSIGN_OR_RETURN(MDB_dbi dbi, env->Db(kDbName));
  return std::shared_ptr<LmdbPathInfoService>(new LmdbPathInfoService(std::move(env), dbi));
}

absl::StatusOr<PathInfo> LmdbPathInfoService::Decode(std::string_view key,
                                                     std::string_view value) const {
  const std::string what =
      absl::StrCat("path info ", NixBase32Encode(key), " in LMDB ", env_->path());
  if (key.size() != StorePath::kDigestSize) {
    return absl::DataLossError(
        absl::StrCat(what, ": key is ", key.size(), " bytes, not ", StorePath::kDigestSize));
  }
  auto info = PathInfo::Decode(value);
  if (!info.ok()) {
    return absl::DataLossError(
        absl::StrCat(what, ": stored value does not decode: ", info.status().message()));
  }
  if (info->store_path().digest_bytes() != key) {
    return absl::DataLossError(
        absl::StrCat(what, ": stored value is for ", info->store_path().BaseName()));
  }
  return info;
}

absl::StatusOr<std::optional<PathInfo>> LmdbPathInfoService::Get(const StorePath::Digest& digest) {
  std::string_view key(reinterpret_cast<const char*>(digest.data()), digest.size());
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
  ASSIGN_OR_RETURN(std::optional<std::string_view> value, txn.Get(dbi_, key));
  if (!value.has_value()) return std::nullopt;
  return Decode(key, *value);
}

absl::StatusOr<PathInfo> LmdbPathInfoService::Put(const PathInfo& info) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  RETURN_IF_ERROR(Annotate(txn.Put(dbi_, info.store_path().digest_bytes(), info.Encode()),
                           absl::StrCat("storing path info ", info.store_path().BaseName())));
  RETURN_IF_ERROR(txn.Commit());
  return info;
}

absl::StatusOr<bool> LmdbPathInfoService::Remove(const StorePath::Digest& digest) {
  std::string_view key(reinterpret_cast<const char*>(digest.data()), digest.size());
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  ASSIGN_OR_RETURN(bool existed, txn.Del(dbi_, key));
  RETURN_IF_ERROR(txn.Commit());
  return existed;
}

absl::Status LmdbPathInfoService::List(const std::function<absl::Status(const PathInfo&)>& fn) {
  std::string after;  // last key handed out; empty before the first batch
  for (;;) {
    std::vector<PathInfo> batch;
    {
      ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
      MDB_cursor* cursor = nullptr;
      int rc = mdb_cursor_open(txn.get(), dbi_, &cursor);
      if (rc != 0) return env_->Error(rc, "open cursor on path infos");
      MDB_val k = ToVal(after), v;
      rc = after.empty() ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                         : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      if (rc == 0 && !after.empty() && FromVal(k) == after) {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
      absl::Status status;
      for (; rc == 0 && batch.size() < kListBatch; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        auto info = Decode(FromVal(k), FromVal(v));
        if (!info.ok()) {
          status = info.status();
          break;
        }
        after.assign(FromVal(k));
        batch.push_back(*std::move(info));
      }
      mdb_cursor_close(cursor);
      RETURN_IF_ERROR(status);
      if (rc != 0 && rc != MDB_NOTFOUND) return env_->Error(rc, "iterate path infos");
    }
    for (const PathInfo& info : batch) RETURN_IF_ERROR(fn(info));
    if (batch.size() < kListBatch) return absl::OkStatus();
  }
}

}  // namespace castor::nix
