// Directories and roots in an S3 bucket (docs/s3.md), beside the blobs of
// S3BlobService.
//
// S3DirectoryService keeps one object per Directory (castor/dirs/b3/...,
// its canonical encoding, which hashes to its digest). A putter validates
// the closure as it arrives (ClosurePutter) and uploads it at Close, in
// parallel, with the last Directory (the root) only after every other one is
// readable: a Directory is never visible before what it refers to, so a root
// that points at it (RootService, written after Close) finds a whole closure.
// Get checks each object against its digest (DataLoss otherwise).
//
// S3RootService keeps one object per root (castor/roots/NAME, the Entry's
// encoding). A PUT replaces an object atomically, so concurrent writers of
// one name from any number of machines leave exactly one of their entries,
// whole (the last to arrive), never a torn one.
//
// Both are stateless: any number of services on one bucket see the same
// store. Enumeration and deletion of Directories (gc) are Unimplemented.
// Thread-safe.
#pragma once

#include <memory>

#include "castore/directory/directory_service.h"
#include "castore/roots/root_service.h"
#include "s3/s3_client.h"

namespace castor::s3store {

class S3DirectoryService : public castore::DirectoryService {
 public:
  explicit S3DirectoryService(std::shared_ptr<s3::S3Client> client) : client_(std::move(client)) {}

  absl::StatusOr<std::optional<castore::Directory>> Get(const castore::B3Digest& digest) override;
  absl::StatusOr<castore::B3Digest> Put(const castore::Directory& directory) override;
  absl::StatusOr<std::unique_ptr<castore::DirectoryPutter>> OpenPutter() override;
  absl::Status GetRecursive(
      const castore::B3Digest& root,
      const std::function<absl::Status(const castore::Directory&)>& fn) override;
  absl::Status ForEach(const std::function<absl::Status(const castore::B3Digest&)>& fn) override;
  absl::Status Delete(std::span<const castore::B3Digest> digests) override;

 private:
  absl::StatusOr<std::optional<uint64_t>> StoredSize(const castore::B3Digest& digest);
  // Uploads `directories`, the last one after all others are stored.
  absl::Status Commit(const std::vector<castore::Directory>& directories);

  const std::shared_ptr<s3::S3Client> client_;
};

class S3RootService : public castore::RootService {
 public:
  explicit S3RootService(std::shared_ptr<s3::S3Client> client) : client_(std::move(client)) {}

  absl::StatusOr<std::optional<castore::Entry>> Get(const castore::PathComponent& name) override;
  absl::Status List(const std::function<absl::Status(const castore::Entry&)>& fn) override;
  absl::Status Put(const castore::Entry& root) override;
  absl::StatusOr<bool> Remove(const castore::PathComponent& name) override;

 private:
  absl::StatusOr<castore::Entry> Decode(std::string_view name, std::string_view key,
                                        std::string_view object) const;

  const std::shared_ptr<s3::S3Client> client_;
};

}  // namespace castor::s3store
