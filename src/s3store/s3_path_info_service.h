// S3PathInfoService: Nix path infos in a bucket, so that store paths live
// beside the blobs, Directories and roots of an s3:// store and many
// stateless daemons serve them. One object per store path,
// castor/pathinfos/HEX (HEX: the 20-byte store path digest in lowercase
// hex, so keys sort as the digests do), holding the path info's store.v1
// protobuf. A Put replaces (last writer wins, as for roots); Get checks that
// the object decodes and belongs to the digest asked for (DataLoss naming
// the key otherwise). snix keeps no path infos in object storage, so this
// layout is castor's own (docs/s3.md). Thread-safe.
#pragma once

#include <memory>

#include "nix/pathinfo/path_info_service.h"
#include "s3/s3_client.h"

namespace castor::s3store {

class S3PathInfoService : public nix::PathInfoService {
 public:
  explicit S3PathInfoService(std::shared_ptr<s3::S3Client> client) : client_(std::move(client)) {}

  absl::StatusOr<std::optional<nix::PathInfo>> Get(const nix::StorePath::Digest& digest) override;
  absl::StatusOr<nix::PathInfo> Put(const nix::PathInfo& info) override;
  absl::StatusOr<bool> Remove(const nix::StorePath::Digest& digest) override;
  absl::Status List(const std::function<absl::Status(const nix::PathInfo&)>& fn) override;

 private:
  absl::StatusOr<nix::PathInfo> Decode(std::string_view digest, std::string_view key,
                                       std::string_view object) const;

  const std::shared_ptr<s3::S3Client> client_;
};

}  // namespace castor::s3store
