#include "s3store/s3_blob_service.h"

#include <bit>
#include <deque>
#include <future>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "castore/blake3_tree.h"
#include "castore/blob/chunk_layout.h"
#include "castore/blob/chunked_blob_reader.h"
#include "s3store/layout.h"

namespace castor::s3store {

using castore::B3Digest;
using castore::ChunkMeta;

namespace {

// The empty blob has no chunks; its digest is checked when it is opened.
class EmptyReader : public castore::BlobReader {
 public:
  uint64_t size() const override { return 0; }
  absl::StatusOr<size_t> ReadAt(uint64_t, std::span<uint8_t>) const override { return 0; }
  bool Verified() const override { return true; }
};

// Content-addressed objects are created, never overwritten: what is there
// already holds the same bytes, and an object is never replaced under a
// reader.
const s3::PutOptions kCreateOnly{.if_absent = true};

std::string_view AsView(std::span<const uint8_t> data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

}  // namespace

absl::StatusOr<std::shared_ptr<S3BlobService>> S3BlobService::Create(
    std::shared_ptr<s3::S3Client> client, S3BlobServiceOptions options) {
  ASSIGN_OR_RETURN(chunking::FastCdc cdc, chunking::FastCdc::Create(options.cdc));
  if (!castore::blake3_tree::IsValidGroupSize(options.group_size) ||
      options.group_size > castore::kMaxLayoutChunkSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 blob service: bad group size ", options.group_size));
  }
  if (options.uploads_per_writer < 1) {
    return absl::InvalidArgumentError("S3 blob service: uploads_per_writer must be at least 1");
  }
  return std::shared_ptr<S3BlobService>(new S3BlobService(std::move(client), options, cdc));
}

absl::StatusOr<std::optional<std::vector<ChunkMeta>>> S3BlobService::ChunkList(
    const B3Digest& digest) {
  const std::string key = DigestKey(kBlobsPrefix, digest);
  ASSIGN_OR_RETURN(std::optional<s3::GetResult> got, client_->Get(key));
  if (!got.has_value()) return std::nullopt;
  return DecodeChunkList(got->data, absl::StrCat("chunk list of blob ", digest.ToB3(), " (",
                                                 client_->address().Display(), "/", key, ")"));
}

absl::StatusOr<std::optional<std::string>> S3BlobService::GetChunk(const B3Digest& digest,
                                                                   uint64_t max_size,
                                                                   std::string_view what) {
  const std::string key = DigestKey(kChunksPrefix, digest);
  ASSIGN_OR_RETURN(std::optional<s3::GetResult> got, client_->Get(key));
  if (!got.has_value()) return std::nullopt;
  const std::string name =
      absl::StrCat(ToAbslView(what), " (", client_->address().Display(), "/", key, ")");
  ASSIGN_OR_RETURN(std::string data, Decompress(got->data, max_size, name));
  if (B3Digest::Of(data) != digest) {
    return absl::DataLossError(absl::StrCat(name, ": bytes do not match the digest"));
  }
  return data;
}

absl::StatusOr<bool> S3BlobService::Has(const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto blob, client_->Head(DigestKey(kBlobsPrefix, digest)));
  if (blob.has_value()) return true;
  ASSIGN_OR_RETURN(auto chunk, client_->Head(DigestKey(kChunksPrefix, digest)));
  return chunk.has_value();
}

absl::StatusOr<std::optional<uint64_t>> S3BlobService::StoredSize(const B3Digest& digest) {
  // The import asks this of every file: one request for a blob that is not
  // stored (most of them, on a first import).
  ASSIGN_OR_RETURN(auto info, client_->Head(DigestKey(kBlobsPrefix, digest)));
  // (A chunk that is no blob of its own is not counted: the import then
  // writes the blob, which costs only its chunk list.)
  if (!info.has_value()) return std::nullopt;
  if (info->size > 0) {
    ASSIGN_OR_RETURN(auto chunks, ChunkList(digest));
    if (chunks.has_value()) {
      uint64_t size = 0;
      for (const ChunkMeta& c : *chunks) size += c.size;
      return size;
    }
  }
  // A blob of one chunk: its size is in the chunk.
  if (digest == B3Digest::Of(std::string_view())) return 0;
  ASSIGN_OR_RETURN(auto chunk, GetChunk(digest, castore::kMaxLayoutChunkSize,
                                        absl::StrCat("blob ", digest.ToB3())));
  if (chunk.has_value()) return chunk->size();
  return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": its chunk ",
                                          client_->address().Display(), "/",
                                          DigestKey(kChunksPrefix, digest), " is missing"));
}

absl::StatusOr<std::unique_ptr<castore::BlobReader>> S3BlobService::OpenRead(
    const B3Digest& digest) {
  // Most blobs are small: one chunk, kept under the blob's own digest. Ask
  // for that first (one request), the chunk list only when there is none.
  std::vector<ChunkMeta> chunks;
  std::shared_ptr<const std::string> first;  // already fetched: the chunk that is the blob
  ASSIGN_OR_RETURN(auto chunk, GetChunk(digest, castore::kMaxLayoutChunkSize,
                                        absl::StrCat("blob ", digest.ToB3())));
  if (chunk.has_value()) {
    chunks.push_back({digest, chunk->size()});
    first = std::make_shared<const std::string>(std::move(*chunk));
  } else {
    ASSIGN_OR_RETURN(auto list, ChunkList(digest));
    if (!list.has_value()) return nullptr;
    chunks = std::move(*list);
  }
  if (chunks.empty()) {
    if (digest != B3Digest::Of(std::string_view())) {
      return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": its chunk ",
                                              client_->address().Display(), "/",
                                              DigestKey(kChunksPrefix, digest), " is missing"));
    }
    return std::make_unique<EmptyReader>();
  }
  uint64_t size = 0;
  for (const ChunkMeta& c : chunks) size += c.size;
  std::shared_ptr<const castore::ChunkLayout> layout;
  if (size > options_.group_size && chunks.size() > 1) {
    const std::string key = DigestKey(kOutboardsPrefix, digest);
    ASSIGN_OR_RETURN(std::optional<s3::GetResult> outboard, client_->Get(key));
    if (!outboard.has_value()) {
      return absl::DataLossError(absl::StrCat("blob ", digest.ToB3(), ": its outboard ",
                                              client_->address().Display(), "/", key,
                                              " is missing"));
    }
    ASSIGN_OR_RETURN(std::optional<castore::ChunkLayout> verified,
                     castore::VerifyChunkLayout(digest, std::move(chunks), outboard->data));
    if (!verified.has_value()) {
      return absl::DataLossError(
          absl::StrCat("blob ", digest.ToB3(), ": chunk list and outboard describe no layout"));
    }
    layout = std::make_shared<const castore::ChunkLayout>(std::move(*verified));
  } else {
    // One group, as big as the blob: checked against the digest whole.
    if (size > castore::kMaxLayoutChunkSize) {
      return absl::DataLossError(
          absl::StrCat("blob ", digest.ToB3(), ": a single chunk of ", size, " bytes"));
    }
    const uint64_t group = std::bit_ceil(std::max<uint64_t>(size, castore::blake3_tree::kChunkLen));
    layout = std::make_shared<const castore::ChunkLayout>(
        castore::ContentDefinedLayout(digest, std::move(chunks), group, {}));
  }
  return ReaderOf(std::move(layout), std::move(first));
}

absl::StatusOr<std::unique_ptr<castore::BlobReader>> S3BlobService::OpenReadWithLayout(
    std::shared_ptr<const castore::ChunkLayout> layout) {
  if (layout->chunks.empty()) return nullptr;
  return ReaderOf(std::move(layout), nullptr);
}

std::unique_ptr<castore::BlobReader> S3BlobService::ReaderOf(
    std::shared_ptr<const castore::ChunkLayout> layout, std::shared_ptr<const std::string> first) {
  auto fetch = [self = shared_from_this(), layout,
                first](size_t index) -> absl::StatusOr<std::string> {
    const ChunkMeta& meta = layout->chunks[index];
    if (first != nullptr) return *first;
    std::string what = absl::StrCat("chunk ", index, " (", meta.digest.ToB3(), ") of blob ",
                                    layout->digest.ToB3());
    ASSIGN_OR_RETURN(std::optional<std::string> data, self->GetChunk(meta.digest, meta.size, what));
    if (!data.has_value()) {
      return absl::DataLossError(
          absl::StrCat(what, ": missing from ", self->client_->address().Display()));
    }
    return std::move(*data);
  };
  return std::make_unique<castore::ChunkedBlobReader>(std::move(layout), std::move(fetch));
}

absl::StatusOr<std::optional<std::vector<ChunkMeta>>> S3BlobService::Chunks(
    const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto list, ChunkList(digest));
  if (list.has_value()) return list;
  ASSIGN_OR_RETURN(auto chunk, client_->Head(DigestKey(kChunksPrefix, digest)));
  if (!chunk.has_value()) return std::nullopt;
  return std::vector<ChunkMeta>{};
}

absl::StatusOr<std::string> S3BlobService::ChunksOutboard(const B3Digest& digest) {
  ASSIGN_OR_RETURN(std::optional<s3::GetResult> outboard,
                   client_->Get(DigestKey(kOutboardsPrefix, digest)));
  if (!outboard.has_value()) return std::string();
  return std::move(outboard->data);
}

absl::Status S3BlobService::ForEach(
    const std::function<absl::Status(const B3Digest&, uint64_t size)>&) {
  return absl::UnimplementedError(absl::StrCat(
      "listing the blobs of ", client_->address().Display(), " is not supported (no gc on S3)"));
}

absl::Status S3BlobService::Delete(const B3Digest& digest) {
  return absl::UnimplementedError(absl::StrCat("deleting blob ", digest.ToB3(), " from ",
                                               client_->address().Display(),
                                               " is not supported (no gc on S3)"));
}

// Cuts what it receives into chunks as it goes and uploads each new chunk
// in the background (a few at a time); Close uploads the last chunk, the
// outboard and then the chunk list, which makes the blob visible.
class S3BlobService::Writer : public castore::BlobWriter {
 public:
  explicit Writer(std::shared_ptr<S3BlobService> service)
      : service_(std::move(service)),
        chunker_(service_->cdc_),
        hasher_(service_->options_.group_size) {}
  ~Writer() override {
    for (auto& upload : uploads_) upload.wait();
  }

  absl::Status Write(std::span<const uint8_t> data) override {
    if (closed_) return absl::FailedPreconditionError("write to a closed blob writer");
    RETURN_IF_ERROR(failed_);
    hasher_.Update(data);
    written_ += data.size();
    failed_ = chunker_.Write(data, [&](std::span<const uint8_t> chunk) { return Add(chunk); });
    return failed_;
  }

  absl::StatusOr<B3Digest> Close() override {
    if (closed_) return absl::FailedPreconditionError("blob writer closed twice");
    closed_ = true;
    RETURN_IF_ERROR(failed_);
    finishing_ = true;
    RETURN_IF_ERROR(chunker_.Finish([&](std::span<const uint8_t> chunk) { return Add(chunk); }));
    while (!uploads_.empty()) RETURN_IF_ERROR(Wait());
    castore::blake3_tree::GroupHasher::Result tree = hasher_.Finish();
    s3::S3Client& client = *service_->client_;
    if (chunks_.size() > 1 && !tree.cvs.empty()) {
      RETURN_IF_ERROR(client
                          .Put(DigestKey(kOutboardsPrefix, tree.digest),
                               castore::blake3_tree::EncodeOutboard(tree.size, tree.cvs),
                               kCreateOnly)
                          .status());
    }
    // A blob of one chunk is that chunk, under the blob's digest, and its
    // list is empty (as snix writes it).
    if (chunks_.size() == 1) chunks_.clear();
    RETURN_IF_ERROR(
        client.Put(DigestKey(kBlobsPrefix, tree.digest), EncodeChunkList(chunks_), kCreateOnly)
            .status());
    return tree.digest;
  }

  uint64_t bytes_written() const override { return written_; }

 private:
  absl::Status Add(std::span<const uint8_t> chunk) {
    const B3Digest digest = B3Digest::Of(chunk);
    chunks_.push_back({digest, chunk.size()});
    if (!sent_.insert(digest).second) return absl::OkStatus();
    while (uploads_.size() >= static_cast<size_t>(service_->options_.uploads_per_writer)) {
      RETURN_IF_ERROR(Wait());
    }
    // A blob of one chunk (most files): the caller found no such blob, so
    // the chunk (under the same digest) is most likely absent too; PUT it
    // without asking first. Chunks of bigger blobs are asked for first, so
    // that a new version of a big file sends only its new chunks.
    const bool ask_first = !(finishing_ && chunks_.size() == 1);
    uploads_.push_back(std::async(std::launch::async, [service = service_, digest, ask_first,
                                                       data = std::string(AsView(chunk))] {
      return service->PutChunk(digest, data, ask_first);
    }));
    return absl::OkStatus();
  }

  absl::Status Wait() {
    absl::Status status = uploads_.front().get();
    uploads_.pop_front();
    return status;
  }

  std::shared_ptr<S3BlobService> service_;
  chunking::FastCdcChunker chunker_;
  castore::blake3_tree::GroupHasher hasher_;
  std::vector<ChunkMeta> chunks_;
  absl::flat_hash_set<B3Digest> sent_;  // chunks uploaded (or found) by this writer
  std::deque<std::future<absl::Status>> uploads_;
  absl::Status failed_;
  uint64_t written_ = 0;
  bool closed_ = false;
  bool finishing_ = false;  // in Close: the chunk that comes now is the last
};

absl::Status S3BlobService::PutChunk(const B3Digest& digest, std::string_view data,
                                     bool ask_first) {
  const std::string key = DigestKey(kChunksPrefix, digest);
  // A chunk that is there already is not sent again (the dedup of versions
  // of a file).
  if (ask_first) {
    ASSIGN_OR_RETURN(auto there, client_->Head(key));
    if (there.has_value()) return absl::OkStatus();
  }
  return client_->Put(key, Compress(data, options_.zstd_level), kCreateOnly).status();
}

absl::StatusOr<std::unique_ptr<castore::BlobWriter>> S3BlobService::OpenWrite() {
  return std::make_unique<Writer>(shared_from_this());
}

}  // namespace castor::s3store
