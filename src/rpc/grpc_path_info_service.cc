#include "rpc/grpc_path_info_service.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"
#include "nix/pathinfo/composition.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "tvix/castore/protos/castore.pb.h"

namespace castor::rpc {
namespace {

namespace pb = ::tvix::store::v1;

std::string DigestText(const nix::StorePath::Digest& digest) {
  return nix::NixBase32Encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

}  // namespace

GrpcPathInfoService::GrpcPathInfoService(std::shared_ptr<grpc::Channel> channel,
                                         std::string address, CallTimeouts timeouts)
    : address_(std::move(address)),
      timeouts_(timeouts),
      stub_(pb::PathInfoService::NewStub(std::move(channel))) {}

GrpcPathInfoService::~GrpcPathInfoService() = default;

absl::StatusOr<nix::PathInfo> GrpcPathInfoService::Received(const pb::PathInfo& proto,
                                                            std::string_view what) const {
  auto info = nix::PathInfo::FromProto(proto);
  if (!info.ok()) {
    return absl::DataLossError(absl::StrCat(
        ToAbslView(what), ": received an invalid path info: ", info.status().message()));
  }
  return info;
}

absl::StatusOr<std::optional<nix::PathInfo>> GrpcPathInfoService::Get(
    const nix::StorePath::Digest& digest) {
  const std::string what =
      absl::StrCat("PathInfoService.Get ", DigestText(digest), " at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kUnary, timeouts_.unary);
  pb::GetPathInfoRequest req;
  req.set_by_output_hash(digest.data(), digest.size());
  pb::PathInfo resp;
  grpc::Status s = stub_->Get(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  RETURN_IF_ERROR(watch.Result(s, what));
  ASSIGN_OR_RETURN(nix::PathInfo info, Received(resp, what));
  if (info.store_path().digest() != digest) {
    return absl::DataLossError(absl::StrCat(what, ": received the path info of ",
                                            info.store_path().ToAbsolutePath(), " instead"));
  }
  return info;
}

absl::StatusOr<nix::PathInfo> GrpcPathInfoService::Put(const nix::PathInfo& info) {
  const std::string what =
      absl::StrCat("PathInfoService.Put ", info.store_path().ToAbsolutePath(), " at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kUnary, timeouts_.unary);
  pb::PathInfo resp;
  grpc::Status s = stub_->Put(&ctx, info.ToProto(), &resp);
  RETURN_IF_ERROR(watch.Result(s, what));
  ASSIGN_OR_RETURN(nix::PathInfo stored, Received(resp, what));
  // The server may add signatures; the rest must be what was sent.
  nix::PathInfo::Fields sent = info.fields(), got = stored.fields();
  sent.signatures.clear();
  got.signatures.clear();
  if (sent != got) {
    return absl::DataLossError(
        absl::StrCat(what, ": the server answered with a different path info"));
  }
  return stored;
}

absl::StatusOr<bool> GrpcPathInfoService::Remove(const nix::StorePath::Digest& digest) {
  return absl::UnimplementedError(absl::StrCat(
      "removing the path info of ", DigestText(digest), " at ", address_,
      ": tvix.store.v1.PathInfoService has no Remove; remove the path's root on the daemon "
      "(castor rm --root-service-addr ",
      address_, "), which drops its path info"));
}

absl::Status GrpcPathInfoService::List(
    const std::function<absl::Status(const nix::PathInfo&)>& fn) {
  const std::string what = absl::StrCat("PathInfoService.List at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kStream, timeouts_.idle);
  auto stream = stub_->List(&ctx, pb::ListPathInfoRequest());
  pb::PathInfo proto;
  absl::Status bad;
  while (stream->Read(&proto)) {
    watch.Progress();
    auto info = Received(proto, what);
    bad = info.ok() ? fn(*info) : info.status();
    if (!bad.ok()) break;
  }
  if (!bad.ok()) ctx.TryCancel();
  grpc::Status s = stream->Finish();
  if (!bad.ok()) return bad;
  return watch.Result(s, what);
}

absl::StatusOr<nix::NarSummary> GrpcPathInfoService::CalculateNar(const castore::Entry& node) {
  const std::string what = absl::StrCat("PathInfoService.CalculateNAR ",
                                        castore::QuoteName(node.name.str()), " at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kUnary, timeouts_.unary);
  pb::CalculateNARResponse resp;
  grpc::Status s = stub_->CalculateNAR(&ctx, castore::EntryToProto(node), &resp);
  RETURN_IF_ERROR(watch.Result(s, what));
  auto hash = nix::NixHash::FromDigest(nix::HashAlgo::kSha256, resp.nar_sha256());
  if (!hash.ok() || resp.nar_size() == 0) {
    return absl::DataLossError(absl::StrCat(what, ": received an invalid NAR size or hash"));
  }
  return nix::NarSummary{resp.nar_size(), *std::move(hash)};
}

void RegisterGrpcPathInfoSchemes() {
  for (const char* scheme : {"grpc+unix", "grpc+http", "grpc+https"}) {
    nix::RegisterPathInfoScheme(scheme,
                                [](const castore::ServiceAddress& a)
                                    -> absl::StatusOr<std::shared_ptr<nix::PathInfoService>> {
                                  ASSIGN_OR_RETURN(auto channel, OpenChannel(a));
                                  return std::make_shared<GrpcPathInfoService>(std::move(channel),
                                                                               a.original);
                                });
  }
}

}  // namespace castor::rpc
