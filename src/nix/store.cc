#include "nix/store.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::nix {

castore::PathComponent RootName(const StorePath& path) {
  auto name = castore::PathComponent::Create(path.BaseName());
  // A base name is at most 32 + 1 + 211 bytes of [A-Za-z0-9+-._?=].
  CASTOR_CHECK(name.ok());
  return *std::move(name);
}

absl::StatusOr<std::optional<PathInfo>> PathInfoBoundRootService::Bound(
    const castore::PathComponent& name) {
  auto path = StorePath::FromBaseName(name.str());
  if (!path.ok()) return std::nullopt;  // not a store path's root
  ASSIGN_OR_RETURN(std::optional<PathInfo> info, path_infos_->Get(path->digest()));
  if (!info.has_value() || info->store_path() != *path) return std::nullopt;
  return info;
}

absl::Status PathInfoBoundRootService::Put(const castore::Entry& root) {
  ASSIGN_OR_RETURN(std::optional<PathInfo> bound, Bound(root.name));
  if (bound.has_value() && bound->node() != root.node) {
    RETURN_IF_ERROR(Annotate(path_infos_->Remove(bound->store_path().digest()).status(),
                             absl::StrCat("replacing root ", castore::QuoteName(root.name.str()),
                                          ": removing its path info")));
  }
  return roots_->Put(root);
}

absl::StatusOr<bool> PathInfoBoundRootService::Remove(const castore::PathComponent& name) {
  ASSIGN_OR_RETURN(std::optional<PathInfo> bound, Bound(name));
  if (bound.has_value()) {
    RETURN_IF_ERROR(Annotate(path_infos_->Remove(bound->store_path().digest()).status(),
                             absl::StrCat("removing root ", castore::QuoteName(name.str()),
                                          ": removing its path info")));
  }
  return roots_->Remove(name);
}

absl::StatusOr<PathInfo> NixStore::Add(const PathInfo& info) const {
  const std::string what = absl::StrCat("adding ", info.store_path().ToAbsolutePath());
  // The root is the reference that keeps the blobs: durable first.
  RETURN_IF_ERROR(Annotate(services_.blobs->Sync(), what));
  RETURN_IF_ERROR(Annotate(
      services_.roots->Put(castore::Entry{RootName(info.store_path()), info.node()}), what));
  auto stored = path_infos_->Put(info);
  if (!stored.ok()) return Annotate(stored.status(), what);
  return stored;
}

absl::StatusOr<std::optional<PathInfo>> NixStore::Get(const StorePath& path) const {
  ASSIGN_OR_RETURN(std::optional<PathInfo> info, path_infos_->Get(path.digest()));
  if (info.has_value() && info->store_path() != path) return std::nullopt;
  return info;
}

absl::StatusOr<bool> NixStore::Remove(const StorePath& path) const {
  ASSIGN_OR_RETURN(std::optional<PathInfo> info, Get(path));
  bool existed = false;
  if (info.has_value()) {
    ASSIGN_OR_RETURN(existed, path_infos_->Remove(path.digest()));
  }
  RETURN_IF_ERROR(services_.roots->Remove(RootName(path)).status());
  return existed;
}

}  // namespace castor::nix
