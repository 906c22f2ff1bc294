#include "castore/directory/lmdb_directory_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/directory/closure.h"

namespace castor::castore {
namespace {

constexpr size_t kForEachBatch = 4096;

}  // namespace

absl::StatusOr<std::shared_ptr<LmdbDirectoryService>> LmdbDirectoryService::Open(
    const std::string& path, const std::string& db) {
  ASSIGN_OR_RETURN(std::shared_ptr<LmdbEnv> env, LmdbEnv::Open(path));
  return Open(std::move(env), db);
}

absl::StatusOr<std::shared_ptr<LmdbDirectoryService>> LmdbDirectoryService::Open(
    std::shared_ptr<LmdbEnv> env, const std::string& db) {
  ASSIGN_OR_RETURN(MDB_dbi dbi, env->Db(db));
  return std::shared_ptr<LmdbDirectoryService>(new LmdbDirectoryService(std::move(env), dbi));
}

absl::StatusOr<std::optional<Directory>> LmdbDirectoryService::GetIn(const LmdbTxn& txn,
                                                                     const B3Digest& digest) {
  ASSIGN_OR_RETURN(std::optional<std::string_view> value, txn.Get(dbi_, digest.raw()));
  if (!value.has_value()) return std::nullopt;
  auto dir = Directory::Decode(*value);
  if (!dir.ok()) {
    return absl::DataLossError(
        absl::StrCat("directory ", digest.ToB3(), " in LMDB ", env_->path(),
                     ": stored value does not decode: ", dir.status().message()));
  }
  if (dir->digest() != digest) {
    return absl::DataLossError(absl::StrCat("directory ", digest.ToB3(), " in LMDB ", env_->path(),
                                            ": stored value hashes to ", dir->digest().ToB3()));
  }
  return *std::move(dir);
}

absl::StatusOr<std::optional<Directory>> LmdbDirectoryService::Get(const B3Digest& digest) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
  return GetIn(txn, digest);
}

absl::StatusOr<std::optional<uint64_t>> LmdbDirectoryService::StoredSize(const B3Digest& digest) {
  ASSIGN_OR_RETURN(std::optional<Directory> dir, Get(digest));
  if (!dir.has_value()) return std::nullopt;
  return dir->size();
}

absl::Status LmdbDirectoryService::WriteAll(std::span<const Directory> directories) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  for (const Directory& d : directories) {
    // Content-addressed: an existing value is the same Directory (or, if
    // corrupt, replaced by the good one).
    ASSIGN_OR_RETURN(std::optional<std::string_view> existing, txn.Get(dbi_, d.digest().raw()));
    std::string encoded = d.Encode();
    if (existing.has_value() && *existing == encoded) continue;
    RETURN_IF_ERROR(Annotate(txn.Put(dbi_, d.digest().raw(), encoded),
                             absl::StrCat("storing directory ", d.digest().ToB3())));
  }
  return txn.Commit();
}

absl::StatusOr<B3Digest> LmdbDirectoryService::Put(const Directory& directory) {
  ASSIGN_OR_RETURN(auto putter, OpenPutter());
  RETURN_IF_ERROR(putter->Put(directory));
  return putter->Close();
}

absl::StatusOr<std::unique_ptr<DirectoryPutter>> LmdbDirectoryService::OpenPutter() {
  return std::make_unique<ClosurePutter>(
      [this](const B3Digest& d) { return StoredSize(d); },
      [this](const std::vector<Directory>& dirs) { return WriteAll(dirs); });
}

absl::Status LmdbDirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
  // One read transaction for the whole walk: a consistent snapshot.
  return WalkClosure([&](const B3Digest& d) { return GetIn(txn, d); }, root, fn);
}

absl::Status LmdbDirectoryService::ForEach(const std::function<absl::Status(const B3Digest&)>& fn) {
  // In batches, each from its own read transaction, so that `fn` runs with no
  // transaction open and memory stays bounded.
  std::optional<std::string> after;
  while (true) {
    std::vector<B3Digest> batch;
    {
      ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
      MDB_cursor* cursor = nullptr;
      int rc = mdb_cursor_open(txn.get(), dbi_, &cursor);
      if (rc != 0) return env_->Error(rc, "open cursor on directories");
      MDB_val k, v;
      if (after.has_value()) {
        k = ToVal(*after);
        rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && FromVal(k) == *after) rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      } else {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
      }
      absl::Status status;
      while (rc == 0 && batch.size() < kForEachBatch) {
        auto digest = B3Digest::FromBytes(FromVal(k));
        if (!digest.ok()) {
          status = absl::DataLossError(absl::StrCat("LMDB ", env_->path(), ": directories key ",
                                                    absl::BytesToHexString(ToAbslView(FromVal(k))),
                                                    " is not a 32-byte digest"));
          break;
        }
        batch.push_back(*digest);
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
      mdb_cursor_close(cursor);
      RETURN_IF_ERROR(status);
      if (rc != 0 && rc != MDB_NOTFOUND) return env_->Error(rc, "iterate directories");
    }
    if (batch.empty()) return absl::OkStatus();
    for (const B3Digest& d : batch) RETURN_IF_ERROR(fn(d));
    if (batch.size() < kForEachBatch) return absl::OkStatus();
    after = std::string(batch.back().raw());
  }
}

absl::Status LmdbDirectoryService::Delete(std::span<const B3Digest> digests) {
  ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  for (const B3Digest& d : digests) {
    RETURN_IF_ERROR(txn.Del(dbi_, d.raw()).status());
  }
  return txn.Commit();
}

}  // namespace castor::castore
