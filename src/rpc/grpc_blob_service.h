// GrpcBlobService (`grpc+unix://`, `grpc+http://`): a BlobService over
// tvix.castore.v1.BlobService. Nothing received is trusted. OpenRead first
// asks for the chunk list and outboard (Stat send_chunks + send_bao): when
// the daemon lays the blob out in fixed-size chunks (castor daemons do for
// big blobs), the outboard is checked against the digest and the reader is a
// ChunkedBlobReader that fetches only the chunks reads need and checks each
// before serving it. Otherwise it downloads the whole blob (into memory, or
// an unlinked temporary file past a few MiB) and checks it against the
// digest before the reader exists; the download stops at the size announced
// (the caller's, from a node, and the daemon's chunk list): more is DataLoss,
// so a daemon cannot fill the temporary directory. Either way a reader never
// hands out unverified bytes (a mismatch is DataLoss). Writers stream to the
// daemon and compare the digest it returns with their own. Every call is
// bounded by `timeouts` (rpc/call_watchdog.h).
// Thread-safe; readers and writers as BlobService says.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "castore/blob/blob_service.h"
#include "grpcpp/channel.h"
#include "rpc/call_watchdog.h"
#include "tvix/castore/protos/rpc_blobstore.grpc.pb.h"

namespace castor::rpc {

class GrpcBlobService : public castore::BlobService {
 public:
  // `address` names the daemon in messages.
  GrpcBlobService(std::shared_ptr<grpc::Channel> channel, std::string address,
                  CallTimeouts timeouts = DefaultCallTimeouts());
  ~GrpcBlobService() override;

  absl::StatusOr<bool> Has(const castore::B3Digest& digest) override;
  // One Stat: castor's daemon sends the size along; from daemons that do
  // not, the size of what OpenRead downloads.
  absl::StatusOr<std::optional<uint64_t>> StoredSize(const castore::B3Digest& digest) override;
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenRead(
      const castore::B3Digest& digest) override;
  // Blobs of up to 4 MiB (never laid out in chunks by castor daemons) are
  // downloaded whole without asking for chunks first. A download stops at
  // `expected_size` (DataLoss past it).
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenReadSized(
      const castore::B3Digest& digest, uint64_t expected_size) override;
  // Chunks are fetched by their digests (BlobService.Read), checked by the
  // reader as OpenRead's are.
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenReadWithLayout(
      std::shared_ptr<const castore::ChunkLayout> layout) override;
  absl::StatusOr<std::unique_ptr<castore::BlobWriter>> OpenWrite() override;
  absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> Chunks(
      const castore::B3Digest& digest) override;
  // The daemon makes blobs durable before it commits a root that refers to
  // them; nothing to do here.
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status ForEach(
      const std::function<absl::Status(const castore::B3Digest&, uint64_t)>& fn) override;
  absl::Status Delete(const castore::B3Digest& digest) override;

 private:
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> Open(const castore::B3Digest& digest,
                                                            std::optional<uint64_t> expected_size);
  // DataLoss once the daemon sends more than `announced` bytes.
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> DownloadWhole(
      const castore::B3Digest& digest, std::optional<uint64_t> announced);

  std::string address_;
  CallTimeouts timeouts_;
  // Shared with the writers/putters, which may outlive this object.
  std::shared_ptr<tvix::castore::v1::BlobService::Stub> stub_;
};

}  // namespace castor::rpc
