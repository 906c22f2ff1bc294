#include "rpc/grpc_root_service.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "rpc/call_watchdog.h"
#include "rpc/status.h"

namespace castor::rpc {
namespace {

namespace pb = ::castor::v1;

absl::StatusOr<castore::Entry> ReceivedRoot(const pb::Root& root, std::string_view what) {
  auto entry = castore::EntryFromProto(root.node());
  if (!entry.ok()) {
    return absl::DataLossError(
        absl::StrCat(ToAbslView(what), ": received an invalid root: ", entry.status().message()));
  }
  if (entry->name.str() != root.name()) {
    return absl::DataLossError(
        absl::StrCat(ToAbslView(what), ": received root ", castore::QuoteName(root.name()),
                     " whose node is named ", castore::QuoteName(entry->name.str())));
  }
  return entry;
}

}  // namespace

GrpcRootService::GrpcRootService(std::shared_ptr<grpc::Channel> channel, std::string address,
                                 CallTimeouts timeouts)
    : address_(std::move(address)),
      timeouts_(timeouts),
      stub_(pb::RootService::NewStub(std::move(channel))) {}

GrpcRootService::~GrpcRootService() = default;

absl::StatusOr<std::optional<castore::Entry>> GrpcRootService::Get(
    const castore::PathComponent& name) {
  std::string what =
      absl::StrCat("RootService.Get ", castore::QuoteName(name.str()), " at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kUnary, timeouts_.unary);
  pb::GetRootRequest req;
  req.set_name(name.str());
  pb::GetRootResponse resp;
  grpc::Status s = stub_->Get(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  RETURN_IF_ERROR(watch.Result(s, what));
  if (!resp.has_root()) return std::nullopt;
  ASSIGN_OR_RETURN(castore::Entry entry, ReceivedRoot(resp.root(), what));
  if (entry.name != name) {
    return absl::DataLossError(
        absl::StrCat(what, ": received root ", castore::QuoteName(entry.name.str()), " instead"));
  }
  return entry;
}

absl::Status GrpcRootService::List(const std::function<absl::Status(const castore::Entry&)>& fn) {
  std::string what = absl::StrCat("RootService.List at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kStream, timeouts_.idle);
  auto stream = stub_->List(&ctx, pb::ListRootsRequest());
  pb::Root root;
  absl::Status bad;
  std::optional<std::string> previous;
  while (stream->Read(&root)) {
    watch.Progress();
    auto entry = ReceivedRoot(root, what);
    if (!entry.ok()) {
      bad = entry.status();
      break;
    }
    if (previous.has_value() && !(*previous < entry->name.str())) {
      bad = absl::DataLossError(
          absl::StrCat(what, ": roots out of order at ", castore::QuoteName(entry->name.str())));
      break;
    }
    previous = entry->name.str();
    bad = fn(*entry);
    if (!bad.ok()) break;
  }
  if (!bad.ok()) ctx.TryCancel();
  grpc::Status s = stream->Finish();
  if (!bad.ok()) return bad;
  return watch.Result(s, what);
}

absl::Status GrpcRootService::Put(const castore::Entry& root) {
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kUnary, timeouts_.unary);
  pb::Root req;
  req.set_name(root.name.str());
  *req.mutable_node() = castore::EntryToProto(root);
  pb::PutRootResponse resp;
  grpc::Status s = stub_->Put(&ctx, req, &resp);
  return watch.Result(
      s, absl::StrCat("RootService.Put ", castore::QuoteName(root.name.str()), " at ", address_));
}

absl::StatusOr<bool> GrpcRootService::Remove(const castore::PathComponent& name) {
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kUnary, timeouts_.unary);
  pb::RemoveRootRequest req;
  req.set_name(name.str());
  pb::RemoveRootResponse resp;
  grpc::Status s = stub_->Remove(&ctx, req, &resp);
  RETURN_IF_ERROR(watch.Result(
      s, absl::StrCat("RootService.Remove ", castore::QuoteName(name.str()), " at ", address_)));
  return resp.existed();
}

}  // namespace castor::rpc
