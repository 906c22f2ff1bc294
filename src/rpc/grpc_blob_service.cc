#include "rpc/grpc_blob_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/posix_io.h"
#include "base/status.h"
#include "castore/blake3_tree.h"
#include "castore/blob/chunk_index.h"
#include "castore/blob/chunked_blob_reader.h"
#include "rpc/call_watchdog.h"
#include "rpc/channel.h"
#include "rpc/servers.h"
#include "rpc/status.h"

namespace castor::rpc {
namespace {

namespace pb = ::tvix::castore::v1;
using castore::B3Digest;

// Blobs up to this size are kept in memory after download, bigger ones in an
// unlinked temporary file.
constexpr size_t kInMemoryLimit = 4 << 20;

// A Stat that asks for chunks may make the daemon lay the blob out first (one
// pass over it, about 2 s per GiB here): it gets one more second per this
// many bytes of the blob's size, when the caller knows the size.
constexpr uint64_t kLayoutBytesPerSecond = 32 << 20;

absl::StatusOr<int> OpenTempFile() {
  const char* dir = std::getenv("TMPDIR");
  ASSIGN_OR_RETURN(TempFile tmp, CreateTempFile(dir && *dir ? dir : "/tmp",
                                                {.unnamed = true, .prefix = "castor-blob"}));
  return tmp.fd.Release();
}

constexpr std::string_view kWriteWhat = "writing a downloaded blob to a temporary file";

// A verified blob downloaded whole and kept in memory.
class DownloadedReader : public castore::BlobReader {
 public:
  explicit DownloadedReader(std::string data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_.size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    if (offset >= data_.size()) return 0;
    size_t n = std::min<uint64_t>(buf.size(), data_.size() - offset);
    std::memcpy(buf.data(), data_.data() + offset, n);
    return n;
  }
  // OpenRead hashed the whole download before this reader existed.
  bool Verified() const override { return true; }

 private:
  const std::string data_;
};

// The unlinked temporary file of a blob downloaded whole.
struct DownloadedFile {
  explicit DownloadedFile(int fd) : fd(fd) {}
  ~DownloadedFile() { ::close(fd); }
  DownloadedFile(const DownloadedFile&) = delete;
  DownloadedFile& operator=(const DownloadedFile&) = delete;
  const int fd;
};

// A blob downloaded whole into a temporary file: the bytes sit on a disk
// between download and read, so every group read back is checked against
// the CVs computed while downloading (ChunkedBlobReader), as the local
// store's reader checks its files.
class DownloadedFileReader : public castore::ChunkedBlobReader {
 public:
  DownloadedFileReader(std::shared_ptr<const castore::ChunkLayout> layout,
                       std::shared_ptr<const DownloadedFile> file)
      : ChunkedBlobReader(
            layout->size, [layout] { return layout; },
            [file, group = layout->chunk_size](size_t index, std::span<uint8_t> out) {
              return ReadExactly(file->fd, index * group, out);
            },
            Options{.cached_chunks = 2, .prefetch = false}),
        file_(std::move(file)) {}
  int LocalFd() const override { return file_->fd; }

 private:
  static absl::Status ReadExactly(int fd, uint64_t offset, std::span<uint8_t> out) {
    ASSIGN_OR_RETURN(size_t n, PreadFull(fd, out, offset, "reading a downloaded blob"));
    if (n != out.size()) {
      return absl::DataLossError("a downloaded blob's temporary file got shorter");
    }
    return absl::OkStatus();
  }

  const std::shared_ptr<const DownloadedFile> file_;
};

// BLAKE3 over a stream, one group CV per kDownloadGroup bytes, so a blob
// kept on disk can later be checked piece by piece.
constexpr uint64_t kDownloadGroup = 16 << 10;
class GroupCvHasher {
 public:
  void Update(std::string_view data) {
    while (!data.empty()) {
      // A full group is hashed once more bytes follow: the last group is
      // Finalize's (the only group of a small blob is the root, not a CV).
      if (pending_.size() == kDownloadGroup) Flush();
      size_t n = std::min<size_t>(data.size(), kDownloadGroup - pending_.size());
      pending_.append(data.substr(0, n));
      data.remove_prefix(n);
    }
  }
  // The digest of everything passed to Update; `cvs` gets the group CVs
  // when there is more than one group (left empty otherwise).
  B3Digest Finalize(std::vector<castore::blake3_tree::Cv>& cvs) {
    if (cvs_.empty()) return B3Digest::Of(pending_);
    Flush();
    cvs = std::move(cvs_);
    return castore::blake3_tree::RootFromGroupCvs(cvs);
  }

 private:
  void Flush() {
    cvs_.push_back(castore::blake3_tree::GroupCv(
        std::span(reinterpret_cast<const uint8_t*>(pending_.data()), pending_.size()),
        cvs_.size() * kDownloadGroup));
    pending_.clear();
  }
  std::string pending_;
  std::vector<castore::blake3_tree::Cv> cvs_;
};

class GrpcBlobWriter : public castore::BlobWriter {
 public:
  GrpcBlobWriter(std::shared_ptr<pb::BlobService::Stub> stub, std::string address,
                 CallTimeouts timeouts)
      : stub_(std::move(stub)),
        what_(absl::StrCat("BlobService.Put to ", address)),
        timeouts_(timeouts) {}
  ~GrpcBlobWriter() override {
    if (stream_ != nullptr && !finished_) {
      ctx_.TryCancel();
      stream_->Finish().IgnoreError();
    }
  }

  absl::Status Write(std::span<const uint8_t> data) override {
    if (closed_) return absl::FailedPreconditionError("blob writer already closed");
    RETURN_IF_ERROR(broken_);
    hasher_.Update(data);
    written_ += data.size();
    while (!data.empty()) {
      size_t n = std::min(data.size(), kReadChunkSize - pending_.size());
      pending_.append(reinterpret_cast<const char*>(data.data()), n);
      data = data.subspan(n);
      if (pending_.size() == kReadChunkSize) RETURN_IF_ERROR(Flush());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<B3Digest> Close() override {
    if (closed_) return absl::FailedPreconditionError("blob writer already closed");
    closed_ = true;
    RETURN_IF_ERROR(broken_);
    if (!pending_.empty() || stream_ == nullptr) RETURN_IF_ERROR(Flush());
    stream_->WritesDone();
    watch_->AwaitAnswer(timeouts_.unary);
    finished_ = true;
    grpc::Status s = stream_->Finish();
    RETURN_IF_ERROR(watch_->Result(s, what_));
    B3Digest mine = hasher_.Finalize();
    auto theirs = B3Digest::FromBytes(resp_.digest());
    if (!theirs.ok() || *theirs != mine) {
      return absl::DataLossError(absl::StrCat(what_, ": sent a blob of ", written_,
                                              " bytes hashing to ", mine.ToB3(),
                                              ", the daemon answered a different digest"));
    }
    return mine;
  }

  uint64_t bytes_written() const override { return written_; }

 private:
  absl::Status Flush() {
    if (stream_ == nullptr) {
      watch_ = std::make_unique<CallWatch>(ctx_, CallWatch::Kind::kStream, timeouts_.idle);
      stream_ = stub_->Put(&ctx_, &resp_);
    }
    pb::BlobChunk chunk;
    chunk.set_data(std::move(pending_));
    pending_.clear();
    if (!stream_->Write(chunk)) {
      // The daemon ended the call; Finish tells why.
      finished_ = true;
      grpc::Status s = stream_->Finish();
      broken_ =
          s.ok()
              ? absl::UnavailableError(absl::StrCat(what_, ": the daemon closed the stream early"))
              : watch_->Result(s, what_);
      return broken_;
    }
    watch_->Progress();
    return absl::OkStatus();
  }

  std::shared_ptr<pb::BlobService::Stub> stub_;
  const std::string what_;
  const CallTimeouts timeouts_;
  grpc::ClientContext ctx_;
  std::unique_ptr<CallWatch> watch_;  // from the first message on; goes before ctx_
  pb::PutBlobResponse resp_;
  std::unique_ptr<grpc::ClientWriter<pb::BlobChunk>> stream_;
  std::string pending_;
  castore::Blake3Hasher hasher_;
  uint64_t written_ = 0;
  absl::Status broken_;
  bool closed_ = false;
  bool finished_ = false;
};

// Stat: nullopt when the daemon does not have the blob. `size`, when known,
// extends the deadline of a Stat that asks for chunks. `stored_size`, when
// given, gets the size a castor daemon says it stores (nullopt from others).
absl::StatusOr<std::optional<pb::StatBlobResponse>> Stat(
    pb::BlobService::Stub* stub, const std::string& address, const CallTimeouts& timeouts,
    const B3Digest& digest, bool chunks, bool bao, std::optional<uint64_t> size,
    std::optional<uint64_t>* stored_size = nullptr) {
  std::chrono::milliseconds limit = timeouts.unary;
  if (chunks && size.has_value()) limit += std::chrono::seconds(*size / kLayoutBytesPerSecond);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kUnary, limit);
  pb::StatBlobRequest req;
  req.set_digest(std::string(digest.raw()));
  req.set_send_chunks(chunks);
  req.set_send_bao(bao);
  pb::StatBlobResponse resp;
  grpc::Status s = stub->Stat(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  RETURN_IF_ERROR(
      watch.Result(s, absl::StrCat("BlobService.Stat ", digest.ToB3(), " at ", address)));
  if (stored_size != nullptr) {
    *stored_size = std::nullopt;
    auto it = ctx.GetServerTrailingMetadata().find(kStoredSizeMetadata);
    uint64_t n;
    if (it != ctx.GetServerTrailingMetadata().end() &&
        absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &n)) {
      *stored_size = n;
    }
  }
  return resp;
}

absl::StatusOr<std::vector<castore::ChunkMeta>> ParseChunks(const pb::StatBlobResponse& resp,
                                                            const B3Digest& digest,
                                                            const std::string& address) {
  std::vector<castore::ChunkMeta> out;
  out.reserve(resp.chunks_size());
  for (const auto& c : resp.chunks()) {
    auto d = B3Digest::FromBytes(c.digest());
    if (!d.ok()) {
      return absl::DataLossError(absl::StrCat("BlobService.Stat ", digest.ToB3(), " at ", address,
                                              ": a chunk digest has ", c.digest().size(),
                                              " bytes"));
    }
    out.push_back({*d, c.size()});
  }
  return out;
}

// Reads one chunk of a laid-out blob (unverified: the ChunkedBlobReader
// checks it). The daemon forgets its layouts when it restarts: a chunk it
// does not know makes it lay the blob out again (a Stat) before one retry.
absl::StatusOr<std::string> FetchChunk(pb::BlobService::Stub& stub, const std::string& address,
                                       const CallTimeouts& timeouts,
                                       const castore::ChunkLayout& layout, size_t index) {
  const castore::ChunkMeta& meta = layout.chunks[index];
  std::string what = absl::StrCat("BlobService.Read of chunk ", index, " (", meta.digest.ToB3(),
                                  ") of blob ", layout.digest.ToB3(), " at ", address);
  auto read = [&]() -> absl::StatusOr<std::string> {
    grpc::ClientContext ctx;
    CallWatch watch(ctx, CallWatch::Kind::kStream, timeouts.idle);
    pb::ReadBlobRequest req;
    req.set_digest(std::string(meta.digest.raw()));
    auto stream = stub.Read(&ctx, req);
    std::string data;
    data.reserve(meta.size);
    pb::BlobChunk msg;
    bool too_long = false;
    while (stream->Read(&msg)) {
      watch.Progress();
      if (data.size() + msg.data().size() > meta.size) {
        too_long = true;
        ctx.TryCancel();
        break;
      }
      data.append(msg.data());
    }
    grpc::Status s = stream->Finish();
    if (too_long) {
      return absl::DataLossError(absl::StrCat(what, ": more than ", meta.size, " bytes"));
    }
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) return FromGrpcStatus(s, what);
    RETURN_IF_ERROR(watch.Result(s, what));
    return data;
  };
  auto got = read();
  if (got.status().code() != absl::StatusCode::kNotFound) return got;
  ASSIGN_OR_RETURN(auto stat,
                   Stat(&stub, address, timeouts, layout.digest, true, false, layout.size));
  if (!stat.has_value()) {
    return absl::UnavailableError(absl::StrCat(what, ": the daemon no longer has the blob"));
  }
  got = read();
  if (got.status().code() == absl::StatusCode::kNotFound) {
    return absl::UnavailableError(
        absl::StrCat(what, ": the daemon does not serve this chunk (any more)"));
  }
  return got;
}

}  // namespace

GrpcBlobService::GrpcBlobService(std::shared_ptr<grpc::Channel> channel, std::string address,
                                 CallTimeouts timeouts)
    : address_(std::move(address)),
      timeouts_(timeouts),
      stub_(pb::BlobService::NewStub(std::move(channel))) {}

GrpcBlobService::~GrpcBlobService() = default;

absl::StatusOr<bool> GrpcBlobService::Has(const B3Digest& digest) {
  // Without send_chunks: the daemon need not lay a big blob out for this.
  ASSIGN_OR_RETURN(auto resp,
                   Stat(stub_.get(), address_, timeouts_, digest, false, false, std::nullopt));
  return resp.has_value();
}

absl::StatusOr<std::optional<uint64_t>> GrpcBlobService::StoredSize(const B3Digest& digest) {
  std::optional<uint64_t> stored;
  ASSIGN_OR_RETURN(auto resp, Stat(stub_.get(), address_, timeouts_, digest, false, false,
                                   std::nullopt, &stored));
  if (!resp.has_value()) return std::nullopt;
  if (stored.has_value()) return stored;
  // A daemon that does not say (tvix, snix): the size of what it sends.
  return BlobService::StoredSize(digest);
}

absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> GrpcBlobService::Chunks(
    const B3Digest& digest) {
  ASSIGN_OR_RETURN(auto resp,
                   Stat(stub_.get(), address_, timeouts_, digest, true, false, std::nullopt));
  if (!resp.has_value()) return std::nullopt;
  return ParseChunks(*resp, digest, address_);
}

absl::StatusOr<std::unique_ptr<castore::BlobReader>> GrpcBlobService::OpenRead(
    const B3Digest& digest) {
  return Open(digest, std::nullopt);
}

absl::StatusOr<std::unique_ptr<castore::BlobReader>> GrpcBlobService::OpenReadSized(
    const B3Digest& digest, uint64_t expected_size) {
  if (expected_size <= castore::ChunkIndex::Options{}.min_blob_size) {
    return DownloadWhole(digest, expected_size);
  }
  return Open(digest, expected_size);
}

absl::StatusOr<std::unique_ptr<castore::BlobReader>> GrpcBlobService::Open(
    const B3Digest& digest, std::optional<uint64_t> expected_size) {
  ASSIGN_OR_RETURN(auto stat,
                   Stat(stub_.get(), address_, timeouts_, digest, true, true, expected_size));
  if (!stat.has_value()) return nullptr;
  std::optional<uint64_t> announced = expected_size;
  if (stat->chunks_size() > 0) {
    ASSIGN_OR_RETURN(std::vector<castore::ChunkMeta> chunks, ParseChunks(*stat, digest, address_));
    uint64_t total = 0;  // saturating: the sizes are the daemon's word
    for (const castore::ChunkMeta& c : chunks) {
      total = c.size > UINT64_MAX - total ? UINT64_MAX : total + c.size;
    }
    announced = std::min(announced.value_or(UINT64_MAX), total);
    ASSIGN_OR_RETURN(std::optional<castore::ChunkLayout> layout,
                     castore::VerifyChunkLayout(digest, std::move(chunks), stat->bao()));
    if (layout.has_value()) {
      return OpenReadWithLayout(std::make_shared<const castore::ChunkLayout>(std::move(*layout)));
    }
    // Chunks without an outboard (e.g. tvix's content-defined ones): each
    // chunk could be checked, but not that they make up this blob; the whole
    // blob is downloaded and hashed instead.
  }
  return DownloadWhole(digest, announced);
}

absl::StatusOr<std::unique_ptr<castore::BlobReader>> GrpcBlobService::OpenReadWithLayout(
    std::shared_ptr<const castore::ChunkLayout> layout) {
  if (layout->chunks.empty()) return nullptr;
  // The fetcher owns what it needs: it may run on a prefetch thread after
  // this service is gone.
  auto fetch = [stub = stub_, address = address_, timeouts = timeouts_, layout](size_t index) {
    return FetchChunk(*stub, address, timeouts, *layout, index);
  };
  return std::make_unique<castore::ChunkedBlobReader>(std::move(layout), std::move(fetch));
}

absl::StatusOr<std::unique_ptr<castore::BlobReader>> GrpcBlobService::DownloadWhole(
    const B3Digest& digest, std::optional<uint64_t> announced) {
  std::string what = absl::StrCat("BlobService.Read ", digest.ToB3(), " at ", address_);
  grpc::ClientContext ctx;
  CallWatch watch(ctx, CallWatch::Kind::kStream, timeouts_.idle);
  pb::ReadBlobRequest req;
  req.set_digest(std::string(digest.raw()));
  auto stream = stub_->Read(&ctx, req);
  GroupCvHasher hasher;
  std::string mem;
  int fd = -1;
  uint64_t size = 0;
  absl::Status local;
  pb::BlobChunk chunk;
  while (stream->Read(&chunk)) {
    watch.Progress();
    const std::string& data = chunk.data();
    // A daemon that sends more than it announced could fill the temporary
    // directory: stop at the announced size.
    if (announced.has_value() && data.size() > *announced - size) {
      local = absl::DataLossError(
          absl::StrCat("the daemon sent more than the ", *announced, " bytes announced"));
      break;
    }
    hasher.Update(data);
    size += data.size();
    if (fd < 0 && mem.size() + data.size() > kInMemoryLimit) {
      auto tmp = OpenTempFile();
      if (!tmp.ok()) {
        local = tmp.status();
        break;
      }
      fd = *tmp;
      local = WriteAll(fd, mem, kWriteWhat);
      std::string().swap(mem);
      if (!local.ok()) break;
    }
    if (fd >= 0) {
      local = WriteAll(fd, data, kWriteWhat);
      if (!local.ok()) break;
    } else {
      mem.append(data);
    }
  }
  if (!local.ok()) ctx.TryCancel();
  grpc::Status s = stream->Finish();
  auto fail = [&](absl::Status st) -> absl::StatusOr<std::unique_ptr<castore::BlobReader>> {
    if (fd >= 0) ::close(fd);
    return st;
  };
  if (!local.ok()) return fail(Annotate(local, what));
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    if (fd >= 0) ::close(fd);
    return std::unique_ptr<castore::BlobReader>();
  }
  if (!s.ok()) return fail(watch.Result(s, what));
  std::vector<castore::blake3_tree::Cv> cvs;
  B3Digest actual = hasher.Finalize(cvs);
  if (actual != digest) {
    return fail(absl::DataLossError(
        absl::StrCat(what, ": received ", size, " bytes hashing to ", actual.ToB3())));
  }
  if (fd < 0) return std::make_unique<DownloadedReader>(std::move(mem));
  auto file = std::make_shared<const DownloadedFile>(fd);
  auto layout = std::make_shared<castore::ChunkLayout>();
  layout->digest = digest;
  layout->size = size;
  layout->chunk_size = kDownloadGroup;
  layout->cvs = std::move(cvs);  // more than one: the file holds more than kInMemoryLimit
  return std::make_unique<DownloadedFileReader>(std::move(layout), std::move(file));
}

absl::StatusOr<std::unique_ptr<castore::BlobWriter>> GrpcBlobService::OpenWrite() {
  return std::make_unique<GrpcBlobWriter>(stub_, address_, timeouts_);
}

absl::Status GrpcBlobService::ForEach(
    const std::function<absl::Status(const B3Digest&, uint64_t)>&) {
  return absl::UnimplementedError(
      absl::StrCat("listing blobs is not offered over gRPC (", address_, ")"));
}

absl::Status GrpcBlobService::Delete(const B3Digest&) {
  return absl::UnimplementedError(
      absl::StrCat("deleting blobs is not offered over gRPC (", address_, ")"));
}

}  // namespace castor::rpc
