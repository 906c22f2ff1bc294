// gRPC handlers for the castore services, written over the service
// interfaces of castore/: tvix.castore.v1.BlobService and DirectoryService
// (also registered under snix.castore.v1, whose messages are identical) and
// castor.v1.RootService, plus castor.v1.AdminService (gc run by the daemon).
// Every request is validated (digests, names,
// Directory rules, the order of Put streams); errors carry the status codes
// clients branch on: NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION,
// UNAVAILABLE. The handler objects are thread-safe (the sync server calls
// them from its thread pool); they borrow nothing beyond the shared services.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "castore/blob/chunk_index.h"
#include "castore/composition.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "grpcpp/server_builder.h"

namespace castor::rpc {

// Chunks of a Read stream are at most this big.
inline constexpr size_t kReadChunkSize = 1 << 20;

// BlobService.Stat's trailing metadata key for the blob's stored size in
// bytes (decimal), sent by castor's daemon for every blob it has.
inline constexpr char kStoredSizeMetadata[] = "castor-stored-size";

// Who may call castor.v1.AdminService.
enum class AdminAccess {
  kOff,          // not served (UNIMPLEMENTED)
  kUnixSockets,  // peers on unix sockets; TCP peers get PERMISSION_DENIED
  kAll,          // every peer
};

// Connections the daemon accepts itself (on listening sockets passed by the
// service manager) reach gRPC as "fd:N" peers, which do not say whether the
// socket is a unix or a TCP one. The daemon records each connection's family
// here before gRPC sees it, so an "fd:N" peer is classed by the connection
// that now holds fd N (a reused number is re-recorded before its first call).
class AcceptedPeers {
 public:
  void Accepted(int fd, bool unix_socket);
  // True for gRPC's own "unix:..." peers and for "fd:N" peers recorded as
  // accepted on a unix socket.
  bool IsUnixPeer(std::string_view peer) const;

 private:
  mutable castor::Mutex mu_;
  absl::flat_hash_map<int, bool> unix_socket_ ABSL_GUARDED_BY(mu_);
};

struct HandlerOptions {
  // RootService.Put refuses a root unless its whole closure is stored
  // (castore/maintenance/closure_check.h): FAILED_PRECONDITION naming the
  // first missing Directory or blob, INVALID_ARGUMENT for a size mismatch.
  // The RootService interface itself does not ask for this (its conformance
  // suite stores roots pointing at nothing), so it can be turned off.
  bool check_root_referents = true;
  AdminAccess admin = AdminAccess::kUnixSockets;
  // Where the daemon records the connections it accepted itself (see
  // AcceptedPeers); null when gRPC accepts every connection.
  std::shared_ptr<const AcceptedPeers> accepted_peers;
  // The store directory whose StoreLock the daemon's gc takes exclusively
  // (local imports beside the daemon take it shared); empty when the
  // services are not a local store.
  std::string store_dir;
  // Stat(send_chunks) lays blobs bigger than chunks.min_blob_size out in
  // fixed-size chunks (castore/blob/chunk_index.h) that Read serves as blobs;
  // send_bao adds the outboard that lets a client verify each chunk alone.
  castore::ChunkIndex::Options chunks;
  // A DirectoryService.Put stream is kept in memory until its root arrives
  // (all or nothing): past this many bytes of Directory messages it is
  // refused with RESOURCE_EXHAUSTED. 256 MiB is a closure of some three
  // million entries (a Directory entry is 60-100 bytes on the wire, about
  // 1.5x that in memory), beyond any single tree we know of, while a few
  // such streams at once still fit a small machine's memory.
  uint64_t max_directory_put_bytes = uint64_t{256} << 20;
};

class CastoreHandlers {
 public:
  explicit CastoreHandlers(castore::Services services, HandlerOptions options = {});
  ~CastoreHandlers();
  CastoreHandlers(const CastoreHandlers&) = delete;
  CastoreHandlers& operator=(const CastoreHandlers&) = delete;

  // Registers the services; `this` must outlive the server built.
  void RegisterOn(grpc::ServerBuilder& builder);

  // Serves `service` too (before RegisterOn).
  void Add(std::unique_ptr<grpc::Service> service) { services_.push_back(std::move(service)); }
  // Held shared by whatever commits a reference to stored objects (root
  // Puts; the Nix path info Put), exclusively by the daemon's gc.
  const std::shared_ptr<castor::SharedMutex>& commit_gate() const { return commit_gate_; }

 private:
  std::shared_ptr<castore::ChunkIndex> chunk_index_;
  // Root Puts (closure check and commit) hold it shared, the daemon's gc
  // exclusively: no root commits while gc runs.
  std::shared_ptr<castor::SharedMutex> commit_gate_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
};

}  // namespace castor::rpc
