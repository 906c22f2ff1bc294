// NixStore: castor as a Nix store: the castore services (blobs, Directories,
// roots) plus a PathInfoService, kept so that every path info has a root:
// the root named by the store path's base name ("<hash>-<name>") points at
// the path info's node, so `castor mount` shows the paths as a /nix/store
// and `castor gc` keeps their contents.
//
// The coupling, in both directions:
//   - NixStore::Add makes the contents durable (BlobService::Sync), sets
//     the root, then stores the path info. A crash in between leaves a root
//     without a path info (visible in the mount, not served to Nix, fixed by
//     adding the path again), never a path info whose contents gc may take.
//   - PathInfoBoundRootService, a RootService decorator, removes the path
//     info of a root that is removed (`castor rm`, RootService.Remove of a
//     daemon) or replaced by a different node (`castor import --name` of a
//     store path's base name), before it changes the root.
// Thread-safe (the services are).
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "castore/composition.h"
#include "castore/roots/root_service.h"
#include "nix/path_info.h"
#include "nix/pathinfo/path_info_service.h"
#include "nix/store_path.h"

namespace castor::nix {

// The root name of a store path: its base name.
castore::PathComponent RootName(const StorePath& path);

class PathInfoBoundRootService : public castore::RootService {
 public:
  PathInfoBoundRootService(std::shared_ptr<castore::RootService> roots,
                           std::shared_ptr<PathInfoService> path_infos)
      : roots_(std::move(roots)), path_infos_(std::move(path_infos)) {}

  absl::StatusOr<std::optional<castore::Entry>> Get(const castore::PathComponent& name) override {
    return roots_->Get(name);
  }
  absl::Status List(const std::function<absl::Status(const castore::Entry&)>& fn) override {
    return roots_->List(fn);
  }
  // Drops the path info named like the root when its node differs.
  absl::Status Put(const castore::Entry& root) override;
  // Drops the path info named like the root, then the root.
  absl::StatusOr<bool> Remove(const castore::PathComponent& name) override;

 private:
  // The path info bound to the root `name` (a store path's base name whose
  // path info has exactly that store path), or nullopt.
  absl::StatusOr<std::optional<PathInfo>> Bound(const castore::PathComponent& name);

  const std::shared_ptr<castore::RootService> roots_;
  const std::shared_ptr<PathInfoService> path_infos_;
};

class NixStore {
 public:
  NixStore(castore::Services services, std::shared_ptr<PathInfoService> path_infos)
      : services_(std::move(services)), path_infos_(std::move(path_infos)) {}

  const castore::Services& services() const { return services_; }
  castore::BlobService& blobs() const { return *services_.blobs; }
  castore::DirectoryService& directories() const { return *services_.directories; }
  PathInfoService& path_infos() const { return *path_infos_; }
  const std::shared_ptr<PathInfoService>& path_info_service() const { return path_infos_; }

  // Adds (or replaces) a path whose contents are stored: syncs the blobs,
  // sets its root, stores the path info. Returns what the path info service
  // stored.
  absl::StatusOr<PathInfo> Add(const PathInfo& info) const;

  // The path info of `path` (by its digest, as Nix looks paths up), nullopt
  // when unknown or when the digest belongs to a path of another name.
  absl::StatusOr<std::optional<PathInfo>> Get(const StorePath& path) const;

  // Removes the path info, then the root. Whether there was a path info.
  absl::StatusOr<bool> Remove(const StorePath& path) const;

 private:
  castore::Services services_;
  std::shared_ptr<PathInfoService> path_infos_;
};

}  // namespace castor::nix
