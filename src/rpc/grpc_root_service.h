// GrpcRootService (`grpc+unix://`, `grpc+http://`): a RootService over
// castor.v1.RootService. Roots received are validated (names, nodes, the
// name inside the node); a daemon breaking the rules gives DataLoss. Every
// call is bounded by `timeouts` (rpc/call_watchdog.h). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "castor/v1/roots.grpc.pb.h"
#include "castore/roots/root_service.h"
#include "grpcpp/channel.h"
#include "rpc/call_watchdog.h"

namespace castor::rpc {

class GrpcRootService : public castore::RootService {
 public:
  GrpcRootService(std::shared_ptr<grpc::Channel> channel, std::string address,
                  CallTimeouts timeouts = DefaultCallTimeouts());
  ~GrpcRootService() override;

  absl::StatusOr<std::optional<castore::Entry>> Get(const castore::PathComponent& name) override;
  absl::Status List(const std::function<absl::Status(const castore::Entry&)>& fn) override;
  absl::Status Put(const castore::Entry& root) override;
  absl::StatusOr<bool> Remove(const castore::PathComponent& name) override;

 private:
  std::string address_;
  CallTimeouts timeouts_;
  std::unique_ptr<castor::v1::RootService::Stub> stub_;
};

}  // namespace castor::rpc
