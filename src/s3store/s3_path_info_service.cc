#include "s3store/s3_path_info_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "s3store/layout.h"

namespace castor::s3store {
namespace {

std::string_view Bytes(const nix::StorePath::Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

std::string PathInfoKey(std::string_view digest) {
  return absl::StrCat(kPathInfosPrefix, absl::BytesToHexString(ToAbslView(digest)));
}

// The digest a path info key names; nullopt for any other object.
std::optional<std::string> DigestFromPathInfoKey(std::string_view key) {
  if (!key.starts_with(kPathInfosPrefix)) return std::nullopt;
  key.remove_prefix(sizeof(kPathInfosPrefix) - 1);
  if (key.size() != 2 * nix::StorePath::kDigestSize) return std::nullopt;
  for (char c : key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return std::string(absl::HexStringToBytes(ToAbslView(key)));
}

}  // namespace

absl::StatusOr<nix::PathInfo> S3PathInfoService::Decode(std::string_view digest,
                                                        std::string_view key,
                                                        std::string_view object) const {
  auto where = [&] {
    return absl::StrCat("path info ", client_->address().Display(), "/", ToAbslView(key));
  };
  auto info = nix::PathInfo::Decode(object);
  if (!info.ok()) {
    return absl::DataLossError(
        absl::StrCat(where(), ": object does not decode: ", info.status().message()));
  }
  if (info->store_path().digest_bytes() != digest) {
    return absl::DataLossError(
        absl::StrCat(where(), ": the object is for ", info->store_path().BaseName()));
  }
  return info;
}

absl::StatusOr<std::optional<nix::PathInfo>> S3PathInfoService::Get(
    const nix::StorePath::Digest& digest) {
  const std::string key = PathInfoKey(Bytes(digest));
  ASSIGN_OR_RETURN(std::optional<s3::GetResult> got, client_->Get(key));
  if (!got.has_value()) return std::nullopt;
  return Decode(Bytes(digest), key, got->data);
}

absl::StatusOr<nix::PathInfo> S3PathInfoService::Put(const nix::PathInfo& info) {
  RETURN_IF_ERROR(
      client_->Put(PathInfoKey(info.store_path().digest_bytes()), info.Encode()).status());
  return info;
}

absl::StatusOr<bool> S3PathInfoService::Remove(const nix::StorePath::Digest& digest) {
  const std::string key = PathInfoKey(Bytes(digest));
  ASSIGN_OR_RETURN(std::optional<s3::ObjectInfo> there, client_->Head(key));
  if (!there.has_value()) return false;
  RETURN_IF_ERROR(client_->Delete(key));
  return true;
}

absl::Status S3PathInfoService::List(const std::function<absl::Status(const nix::PathInfo&)>& fn) {
  return ForEachNamedObject(
      *client_, kPathInfosPrefix, DigestFromPathInfoKey,
      [&](const std::string& digest, const std::string& key, std::string_view object) {
        ASSIGN_OR_RETURN(nix::PathInfo info, Decode(digest, key, object));
        return fn(info);
      });
}

}  // namespace castor::s3store
