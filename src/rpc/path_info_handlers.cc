#include "rpc/path_info_handlers.h"

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/maintenance/closure_check.h"
#include "nix/castore_nar.h"
#include "nix/encoding.h"
#include "rpc/status.h"
#include "snix/store/protos/rpc_pathinfo.grpc.pb.h"
#include "tvix/castore/protos/castore.pb.h"
#include "tvix/store/protos/rpc_pathinfo.grpc.pb.h"

namespace castor::rpc {
namespace {

namespace tv = ::tvix::store::v1;
namespace sn = ::snix::store::v1;

#define CASTOR_STORE_PACKAGE(Name, ns, castore_ns)         \
  struct Name {                                            \
    using PathInfoService = ns::PathInfoService;           \
    using PathInfo = ns::PathInfo;                         \
    using GetPathInfoRequest = ns::GetPathInfoRequest;     \
    using ListPathInfoRequest = ns::ListPathInfoRequest;   \
    using CalculateNARResponse = ns::CalculateNARResponse; \
    using Node = castore_ns::Node;                         \
  }
CASTOR_STORE_PACKAGE(TvixStore, tv, ::tvix::castore::v1);
CASTOR_STORE_PACKAGE(SnixStore, sn, ::snix::castore::v1);
#undef CASTOR_STORE_PACKAGE

// Messages of either package to the tvix ones and back; snix's are
// wire-identical, so they go through their bytes.
template <typename Tvix, typename Msg>
absl::StatusOr<Tvix> ToTvix(const Msg& msg, std::string_view what) {
  if constexpr (std::is_same_v<Msg, Tvix>) {
    return msg;
  } else {
    Tvix out;
    if (!out.ParseFromString(msg.SerializeAsString())) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbslView(what), " does not parse"));
    }
    return out;
  }
}

template <typename Msg, typename Tvix>
Msg FromTvix(const Tvix& tvix) {
  if constexpr (std::is_same_v<Msg, Tvix>) {
    return tvix;
  } else {
    Msg msg;
    CASTOR_CHECK(msg.ParseFromString(tvix.SerializeAsString()));
    return msg;
  }
}

template <typename P>
class PathInfoHandler final : public P::PathInfoService::Service {
 public:
  PathInfoHandler(std::shared_ptr<nix::NixStore> store,
                  std::shared_ptr<castor::SharedMutex> commit_gate, bool check_closure)
      : store_(std::move(store)),
        commit_gate_(std::move(commit_gate)),
        check_closure_(check_closure) {}

  grpc::Status Get(grpc::ServerContext*, const typename P::GetPathInfoRequest* req,
                   typename P::PathInfo* resp) override {
    return ToGrpcStatus(DoGet(*req, *resp));
  }

  grpc::Status Put(grpc::ServerContext* ctx, const typename P::PathInfo* req,
                   typename P::PathInfo* resp) override {
    return ToGrpcStatus(DoPut(ctx, *req, *resp));
  }

  grpc::Status CalculateNAR(grpc::ServerContext*, const typename P::Node* req,
                            typename P::CalculateNARResponse* resp) override {
    return ToGrpcStatus(DoCalculateNar(*req, *resp));
  }

  grpc::Status List(grpc::ServerContext* ctx, const typename P::ListPathInfoRequest*,
                    grpc::ServerWriter<typename P::PathInfo>* writer) override {
    bool gone = false;
    absl::Status s = store_->path_infos().List([&](const nix::PathInfo& info) {
      if (!writer->Write(FromTvix<typename P::PathInfo>(info.ToProto()))) {
        gone = true;
        return absl::CancelledError("the client went away");
      }
      return absl::OkStatus();
    });
    if (gone) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    (void)ctx;
    return ToGrpcStatus(s);
  }

 private:
  absl::Status DoGet(const typename P::GetPathInfoRequest& req, typename P::PathInfo& resp) {
    if (req.by_what_case() != P::GetPathInfoRequest::kByOutputHash) {
      return absl::InvalidArgumentError("GetPathInfoRequest without by_output_hash");
    }
    const std::string& raw = req.by_output_hash();
    if (raw.size() != nix::StorePath::kDigestSize) {
      return absl::InvalidArgumentError(absl::StrCat("invalid by_output_hash: expected ",
                                                     nix::StorePath::kDigestSize, " bytes, got ",
                                                     raw.size()));
    }
    nix::StorePath::Digest digest;
    std::copy(raw.begin(), raw.end(), digest.begin());
    ASSIGN_OR_RETURN(std::optional<nix::PathInfo> info, store_->path_infos().Get(digest));
    if (!info.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("no path info for store path hash ", nix::NixBase32Encode(raw)));
    }
    resp = FromTvix<typename P::PathInfo>(info->ToProto());
    return absl::OkStatus();
  }

  absl::Status DoPut(grpc::ServerContext* ctx, const typename P::PathInfo& req,
                     typename P::PathInfo& resp) {
    ASSIGN_OR_RETURN(tv::PathInfo proto, ToTvix<tv::PathInfo>(req, "PathInfo"));
    ASSIGN_OR_RETURN(nix::PathInfo info, nix::PathInfo::FromProto(proto));
    // As for root Puts: no gc between the closure check and the commit.
    castor::ReaderLock gate(commit_gate_.get());
    if (ctx->IsCancelled()) return absl::CancelledError("the client went away");
    if (check_closure_) {
      RETURN_IF_ERROR(Annotate(castore::CheckClosureStored(
                                   store_->blobs(), store_->directories(),
                                   castore::Entry{nix::RootName(info.store_path()), info.node()}),
                               info.store_path().ToAbsolutePath()));
    }
    ASSIGN_OR_RETURN(nix::PathInfo stored, store_->Add(info));
    resp = FromTvix<typename P::PathInfo>(stored.ToProto());
    return absl::OkStatus();
  }

  absl::Status DoCalculateNar(const typename P::Node& req, typename P::CalculateNARResponse& resp) {
    ASSIGN_OR_RETURN(::tvix::castore::v1::Node proto,
                     ToTvix<::tvix::castore::v1::Node>(req, "Node"));
    ASSIGN_OR_RETURN(castore::Entry entry, castore::EntryFromProto(proto));
    ASSIGN_OR_RETURN(nix::NarSummary summary,
                     nix::CalculateNar(store_->blobs(), store_->directories(), entry.node));
    resp.set_nar_size(summary.nar_size);
    resp.set_nar_sha256(summary.nar_sha256.digest());
    return absl::OkStatus();
  }

  std::shared_ptr<nix::NixStore> store_;
  std::shared_ptr<castor::SharedMutex> commit_gate_;
  const bool check_closure_;
};

}  // namespace

void AddPathInfoHandlers(CastoreHandlers& handlers, std::shared_ptr<nix::NixStore> store,
                         bool check_closure) {
  handlers.Add(
      std::make_unique<PathInfoHandler<TvixStore>>(store, handlers.commit_gate(), check_closure));
  handlers.Add(
      std::make_unique<PathInfoHandler<SnixStore>>(store, handlers.commit_gate(), check_closure));
}

}  // namespace castor::rpc
