#include "rpc/register.h"

#include "base/status.h"
#include "castore/composition.h"
#include "rpc/channel.h"
#include "rpc/grpc_blob_service.h"
#include "rpc/grpc_directory_service.h"
#include "rpc/grpc_root_service.h"

namespace castor::rpc {

void RegisterGrpcSchemes() {
  using castore::ServiceAddress;
  for (const char* scheme : {"grpc+unix", "grpc+http", "grpc+https"}) {
    castore::RegisterBlobScheme(
        scheme,
        [](const ServiceAddress& a) -> absl::StatusOr<std::shared_ptr<castore::BlobService>> {
          ASSIGN_OR_RETURN(auto channel, OpenChannel(a));
          return std::make_shared<GrpcBlobService>(std::move(channel), a.original);
        });
    castore::RegisterDirectoryScheme(
        scheme,
        [](const ServiceAddress& a) -> absl::StatusOr<std::shared_ptr<castore::DirectoryService>> {
          ASSIGN_OR_RETURN(auto channel, OpenChannel(a));
          return std::make_shared<GrpcDirectoryService>(std::move(channel), a.original);
        });
    castore::RegisterRootScheme(
        scheme,
        [](const ServiceAddress& a) -> absl::StatusOr<std::shared_ptr<castore::RootService>> {
          ASSIGN_OR_RETURN(auto channel, OpenChannel(a));
          return std::make_shared<GrpcRootService>(std::move(channel), a.original);
        });
  }
}

}  // namespace castor::rpc
