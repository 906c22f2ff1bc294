#include "rpc/grpc_directory_service.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/store_metrics.h"
#include "rpc/call_watchdog.h"
#include "rpc/status.h"

namespace castor::rpc {
namespace {

namespace pb = ::tvix::castore::v1;
using castore::B3Digest;
using castore::Directory;

// A Directory from the daemon: breaking the rules is the daemon's fault, so
// it is DataLoss, not InvalidArgument.
absl::StatusOr<Directory> Received(const pb::Directory& msg, std::string_view what) {
  auto dir = Directory::FromProto(msg);
  if (!dir.ok()) {
    castore::store_metrics::VerificationFailure(castore::store_metrics::Verified::kDirectory);
    return absl::DataLossError(absl::StrCat(
        ToAbslView(what), ": received an invalid Directory: ", dir.status().message()));
  }
  return dir;
}

class GrpcPutter : public castore::DirectoryPutter {
 public:
  GrpcPutter(std::shared_ptr<pb::DirectoryService::Stub> stub, const std::string& address,
             CallTimeouts timeouts)
      : stub_(std::move(stub)),
        what_(absl::StrCat("DirectoryService.Put to ", address)),
        timeouts_(timeouts) {}
  ~GrpcPutter() override {
    if (stream_ != nullptr && !finished_) {
      ctx_.TryCancel();
      stream_->Finish().IgnoreError();
    }
  }

  absl::Status Put(const Directory& directory) override {
    if (closed_) return absl::FailedPreconditionError("directory putter already closed");
    RETURN_IF_ERROR(broken_);
    if (stream_ == nullptr) {
      watch_ = std::make_unique<CallWatch>(ctx_, CallWatch::Kind::kStream, timeouts_.idle);
      stream_ = stub_->Put(&ctx_, &resp_);
    }
    if (!stream_->Write(directory.ToProto())) {
      // The daemon rejected the stream (e.g. an unknown child): Finish says why.
      finished_ = true;
      grpc::Status s = stream_->Finish();
      broken_ = s.ok() ? absl::UnavailableError(absl::StrCat(what_, ": stream closed early"))
                       : watch_->Result(s, what_);
      return broken_;
    }
    watch_->Progress();
    last_ = directory.digest();
    return absl::OkStatus();
  }

  absl::StatusOr<B3Digest> Close() override {
    if (closed_) return absl::FailedPreconditionError("directory putter already closed");
    closed_ = true;
    RETURN_IF_ERROR(broken_);
    if (!last_.has_value()) return absl::FailedPreconditionError("no directory was sent");
    stream_->WritesDone();
    watch_->AwaitAnswer(timeouts_.unary);
    finished_ = true;
    grpc::Status s = stream_->Finish();
    RETURN_IF_ERROR(watch_->Result(s, what_));
    auto root = B3Digest::FromBytes(resp_.root_digest());
    if (!root.ok() || *root != *last_) {
      return absl::DataLossError(absl::StrCat(what_, ": sent root ", last_->ToB3(),
                                              ", the daemon answered a different digest"));
    }
    return *root;
  }

 private:
  std::shared_ptr<pb::DirectoryService::Stub> stub_;
  std::string what_;
  const CallTimeouts timeouts_;
  grpc::ClientContext ctx_;
  std::unique_ptr<CallWatch> watch_;  // from the first message on; goes before ctx_
  pb::PutDirectoryResponse resp_;
  std::unique_ptr<grpc::ClientWriter<pb::Directory>> stream_;
  std::optional<B3Digest> last_;
  absl::Status broken_;
  bool closed_ = false;
  bool finished_ = false;
};

}  // namespace

GrpcDirectoryService::GrpcDirectoryService(std::shared_ptr<grpc::Channel> channel,
                                           std::string address, CallTimeouts timeouts)
    : address_(std::move(address)),
      timeouts_(timeouts),
      stub_(pb::DirectoryService::NewStub(std::move(channel))) {}

GrpcDirectoryService::~GrpcDirectoryService() = default;

absl::StatusOr<std::optional<Directory>> GrpcDirectoryService::Get(const B3Digest& digest) {
  std::string what = absl::StrCat("DirectoryService.Get ", digest.ToB3(), " at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kStream, timeouts_.idle);
  pb::GetDirectoryRequest req;
  req.set_digest(std::string(digest.raw()));
  auto stream = stub_->Get(&ctx, req);
  pb::Directory msg;
  std::optional<Directory> got;
  absl::Status bad;
  int count = 0;
  while (stream->Read(&msg)) {
    watch.Progress();
    if (++count > 1) {
      bad = absl::DataLossError(absl::StrCat(what, ": received more than one Directory"));
      break;
    }
    auto dir = Received(msg, what);
    if (!dir.ok()) {
      bad = dir.status();
      break;
    }
    if (dir->digest() != digest) {
      bad = absl::DataLossError(
          absl::StrCat(what, ": received Directory ", dir->digest().ToB3(), " instead"));
      break;
    }
    got = std::move(*dir);
  }
  if (!bad.ok()) ctx.TryCancel();
  grpc::Status s = stream->Finish();
  if (!bad.ok()) return bad;
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  RETURN_IF_ERROR(watch.Result(s, what));
  if (!got.has_value()) {
    return absl::DataLossError(absl::StrCat(what, ": the daemon answered OK without a Directory"));
  }
  return got;
}

absl::StatusOr<B3Digest> GrpcDirectoryService::Put(const Directory& directory) {
  GrpcPutter putter(stub_, address_, timeouts_);
  RETURN_IF_ERROR(putter.Put(directory));
  return putter.Close();
}

absl::StatusOr<std::unique_ptr<castore::DirectoryPutter>> GrpcDirectoryService::OpenPutter() {
  return std::make_unique<GrpcPutter>(stub_, address_, timeouts_);
}

absl::Status GrpcDirectoryService::GetRecursive(
    const B3Digest& root, const std::function<absl::Status(const Directory&)>& fn) {
  std::string what =
      absl::StrCat("DirectoryService.Get ", root.ToB3(), " (recursive) at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kStream, timeouts_.idle);
  pb::GetDirectoryRequest req;
  req.set_digest(std::string(root.raw()));
  req.set_recursive(true);
  auto stream = stub_->Get(&ctx, req);

  // Digests referred to by a verified Directory and not received yet, with
  // the size their parent claims; and those already received.
  absl::flat_hash_map<B3Digest, uint64_t> expected;
  absl::flat_hash_map<B3Digest, bool> received;
  bool first = true;
  absl::Status bad;
  pb::Directory msg;
  while (stream->Read(&msg)) {
    watch.Progress();
    auto dir = Received(msg, what);
    if (!dir.ok()) {
      bad = dir.status();
      break;
    }
    const B3Digest& d = dir->digest();
    if (first) {
      if (d != root) {
        bad = absl::DataLossError(absl::StrCat(what, ": first Directory is ", d.ToB3()));
        break;
      }
      first = false;
    } else {
      auto it = expected.find(d);
      if (it == expected.end()) {
        bad = absl::DataLossError(
            absl::StrCat(what, ": received Directory ", d.ToB3(),
                         received.contains(d) ? " twice" : " that no earlier Directory refers to"));
        break;
      }
      if (it->second != dir->size()) {
        bad = absl::DataLossError(absl::StrCat(what, ": Directory ", d.ToB3(), " has size ",
                                               dir->size(), ", its parent says ", it->second));
        break;
      }
      expected.erase(it);
    }
    received[d] = true;
    for (const castore::Entry& e : dir->entries()) {
      if (const auto* c = std::get_if<castore::DirectoryNode>(&e.node)) {
        if (received.contains(c->digest)) continue;
        auto [it, inserted] = expected.emplace(c->digest, c->size);
        if (!inserted && it->second != c->size) {
          bad = absl::DataLossError(absl::StrCat(what, ": Directory ", c->digest.ToB3(),
                                                 " is referred to with two sizes"));
          break;
        }
      }
    }
    if (!bad.ok()) break;
    bad = fn(*dir);
    if (!bad.ok()) break;
  }
  if (!bad.ok()) ctx.TryCancel();
  grpc::Status s = stream->Finish();
  if (!bad.ok()) return bad;
  RETURN_IF_ERROR(watch.Result(s, what));
  if (first) {
    return absl::DataLossError(absl::StrCat(what, ": the daemon answered OK without a Directory"));
  }
  if (!expected.empty()) {
    return absl::DataLossError(absl::StrCat(what, ": the closure is incomplete, ",
                                            expected.begin()->first.ToB3(), " and ",
                                            expected.size() - 1, " more are missing"));
  }
  return absl::OkStatus();
}

absl::Status GrpcDirectoryService::ForEach(const std::function<absl::Status(const B3Digest&)>&) {
  return absl::UnimplementedError(
      absl::StrCat("listing directories is not offered over gRPC (", address_, ")"));
}

absl::Status GrpcDirectoryService::Delete(std::span<const B3Digest>) {
  return absl::UnimplementedError(
      absl::StrCat("deleting directories is not offered over gRPC (", address_, ")"));
}

}  // namespace castor::rpc
