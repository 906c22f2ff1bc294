// Opening stores from addresses with every backend castor has: the
// castore schemes (memory://, file://, lmdb://), the gRPC clients
// (grpc+unix://, grpc+http://, grpc+https://) and object storage (s3://),
// for the castore services and for Nix path infos. The registries live
// below (castore/composition.h, nix/pathinfo/composition.h) and know no
// backend above them; this is where the backends are put together, so a
// caller never has to remember to register a scheme first.
// Thread-safe: the first call registers every scheme, once.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "castore/composition.h"
#include "nix/pathinfo/path_info_service.h"

namespace castor::stores {

absl::StatusOr<castore::Services> OpenServices(const castore::StoreAddresses& addrs);
absl::StatusOr<std::shared_ptr<castore::BlobService>> OpenBlobService(std::string_view addr);
absl::StatusOr<std::shared_ptr<nix::PathInfoService>> OpenPathInfoService(std::string_view addr);

}  // namespace castor::stores
