// GrpcDirectoryService (`grpc+unix://`, `grpc+http://`): a DirectoryService
// over tvix.castore.v1.DirectoryService. Every Directory received is checked
// against the rules (Directory::FromProto) and against its digest: Get
// compares with the digest asked for; GetRecursive accepts a Directory only
// when an earlier (verified) one refers to it, with the right size, each
// once, and the closure must be complete. Anything else is DataLoss and is
// never handed out. Every call is bounded by `timeouts`
// (rpc/call_watchdog.h). Thread-safe; putters as DirectoryService says.
#pragma once

#include <memory>
#include <string>

#include "castore/directory/directory_service.h"
#include "grpcpp/channel.h"
#include "rpc/call_watchdog.h"
#include "tvix/castore/protos/rpc_directory.grpc.pb.h"

namespace castor::rpc {

class GrpcDirectoryService : public castore::DirectoryService {
 public:
  GrpcDirectoryService(std::shared_ptr<grpc::Channel> channel, std::string address,
                       CallTimeouts timeouts = DefaultCallTimeouts());
  ~GrpcDirectoryService() override;

  absl::StatusOr<std::optional<castore::Directory>> Get(const castore::B3Digest& digest) override;
  absl::StatusOr<castore::B3Digest> Put(const castore::Directory& directory) override;
  absl::StatusOr<std::unique_ptr<castore::DirectoryPutter>> OpenPutter() override;
  absl::Status GetRecursive(
      const castore::B3Digest& root,
      const std::function<absl::Status(const castore::Directory&)>& fn) override;
  absl::Status ForEach(const std::function<absl::Status(const castore::B3Digest&)>& fn) override;
  absl::Status Delete(std::span<const castore::B3Digest> digests) override;

 private:
  std::string address_;
  CallTimeouts timeouts_;
  // Shared with the writers/putters, which may outlive this object.
  std::shared_ptr<tvix::castore::v1::DirectoryService::Stub> stub_;
};

}  // namespace castor::rpc
