#include "s3store/register.h"

#include "base/status.h"
#include "castore/composition.h"
#include "nix/pathinfo/composition.h"
#include "s3store/s3_blob_service.h"
#include "s3store/s3_metadata_services.h"
#include "s3store/s3_path_info_service.h"

namespace castor::s3store {

s3::S3ClientOptions StoreClientOptions() {
  s3::S3ClientOptions options;
  options.connect_timeout = absl::Seconds(5);
  options.idle_timeout = absl::Seconds(10);
  options.retry_budget = absl::Seconds(15);
  return options;
}

namespace {

// Every service of an address gets its own client (and connections).
absl::StatusOr<std::shared_ptr<s3::S3Client>> OpenClient(const castore::ServiceAddress& a) {
  ASSIGN_OR_RETURN(std::unique_ptr<s3::S3Client> client,
                   s3::S3Client::Open(a.original, StoreClientOptions()));
  return std::shared_ptr<s3::S3Client>(std::move(client));
}

}  // namespace

void RegisterS3Schemes() {
  castore::RegisterBlobScheme("s3",
                              [](const castore::ServiceAddress& a)
                                  -> absl::StatusOr<std::shared_ptr<castore::BlobService>> {
                                ASSIGN_OR_RETURN(auto client, OpenClient(a));
                                return S3BlobService::Create(std::move(client));
                              });
  castore::RegisterDirectoryScheme(
      "s3",
      [](const castore::ServiceAddress& a)
          -> absl::StatusOr<std::shared_ptr<castore::DirectoryService>> {
        ASSIGN_OR_RETURN(auto client, OpenClient(a));
        return std::make_shared<S3DirectoryService>(std::move(client));
      });
  castore::RegisterRootScheme("s3",
                              [](const castore::ServiceAddress& a)
                                  -> absl::StatusOr<std::shared_ptr<castore::RootService>> {
                                ASSIGN_OR_RETURN(auto client, OpenClient(a));
                                return std::make_shared<S3RootService>(std::move(client));
                              });
  nix::RegisterPathInfoScheme("s3",
                              [](const castore::ServiceAddress& a)
                                  -> absl::StatusOr<std::shared_ptr<nix::PathInfoService>> {
                                ASSIGN_OR_RETURN(auto client, OpenClient(a));
                                return std::make_shared<S3PathInfoService>(std::move(client));
                              });
}

}  // namespace castor::s3store
