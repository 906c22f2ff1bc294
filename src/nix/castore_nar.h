// RenderNar: the NAR of a castore node, streamed to a ByteSink, with the NAR
// size and SHA-256 computed on the way (what a path info records). The bytes
// equal `nix-store --dump` of the same tree: castore's Directory already
// keeps its entries in one list sorted bytewise, NAR's order.
//
// Every file's bytes are checked against the blob digest of its FileNode,
// and every Directory against its digest (DirectoryService::Get does that),
// before the render succeeds. What "never an unverified byte" means for a
// stream:
//   - a file of at most `verify_in_memory_limit` bytes is read whole and
//     checked before any of it reaches the sink; so is a file whose reader
//     says Verified() (it checks what it hands out);
//   - a larger file streams through and is hashed on the way; if it does
//     not match, the render fails with DataLoss after part of it reached the
//     sink. With verify_large_files_first it is checked in a first pass
//     before it is sent (read twice), and still hashed on the way;
//   - so a render that fails has produced an invalid NAR: the caller must
//     discard what the sink received (an HTTP server aborts the response
//     rather than ending it; Nix would refuse it anyway, its NarHash cannot
//     match). A render that succeeds emitted only verified bytes.
// Missing objects are NotFound, corrupt ones DataLoss, a tree deeper than
// kMaxTreeDepth InvalidArgument, each naming the digest and the path inside
// the NAR. Thread-safe when the services are (one render per call).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/directory/directory_service.h"
#include "castore/node.h"
#include "nix/hash.h"
#include "nix/io.h"

namespace castor::nix {

struct NarRenderOptions {
  uint64_t verify_in_memory_limit = 4 << 20;
  bool verify_large_files_first = false;
};

struct NarSummary {
  uint64_t nar_size = 0;
  NixHash nar_sha256;  // always HashAlgo::kSha256
};

absl::StatusOr<NarSummary> RenderNar(castore::BlobService& blobs,
                                     castore::DirectoryService& directories,
                                     const castore::Node& root, ByteSink& sink,
                                     const NarRenderOptions& options = {});

// The size and SHA-256 of the node's NAR, without keeping the bytes.
absl::StatusOr<NarSummary> CalculateNar(castore::BlobService& blobs,
                                        castore::DirectoryService& directories,
                                        const castore::Node& root,
                                        const NarRenderOptions& options = {});

}  // namespace castor::nix
