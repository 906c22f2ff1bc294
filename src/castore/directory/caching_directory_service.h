// CachingDirectoryService: a DirectoryService in front of a remote one,
// keeping what it reads in a local DirectoryService (e.g. lmdb://). A miss
// fetches the whole closure below the Directory asked for (one recursive
// Get, verified by the remote client) and stores it locally leaves-first, so
// the local store only ever holds complete closures and later lookups below
// it never leave the machine. Writes, ForEach and Delete go to the remote.
// Thread-safe.
#pragma once

#include <memory>

#include "castore/directory/directory_service.h"

namespace castor::castore {

class CachingDirectoryService : public DirectoryService {
 public:
  CachingDirectoryService(std::shared_ptr<DirectoryService> local,
                          std::shared_ptr<DirectoryService> remote)
      : local_(std::move(local)), remote_(std::move(remote)) {}

  absl::StatusOr<std::optional<Directory>> Get(const B3Digest& digest) override;
  absl::StatusOr<B3Digest> Put(const Directory& directory) override;
  absl::StatusOr<std::unique_ptr<DirectoryPutter>> OpenPutter() override;
  absl::Status GetRecursive(const B3Digest& root,
                            const std::function<absl::Status(const Directory&)>& fn) override;
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&)>& fn) override;
  absl::Status Delete(std::span<const B3Digest> digests) override;

 private:
  // Fetches root's closure from the remote and stores it locally. Returns it
  // in the remote's (breadth-first) order, or nullopt when root is unknown.
  absl::StatusOr<std::optional<std::vector<Directory>>> Fetch(const B3Digest& root);

  std::shared_ptr<DirectoryService> local_;
  std::shared_ptr<DirectoryService> remote_;
};

}  // namespace castor::castore
