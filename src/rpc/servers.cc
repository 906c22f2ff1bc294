#include "rpc/servers.h"

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "castor/v1/admin.grpc.pb.h"
#include "castor/v1/roots.grpc.pb.h"
#include "castore/maintenance/closure_check.h"
#include "castore/maintenance/gc.h"
#include "castore/maintenance/store_lock.h"
#include "castore/store_metrics.h"
#include "rpc/status.h"
#include "snix/castore/protos/rpc_blobstore.grpc.pb.h"
#include "snix/castore/protos/rpc_directory.grpc.pb.h"
#include "spdlog/spdlog.h"
#include "tvix/castore/protos/rpc_blobstore.grpc.pb.h"
#include "tvix/castore/protos/rpc_directory.grpc.pb.h"

namespace castor::rpc {
namespace {

namespace tv = ::tvix::castore::v1;
namespace sn = ::snix::castore::v1;
namespace cv = ::castor::v1;
using castore::B3Digest;

// The generated types of one package (tvix.castore.v1 or snix.castore.v1);
// the handlers are templates over it, so both names share one implementation.
#define CASTOR_CASTORE_PACKAGE(Name, ns)                   \
  struct Name {                                            \
    using BlobService = ns::BlobService;                   \
    using DirectoryService = ns::DirectoryService;         \
    using StatBlobRequest = ns::StatBlobRequest;           \
    using StatBlobResponse = ns::StatBlobResponse;         \
    using ReadBlobRequest = ns::ReadBlobRequest;           \
    using BlobChunk = ns::BlobChunk;                       \
    using PutBlobResponse = ns::PutBlobResponse;           \
    using Directory = ns::Directory;                       \
    using GetDirectoryRequest = ns::GetDirectoryRequest;   \
    using PutDirectoryResponse = ns::PutDirectoryResponse; \
  }
CASTOR_CASTORE_PACKAGE(TvixPackage, tv);
CASTOR_CASTORE_PACKAGE(SnixPackage, sn);
#undef CASTOR_CASTORE_PACKAGE

absl::StatusOr<B3Digest> RequestDigest(std::string_view raw, std::string_view what) {
  auto d = B3Digest::FromBytes(raw);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", ToAbslView(what), ": expected 32 bytes, got ", raw.size()));
  }
  return *d;
}

// Directory messages of either package <-> the validated model. The snix
// messages are wire-identical, so they go through their bytes.
template <typename Msg>
absl::StatusOr<castore::Directory> DirectoryFromMsg(const Msg& msg) {
  if constexpr (std::is_same_v<Msg, tv::Directory>) {
    return castore::Directory::FromProto(msg);
  } else {
    tv::Directory proto;
    if (!proto.ParseFromString(msg.SerializeAsString())) {
      return absl::InvalidArgumentError("Directory message does not parse");
    }
    return castore::Directory::FromProto(proto);
  }
}

template <typename Msg>
Msg DirectoryToMsg(const castore::Directory& dir) {
  if constexpr (std::is_same_v<Msg, tv::Directory>) {
    return dir.ToProto();
  } else {
    Msg msg;
    CASTOR_CHECK(msg.ParseFromString(dir.Encode()));
    return msg;
  }
}

grpc::Status Cancelled(grpc::ServerContext* ctx) {
  (void)ctx;
  return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
}

template <typename P>
class BlobHandler final : public P::BlobService::Service {
 public:
  BlobHandler(std::shared_ptr<castore::BlobService> blobs,
              std::shared_ptr<castore::ChunkIndex> index)
      : blobs_(std::move(blobs)), index_(std::move(index)) {}

  grpc::Status Stat(grpc::ServerContext* ctx, const typename P::StatBlobRequest* req,
                    typename P::StatBlobResponse* resp) override {
    return ToGrpcStatus(DoStat(*ctx, *req, *resp));
  }

  grpc::Status Read(grpc::ServerContext* ctx, const typename P::ReadBlobRequest* req,
                    grpc::ServerWriter<typename P::BlobChunk>* writer) override {
    auto digest = RequestDigest(req->digest(), "blob digest");
    if (!digest.ok()) return ToGrpcStatus(digest.status());
    auto reader = blobs_->OpenRead(*digest);
    if (!reader.ok()) return ToGrpcStatus(reader.status());
    // A chunk of a laid-out blob is a blob too (tvix semantics).
    if (*reader == nullptr) reader = index_->OpenChunk(*digest);
    if (!reader.ok()) return ToGrpcStatus(reader.status());
    if (*reader == nullptr) {
      return ToGrpcStatus(absl::NotFoundError(absl::StrCat("blob ", digest->ToB3(), " not found")));
    }
    // No byte goes out unchecked. A Verified() reader (a local store's)
    // checks each piece as it reads it from disk, so a blob that rotted ends
    // the stream with DATA_LOSS before the damaged piece. Any other reader's
    // bytes are hashed on the way out, which at least ends the stream with
    // DATA_LOSS instead of a silent OK (castor's clients verify too).
    const bool checked = (*reader)->Verified();
    castore::Blake3Hasher hasher;
    const uint64_t size = (*reader)->size();
    // Most blobs are small: do not allocate (and zero) a whole chunk for them.
    std::vector<uint8_t> buf(std::min<uint64_t>(size, kReadChunkSize));
    typename P::BlobChunk chunk;
    uint64_t offset = 0;
    while (offset < size) {
      if (ctx->IsCancelled()) return Cancelled(ctx);
      auto n = (*reader)->ReadAt(offset, buf);
      if (!n.ok()) {
        return ToGrpcStatus(Annotate(n.status(), absl::StrCat("reading blob ", digest->ToB3())));
      }
      if (*n == 0) {
        return ToGrpcStatus(absl::DataLossError(absl::StrCat(
            "blob ", digest->ToB3(), ": stored blob ends at ", offset, " of ", size, " bytes")));
      }
      if (!checked) hasher.Update(std::span<const uint8_t>(buf.data(), *n));
      chunk.set_data(buf.data(), *n);
      if (!writer->Write(chunk)) return Cancelled(ctx);
      offset += *n;
    }
    if (!checked && hasher.Finalize() != *digest) {
      return ToGrpcStatus(absl::DataLossError(
          absl::StrCat("blob ", digest->ToB3(), ": stored bytes do not match the digest")));
    }
    return grpc::Status::OK;
  }

  grpc::Status Put(grpc::ServerContext* ctx, grpc::ServerReader<typename P::BlobChunk>* reader,
                   typename P::PutBlobResponse* resp) override {
    auto writer = blobs_->OpenWrite();
    if (!writer.ok()) return ToGrpcStatus(writer.status());
    typename P::BlobChunk chunk;
    uint64_t received = 0;
    while (reader->Read(&chunk)) {
      absl::Status s = (*writer)->Write(chunk.data());
      if (!s.ok()) return ToGrpcStatus(s);
      received += chunk.data().size();
    }
    // A broken stream ends like a finished one in the sync API; only the
    // context tells them apart. The writer is dropped: nothing is stored.
    if (ctx->IsCancelled()) return Cancelled(ctx);
    auto digest = (*writer)->Close();
    if (!digest.ok()) return ToGrpcStatus(digest.status());
    castore::store_metrics::BlobReceived(received);
    resp->set_digest(std::string(digest->raw()));
    return grpc::Status::OK;
  }

 private:
  absl::Status DoStat(grpc::ServerContext& ctx, const typename P::StatBlobRequest& req,
                      typename P::StatBlobResponse& resp) {
    ASSIGN_OR_RETURN(B3Digest digest, RequestDigest(req.digest(), "blob digest"));
    ASSIGN_OR_RETURN(auto chunks, blobs_->Chunks(digest));
    if (!chunks.has_value()) {
      if (index_->HasChunk(digest)) return absl::OkStatus();
      return absl::NotFoundError(absl::StrCat("blob ", digest.ToB3(), " not found"));
    }
    // The stored size, which the tvix message has no field for, rides in
    // the trailing metadata: castor's clients answer StoredSize (the
    // import's "is it there, this big?") without downloading the blob.
    ASSIGN_OR_RETURN(std::optional<uint64_t> stored, blobs_->StoredSize(digest));
    if (stored.has_value()) ctx.AddTrailingMetadata(kStoredSizeMetadata, absl::StrCat(*stored));
    if (!req.send_chunks()) return absl::OkStatus();
    if (!chunks->empty()) {
      // Stored chunked by the backend: its own list, with the outboard of
      // its groups when the backend keeps one (object storage).
      for (const castore::ChunkMeta& c : *chunks) {
        auto* meta = resp.add_chunks();
        meta->set_digest(std::string(c.digest.raw()));
        meta->set_size(c.size);
      }
      if (req.send_bao()) {
        ASSIGN_OR_RETURN(std::string outboard, blobs_->ChunksOutboard(digest));
        resp.set_bao(std::move(outboard));
      }
      return absl::OkStatus();
    }
    // Laying the blob out hashes all of it: the store need not check it too.
    ASSIGN_OR_RETURN(auto reader, blobs_->OpenReadUnverified(digest));
    if (reader == nullptr) {
      return absl::NotFoundError(absl::StrCat("blob ", digest.ToB3(), " not found"));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const castore::ChunkLayout> layout,
                     index_->Layout(digest, *reader));
    if (layout == nullptr) return absl::OkStatus();  // small: stored (and sent) whole
    for (const castore::ChunkMeta& c : layout->chunks) {
      auto* meta = resp.add_chunks();
      meta->set_digest(std::string(c.digest.raw()));
      meta->set_size(c.size);
    }
    if (req.send_bao())
      resp.set_bao(castore::blake3_tree::EncodeOutboard(layout->size, layout->cvs));
    return absl::OkStatus();
  }

  std::shared_ptr<castore::BlobService> blobs_;
  std::shared_ptr<castore::ChunkIndex> index_;
};

template <typename P>
class DirectoryHandler final : public P::DirectoryService::Service {
 public:
  DirectoryHandler(std::shared_ptr<castore::DirectoryService> dirs, uint64_t max_put_bytes)
      : dirs_(std::move(dirs)), max_put_bytes_(max_put_bytes) {}

  grpc::Status Get(grpc::ServerContext* ctx, const typename P::GetDirectoryRequest* req,
                   grpc::ServerWriter<typename P::Directory>* writer) override {
    if (req->by_what_case() != P::GetDirectoryRequest::kDigest) {
      return ToGrpcStatus(absl::InvalidArgumentError("GetDirectoryRequest without a digest"));
    }
    auto digest = RequestDigest(req->digest(), "directory digest");
    if (!digest.ok()) return ToGrpcStatus(digest.status());
    if (!req->recursive()) {
      auto dir = dirs_->Get(*digest);
      if (!dir.ok()) return ToGrpcStatus(dir.status());
      if (!dir->has_value()) {
        return ToGrpcStatus(
            absl::NotFoundError(absl::StrCat("directory ", digest->ToB3(), " not found")));
      }
      if (!writer->Write(DirectoryToMsg<typename P::Directory>(**dir))) return Cancelled(ctx);
      return grpc::Status::OK;
    }
    bool gone = false;
    absl::Status s = dirs_->GetRecursive(*digest, [&](const castore::Directory& dir) {
      if (!writer->Write(DirectoryToMsg<typename P::Directory>(dir))) {
        gone = true;
        return absl::CancelledError("the client went away");
      }
      return absl::OkStatus();
    });
    if (gone) return Cancelled(ctx);
    return ToGrpcStatus(s);
  }

  grpc::Status Put(grpc::ServerContext* ctx, grpc::ServerReader<typename P::Directory>* reader,
                   typename P::PutDirectoryResponse* resp) override {
    auto putter = dirs_->OpenPutter();
    if (!putter.ok()) return ToGrpcStatus(putter.status());
    typename P::Directory msg;
    uint64_t index = 0;
    uint64_t bytes = 0;
    while (reader->Read(&msg)) {
      bytes += msg.ByteSizeLong();
      if (bytes > max_put_bytes_) {
        return ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
            "directory #", index, " of the Put stream: the stream holds more than ", max_put_bytes_,
            " bytes of Directories, the most this daemon keeps for one Put "
            "(castor daemon --max-directory-put-bytes); put the closure in parts, subtrees "
            "first")));
      }
      auto dir = DirectoryFromMsg(msg);
      if (!dir.ok()) {
        return ToGrpcStatus(
            Annotate(dir.status(), absl::StrCat("directory #", index, " of the Put stream")));
      }
      absl::Status s = (*putter)->Put(*dir);
      if (!s.ok()) return ToGrpcStatus(s);
      ++index;
    }
    if (ctx->IsCancelled()) return Cancelled(ctx);  // the putter is dropped: all or nothing
    auto root = (*putter)->Close();
    if (!root.ok()) return ToGrpcStatus(root.status());
    resp->set_root_digest(std::string(root->raw()));
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<castore::DirectoryService> dirs_;
  const uint64_t max_put_bytes_;
};

absl::StatusOr<castore::PathComponent> RequestName(std::string_view name) {
  auto pc = castore::PathComponent::Create(name);
  if (!pc.ok()) return Annotate(pc.status(), "invalid root name");
  return pc;
}

class RootHandler final : public cv::RootService::Service {
 public:
  RootHandler(castore::Services services, HandlerOptions options,
              std::shared_ptr<castor::SharedMutex> commit_gate)
      : services_(std::move(services)),
        options_(std::move(options)),
        commit_gate_(std::move(commit_gate)) {}

  grpc::Status Get(grpc::ServerContext*, const cv::GetRootRequest* req,
                   cv::GetRootResponse* resp) override {
    return ToGrpcStatus(DoGet(*req, *resp));
  }

  grpc::Status List(grpc::ServerContext* ctx, const cv::ListRootsRequest*,
                    grpc::ServerWriter<cv::Root>* writer) override {
    bool gone = false;
    absl::Status s = services_.roots->List([&](const castore::Entry& e) {
      cv::Root root;
      root.set_name(e.name.str());
      *root.mutable_node() = castore::EntryToProto(e);
      if (!writer->Write(root)) {
        gone = true;
        return absl::CancelledError("the client went away");
      }
      return absl::OkStatus();
    });
    if (gone) return Cancelled(ctx);
    return ToGrpcStatus(s);
  }

  grpc::Status Put(grpc::ServerContext* ctx, const cv::Root* req, cv::PutRootResponse*) override {
    return ToGrpcStatus(DoPut(ctx, *req));
  }

  grpc::Status Remove(grpc::ServerContext*, const cv::RemoveRootRequest* req,
                      cv::RemoveRootResponse* resp) override {
    auto name = RequestName(req->name());
    if (!name.ok()) return ToGrpcStatus(name.status());
    auto existed = services_.roots->Remove(*name);
    if (!existed.ok()) return ToGrpcStatus(existed.status());
    resp->set_existed(*existed);
    return grpc::Status::OK;
  }

 private:
  absl::Status DoGet(const cv::GetRootRequest& req, cv::GetRootResponse& resp) {
    ASSIGN_OR_RETURN(castore::PathComponent name, RequestName(req.name()));
    ASSIGN_OR_RETURN(std::optional<castore::Entry> entry, services_.roots->Get(name));
    if (!entry.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("root ", castore::QuoteName(name.str()), " not found"));
    }
    resp.mutable_root()->set_name(entry->name.str());
    *resp.mutable_root()->mutable_node() = castore::EntryToProto(*entry);
    return absl::OkStatus();
  }

  absl::Status DoPut(grpc::ServerContext* ctx, const cv::Root& req) {
    ASSIGN_OR_RETURN(castore::PathComponent name, RequestName(req.name()));
    auto entry = castore::EntryFromProto(req.node());
    if (!entry.ok()) {
      return Annotate(entry.status(), absl::StrCat("root ", castore::QuoteName(name.str())));
    }
    if (entry->name != name) {
      return absl::InvalidArgumentError(absl::StrCat("root ", castore::QuoteName(name.str()),
                                                     ": its node is named ",
                                                     castore::QuoteName(entry->name.str())));
    }
    // The check and the commit happen with no gc running (it holds the gate
    // exclusively): what the check found stored stays stored until the
    // root makes it reachable.
    castor::ReaderLock gate(commit_gate_.get());
    // The client may have given up while a gc ran; do not commit behind its back.
    if (ctx->IsCancelled()) return absl::CancelledError("the client went away");
    if (options_.check_root_referents) {
      RETURN_IF_ERROR(
          castore::CheckClosureStored(*services_.blobs, *services_.directories, *entry));
    }
    // The root is the reference that makes its blobs live: they must be
    // durable before it is (docs/design.md, Durability).
    RETURN_IF_ERROR(services_.blobs->Sync());
    return services_.roots->Put(*entry);
  }

  castore::Services services_;
  HandlerOptions options_;
  std::shared_ptr<castor::SharedMutex> commit_gate_;
};

// gc in the daemon. Serialized against root Puts by the gate, and against
// local imports (which hold the store's StoreLock shared) by the exclusive
// StoreLock.
class AdminHandler final : public cv::AdminService::Service {
 public:
  AdminHandler(castore::Services services, HandlerOptions options,
               std::shared_ptr<castor::SharedMutex> commit_gate)
      : services_(std::move(services)),
        options_(std::move(options)),
        commit_gate_(std::move(commit_gate)) {}

  grpc::Status CollectGarbage(grpc::ServerContext* ctx, const cv::CollectGarbageRequest* req,
                              cv::CollectGarbageResponse* resp) override {
    // ctx->peer() is "unix:..." for a unix-socket peer, "ipv4:..." or
    // "ipv6:..." for TCP, "fd:N" for a connection the daemon accepted.
    const std::string peer = ctx->peer();
    const bool unix_peer = options_.accepted_peers != nullptr
                               ? options_.accepted_peers->IsUnixPeer(peer)
                               : absl::StartsWith(peer, "unix");
    if (options_.admin != AdminAccess::kAll && !unix_peer) {
      return ToGrpcStatus(absl::PermissionDeniedError(
          absl::StrCat("castor.v1.AdminService is served to unix-socket peers only, not to ", peer,
                       " (start the daemon with --admin all to allow TCP peers)")));
    }
    return ToGrpcStatus(DoCollectGarbage(req->dry_run(), *resp));
  }

 private:
  absl::Status DoCollectGarbage(bool dry_run, cv::CollectGarbageResponse& resp) {
    std::unique_ptr<castore::StoreLock> store_lock;
    if (!options_.store_dir.empty()) {
      ASSIGN_OR_RETURN(store_lock,
                       castore::StoreLock::Acquire(
                           options_.store_dir, castore::StoreLock::Mode::kExclusive, [&] {
                             spdlog::info("gc: waiting for local imports on {} to finish",
                                          options_.store_dir);
                           }));
    }
    castor::WriterLock gate(commit_gate_.get());
    spdlog::info("gc{}: started", dry_run ? " (dry run)" : "");
    ASSIGN_OR_RETURN(castore::GcStats stats,
                     castore::CollectGarbage(*services_.blobs, *services_.directories,
                                             *services_.roots, dry_run));
    spdlog::info("gc{}: {} {} blobs ({} bytes) and {} directories; kept {} blobs, {} directories",
                 dry_run ? " (dry run)" : "", dry_run ? "would delete" : "deleted",
                 stats.blobs_deleted, stats.bytes_freed, stats.directories_deleted,
                 stats.blobs_kept, stats.directories_kept);
    resp.set_roots(stats.roots);
    resp.set_blobs_kept(stats.blobs_kept);
    resp.set_blobs_deleted(stats.blobs_deleted);
    resp.set_bytes_kept(stats.bytes_kept);
    resp.set_bytes_freed(stats.bytes_freed);
    resp.set_directories_kept(stats.directories_kept);
    resp.set_directories_deleted(stats.directories_deleted);
    return absl::OkStatus();
  }

  castore::Services services_;
  HandlerOptions options_;
  std::shared_ptr<castor::SharedMutex> commit_gate_;
};

}  // namespace

void AcceptedPeers::Accepted(int fd, bool unix_socket) {
  castor::MutexLock lock(&mu_);
  unix_socket_[fd] = unix_socket;
}

bool AcceptedPeers::IsUnixPeer(std::string_view peer) const {
  absl::string_view text = ToAbslView(peer);
  if (absl::StartsWith(text, "unix")) return true;
  int fd = 0;
  if (!absl::ConsumePrefix(&text, "fd:") || !absl::SimpleAtoi(text, &fd)) return false;
  castor::MutexLock lock(&mu_);
  auto it = unix_socket_.find(fd);
  return it != unix_socket_.end() && it->second;
}

CastoreHandlers::CastoreHandlers(castore::Services services, HandlerOptions options)
    : chunk_index_(std::make_shared<castore::ChunkIndex>(services.blobs, options.chunks)),
      commit_gate_(std::make_shared<castor::SharedMutex>()) {
  services_.push_back(std::make_unique<BlobHandler<TvixPackage>>(services.blobs, chunk_index_));
  services_.push_back(std::make_unique<DirectoryHandler<TvixPackage>>(
      services.directories, options.max_directory_put_bytes));
  services_.push_back(std::make_unique<BlobHandler<SnixPackage>>(services.blobs, chunk_index_));
  services_.push_back(std::make_unique<DirectoryHandler<SnixPackage>>(
      services.directories, options.max_directory_put_bytes));
  if (options.admin != AdminAccess::kOff) {
    services_.push_back(std::make_unique<AdminHandler>(services, options, commit_gate_));
  }
  services_.push_back(std::make_unique<RootHandler>(std::move(services), options, commit_gate_));
}

CastoreHandlers::~CastoreHandlers() = default;

void CastoreHandlers::RegisterOn(grpc::ServerBuilder& builder) {
  for (auto& s : services_) builder.RegisterService(s.get());
}

}  // namespace castor::rpc
