// The object layout of a castor store in S3-compatible object storage
// (docs/s3.md): snix's keys and formats for blobs and chunks, so that castor
// and snix chunks of the same bytes are the same objects, and castor's own
// objects under castor/ (one object per Directory, blob outboards, roots).
// Keys are relative to the store's prefix (S3Client adds it). Every decoder
// takes untrusted bytes and fails with DataLoss naming `what`. Pure
// functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "castore/blob/blob_service.h"
#include "castore/digest.h"
#include "s3/s3_client.h"

namespace castor::s3store {

using castore::B3Digest;

// snix's: one zstd-compressed chunk per object, keyed by the BLAKE3 of the
// uncompressed chunk.
inline constexpr char kChunksPrefix[] = "chunks/b3/";
// snix's: a blob's chunk list (protobuf StatBlobResponse); empty (a 0-byte
// object) for the empty blob and for a blob of one chunk, which is then
// stored under the blob's own digest.
inline constexpr char kBlobsPrefix[] = "blobs/b3/";
// castor's: one Directory per object (its canonical encoding), so that any
// Directory can be read alone.
inline constexpr char kDirectoriesPrefix[] = "castor/dirs/b3/";
// castor's: the bao outboard of a blob of more than one group.
inline constexpr char kOutboardsPrefix[] = "castor/outboards/b3/";
// castor's: named roots.
inline constexpr char kRootsPrefix[] = "castor/roots/";
// castor's: Nix path infos, PREFIX + the store path digest in lowercase hex
// (s3_path_info_service.h).
inline constexpr char kPathInfosPrefix[] = "castor/pathinfos/";

// PREFIX + SHARD/HEX: HEX the lowercase hex digest, SHARD the hex of its
// first two bytes (four characters, as snix writes it).
std::string DigestKey(std::string_view prefix, const B3Digest& digest);
// The digest a key relative to its prefix (SHARD/HEX) names; nullopt for
// anything else (foreign objects are left alone).
std::optional<B3Digest> DigestFromKey(std::string_view key);

// Root names are any bytes but NUL and '/': letters, digits, '.', '_' and
// '-' stay as they are, every other byte becomes %XX, so keys are UTF-8
// and readable.
std::string RootKey(std::string_view name);
absl::StatusOr<std::string> RootNameFromKey(std::string_view key);

// Calls `fn(id, key, object)` for every object under `prefix` whose key
// `parse` names an id for (objects it does not know are left alone), in
// bytewise order of the ids; an object removed meanwhile is skipped. Stops
// at the first error of the listing, a GET or `fn`. For the listings of
// roots and path infos.
absl::Status ForEachNamedObject(
    s3::S3Client& client, std::string_view prefix,
    const std::function<std::optional<std::string>(std::string_view key)>& parse,
    const std::function<absl::Status(const std::string& id, const std::string& key,
                                     std::string_view object)>& fn);

// One zstd frame (with the content size in its header). `level` 0: zstd's
// default (3).
std::string Compress(std::string_view data, int level = 0);
// All frames of `compressed`, at most `max_size` bytes of output:
// DataLoss naming `what` when it does not decode, is truncated or longer.
absl::StatusOr<std::string> Decompress(std::string_view compressed, uint64_t max_size,
                                       std::string_view what);

// A blob object: the protobuf StatBlobResponse with its chunk list.
std::string EncodeChunkList(std::span<const castore::ChunkMeta> chunks);
absl::StatusOr<std::vector<castore::ChunkMeta>> DecodeChunkList(std::string_view object,
                                                                std::string_view what);

}  // namespace castor::s3store
