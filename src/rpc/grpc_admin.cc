#include "rpc/grpc_admin.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castor/v1/admin.grpc.pb.h"
#include "castore/composition.h"
#include "rpc/channel.h"
#include "rpc/status.h"

namespace castor::rpc {

absl::StatusOr<castore::GcStats> CollectGarbageThrough(const std::string& address, bool dry_run) {
  ASSIGN_OR_RETURN(castore::ServiceAddress addr, castore::ServiceAddress::Parse(address));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, OpenChannel(addr));
  auto stub = ::castor::v1::AdminService::NewStub(channel);
  grpc::ClientContext ctx;
  ::castor::v1::CollectGarbageRequest req;
  req.set_dry_run(dry_run);
  ::castor::v1::CollectGarbageResponse resp;
  grpc::Status s = stub->CollectGarbage(&ctx, req, &resp);
  std::string what = absl::StrCat("AdminService.CollectGarbage at ", address);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return absl::UnimplementedError(
        absl::StrCat(what,
                     ": the daemon does not serve castor.v1.AdminService (it was started "
                     "with --admin off, or it is not a castor daemon)"));
  }
  if (!s.ok()) return FromGrpcStatus(s, what);
  return castore::GcStats{.roots = resp.roots(),
                          .blobs_kept = resp.blobs_kept(),
                          .blobs_deleted = resp.blobs_deleted(),
                          .bytes_kept = resp.bytes_kept(),
                          .bytes_freed = resp.bytes_freed(),
                          .directories_kept = resp.directories_kept(),
                          .directories_deleted = resp.directories_deleted()};
}

}  // namespace castor::rpc
