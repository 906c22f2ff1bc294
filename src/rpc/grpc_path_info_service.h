// GrpcPathInfoService (`grpc+unix://`, `grpc+http://`): a PathInfoService
// over tvix.store.v1.PathInfoService (a castor daemon, or a tvix/snix
// store). It trusts nothing it receives: every PathInfo is validated as Nix
// validates an untrusted one (nix/path_info.h), and must be the one asked
// for (Get: the requested digest; Put: the path sent); anything else is
// DataLoss naming the address. Remove is Unimplemented (the protocol has no
// such call: remove the path's root on the daemon, which drops its path
// info). List hands out what the server sends in its order. Every call is
// bounded by `timeouts` (rpc/call_watchdog.h). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "grpcpp/channel.h"
#include "nix/castore_nar.h"
#include "nix/pathinfo/path_info_service.h"
#include "rpc/call_watchdog.h"
#include "tvix/store/protos/rpc_pathinfo.grpc.pb.h"

namespace castor::rpc {

class GrpcPathInfoService : public nix::PathInfoService {
 public:
  GrpcPathInfoService(std::shared_ptr<grpc::Channel> channel, std::string address,
                      CallTimeouts timeouts = DefaultCallTimeouts());
  ~GrpcPathInfoService() override;

  absl::StatusOr<std::optional<nix::PathInfo>> Get(const nix::StorePath::Digest& digest) override;
  absl::StatusOr<nix::PathInfo> Put(const nix::PathInfo& info) override;
  absl::StatusOr<bool> Remove(const nix::StorePath::Digest& digest) override;
  absl::Status List(const std::function<absl::Status(const nix::PathInfo&)>& fn) override;

  // The server's CalculateNAR of a node whose closure it stores.
  absl::StatusOr<nix::NarSummary> CalculateNar(const castore::Entry& node);

 private:
  absl::StatusOr<nix::PathInfo> Received(const ::tvix::store::v1::PathInfo& proto,
                                         std::string_view what) const;

  std::string address_;
  CallTimeouts timeouts_;
  std::unique_ptr<::tvix::store::v1::PathInfoService::Stub> stub_;
};

// Registers grpc+unix:// and grpc+http:// with nix/pathinfo/composition.h.
// Call once at start-up, before threads (idempotent).
void RegisterGrpcPathInfoSchemes();

}  // namespace castor::rpc
