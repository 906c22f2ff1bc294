#include "stores/stores.h"

#include <mutex>

#include "nix/pathinfo/composition.h"
#include "rpc/grpc_path_info_service.h"
#include "rpc/register.h"
#include "s3store/register.h"

namespace castor::stores {

namespace {

void RegisterEverySchemeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    rpc::RegisterGrpcSchemes();
    rpc::RegisterGrpcPathInfoSchemes();
    s3store::RegisterS3Schemes();
  });
}

}  // namespace

absl::StatusOr<castore::Services> OpenServices(const castore::StoreAddresses& addrs) {
  RegisterEverySchemeOnce();
  return castore::OpenServices(addrs);
}

absl::StatusOr<std::shared_ptr<castore::BlobService>> OpenBlobService(std::string_view addr) {
  RegisterEverySchemeOnce();
  return castore::OpenBlobService(addr);
}

absl::StatusOr<std::shared_ptr<nix::PathInfoService>> OpenPathInfoService(std::string_view addr) {
  RegisterEverySchemeOnce();
  return nix::OpenPathInfoService(addr);
}

}  // namespace castor::stores
